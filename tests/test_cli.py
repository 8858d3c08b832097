"""The ftervit command line: help for every command, one-line errors."""
import pytest

from ftervit import cbackend
from ftervit.cli import build_parser, main

COMMANDS = ["check", "demo", "deploy", "distill", "eval", "inspect", "pack", "recover", "run", "train"]


def test_every_command_is_registered_with_help(capsys):
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: ftervit " + name in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 1
    assert "COMMAND" in capsys.readouterr().out


def test_missing_c_compiler_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    import timm

    import ftervit.models  # noqa: F401
    from ftervit.pack import pack_model
    pack_model(timm.create_model("ftervit_micro_patch4_28", depth=1).eval(), tmp_path / "m.ftv")

    def unavailable(*args, **kwargs):
        raise cbackend.CBackendUnavailable("no C compiler found (install gcc)")
    monkeypatch.setattr(cbackend, "load", unavailable)
    assert main(["run", str(tmp_path / "m.ftv"), "--selftest", "--backend", "c"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no C compiler" in err
