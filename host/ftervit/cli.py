"""`ftervit` command line.  Each subcommand lives in its own module under
`ftervit.commands` and defines `register(subparsers)`, which adds a parser
whose `func(args)` runs the command and returns an exit status."""
import argparse
import importlib
import os
import pkgutil
import sys

from . import __version__, commands


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftervit",
        description="Fully Ternary Vision Transformers: train, pack, verify, deploy.")
    parser.add_argument("--version", action="version", version=f"ftervit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    from .cbackend.build import CBackendUnavailable
    try:
        return int(args.func(args) or 0)
    except (CommandError, FileNotFoundError, ValueError, CBackendUnavailable) as exc:
        print(f"ftervit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a file the checks above did not foresee: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"ftervit {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ftervit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
