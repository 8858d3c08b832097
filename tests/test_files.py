"""ftervit.files: the one helper that writes the user's files atomically, with the
permissions `open()` would give them, and errors that name the path the user typed."""
import os
import stat

import pytest
import timm

import ftervit.models  # noqa: F401
from ftervit.checkpoint import atomic_torch_save
from ftervit.files import OutputPathError, current_umask, write_atomic, write_bytes_atomic
from ftervit.pack import pack_model


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o002, 0o077])
def umask(request):
    """The process umask set for one test, and put back (it is process-global)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_current_umask_reads_the_process_umask(umask):
    assert current_umask() == umask


def test_model_files_and_checkpoints_get_0666_less_the_umask(tmp_path, umask):
    micro = timm.create_model("ftervit_micro_patch4_28", depth=1).eval()
    written = [write_bytes_atomic(tmp_path / "a.bin", b"x"),
               atomic_torch_save({"x": 1}, tmp_path / "c.pt"),
               pack_model(micro, tmp_path / "m.ftv") and tmp_path / "m.ftv"]
    for path in written:
        assert _mode(path) == 0o666 & ~umask, path
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "c.pt", "m.ftv"]  # no temporary left


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "m.ftv"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o640


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "m.ftv"
    path.write_bytes(b"previous")

    def fails(f):
        f.write(b"half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        write_atomic(path, fails)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["m.ftv"]


@pytest.mark.parametrize("target, message", [
    (lambda d: d, "is a folder, expected the path of a file to write"),
    (lambda d: d / "missing" / "folder" / "x.ftv", "missing/folder does not exist"),
    (lambda d: d / "plain.txt" / "x.ftv", "plain.txt is not a folder"),
])
def test_bad_destinations_name_the_path_not_a_temporary(tmp_path, target, message):
    (tmp_path / "plain.txt").write_text("a file, not a folder")
    path = target(tmp_path)
    with pytest.raises(OutputPathError, match=message) as info:
        write_bytes_atomic(path, b"x")
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)


def test_a_missing_folder_is_created_where_asked(tmp_path):
    path = write_atomic(tmp_path / "run" / "ckpt.pt", lambda f: f.write(b"x"), make_folder=True)
    assert path.read_bytes() == b"x"
