"""Files the user names: checked before any work, written atomically.

Every input path goes through `check_input_file`, every output through
`write_atomic`, so each command gives the same one-line error for a missing
file, a folder where a file belongs, or a folder it may not write to, and
naming the path the user typed, never a temporary file.

`write_atomic` writes a temporary file beside the destination, fsyncs it and
renames it over the destination, so a killed run leaves the previous file
intact.  The new file gets the permissions `open()` would give it (0666 less
the umask, or those of the file it replaces): `mkstemp`'s private 0600 would
hide model files and checkpoints from the user's other accounts and tools.
"""
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, IO

# First bytes of the files ftervit is handed (see `sniff`).
FTV_MAGIC = b"FTVM"              # docs/format.md §3
ZIP_MAGIC = b"PK\x03\x04"        # torch.save (zip archive format, PyTorch >= 1.6)
PICKLE_MAGIC = b"\x80"           # legacy torch.save: a pickle stream, protocol >= 2


class OutputPathError(ValueError):
    """A file cannot be written where the user asked: the message names the path."""


class InputFileError(ValueError):
    """An input path is not a readable file of the kind expected: the message names it."""


def check_input_file(path, what: str) -> Path:
    """`path` as a Path, if it names an existing, readable, non-empty regular file.
    `what` says what was expected ("a .ftv model file", "a checkpoint (.pt)", ...)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found, expected {what}")
    if path.is_dir():
        raise InputFileError(f"{path}: is a folder, expected {what}")
    if not path.is_file():
        raise InputFileError(f"{path}: is not a regular file, expected {what}")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{path}: permission denied (cannot read {what})")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path}: empty file, expected {what}")
    return path


def sniff(path) -> str:
    """What a file looks like from its first bytes: 'ftv', 'torch' (zip or pickle) or
    'unknown'.  Lets a command that got the wrong kind of file say which kind it got."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == FTV_MAGIC:
        return "ftv"
    if head == ZIP_MAGIC or head[:1] == PICKLE_MAGIC:
        return "torch"
    return "unknown"


CHECKPOINT = "an ftervit checkpoint (.pt, written by ftervit train/distill/recover)"
FTV_MODEL = "a .ftv model file (written by ftervit pack)"


def expect_checkpoint(path) -> Path:
    """`path` if it may be a checkpoint; else an error naming it: missing, a folder,
    empty, a `.ftv` model file (recognised by its magic), or no torch file at all.
    Needs no torch, so a command refuses a wrong path before it imports torch."""
    path = check_input_file(path, CHECKPOINT)
    kind = sniff(path)
    if kind == "ftv":
        raise InputFileError(f"{path}: is a .ftv model file (a packed integer model), "
                             f"expected {CHECKPOINT}; a .ftv is made from a checkpoint by "
                             "`ftervit pack CHECKPOINT -o MODEL.ftv`, not the other way")
    if kind != "torch":
        raise InputFileError(f"{path}: not a PyTorch file (no zip or pickle header), "
                             f"expected {CHECKPOINT}")
    _check_zip_complete(path)
    return path


def _check_zip_complete(path: Path) -> None:
    """A zip-format checkpoint whose central directory (at its end) is missing was cut
    short: say so from the stdlib, before torch is imported to read it."""
    with open(path, "rb") as f:
        if f.read(4) != ZIP_MAGIC:
            return  # a legacy pickle: only torch can tell
    try:
        with zipfile.ZipFile(path):
            pass
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(f"{path}: truncated or corrupt checkpoint ({exc}), expected "
                             f"{CHECKPOINT}") from None


def expect_ftv(path) -> Path:
    """`path` if it starts as a `.ftv` model file does (the reader checks the rest); a
    checkpoint given instead is named as such, with the command that packs it."""
    path = check_input_file(path, FTV_MODEL)
    kind = sniff(path)
    if kind == "torch":
        raise InputFileError(f"{path}: is a PyTorch checkpoint, expected {FTV_MODEL}; "
                             f"pack it first: ftervit pack {path} -o MODEL.ftv")
    if kind != "ftv":
        raise InputFileError(f"{path}: does not start with the magic {FTV_MAGIC.decode()}, "
                             f"expected {FTV_MODEL}")
    return path


def check_output_path(path, make_folder: bool = False) -> Path:
    """`path` as a Path, if a file can be written there: not a folder, in an existing
    folder (created first with `make_folder`) this process may write to.  Call it before
    the work that produces the file, so a bad destination costs nothing."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a folder, expected the path of a file to write")
    folder = path.parent
    if make_folder and not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(f"{path}: cannot create folder {_shown(folder)} "
                                  f"({exc.strerror})") from None
    if not folder.exists():
        raise OutputPathError(f"{path}: folder {_shown(folder)} does not exist "
                              "(create it first)")
    if not folder.is_dir():
        raise OutputPathError(f"{path}: {_shown(folder)} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: folder {_shown(folder)} is not writable "
                              "(permission denied)")
    if path.exists() and not os.access(path, os.W_OK):
        # rename() would replace it anyway; a read-only file says the user wants it kept
        raise OutputPathError(f"{path}: file is read-only")
    return path


def write_atomic(path, write: Callable[[IO[bytes]], None], make_folder: bool = False) -> Path:
    """Call `write(binary_file)` on a temporary file beside `path`, then rename it over
    `path`.  Errors name `path` or its folder (OutputPathError), never the temporary."""
    path = check_output_path(path, make_folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot write in folder {_shown(path.parent)} "
                              f"({exc.strerror})") from None
    try:
        os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def write_bytes_atomic(path, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path, text: str) -> Path:
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def _mode_for(path: Path) -> int:
    """The permission bits `open(path, 'w')` would leave: the replaced file's, or 0666
    less the umask for a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask.  Read from /proc where it is there: setting and restoring it
    (the only portable way) races with other threads creating files."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: some file systems refuse fsync on folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _shown(folder: Path) -> str:
    return str(folder) if str(folder) not in ("", ".") else "."
