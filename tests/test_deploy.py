"""`ftervit deploy`: the plan and its esptool calls (no board), the board checks, and the
copy to device/serve.py on MicroPython's unix port behind a pty: a second run copies nothing."""
from pathlib import Path

import pytest
from esptool.targets import ESP32C3ROM, ESP32ROM, ESP32S3ROM

from ftervit.board import deploy
from ftervit.board.pty_board import PtyBoard
from ftervit.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "fmnist_ftervit_micro.ftv"


def test_dry_run_prints_files_and_exact_esptool_calls(tmp_path, capsys):
    firmware = tmp_path / "ESP32_GENERIC_S3-SPIRAM_OCT.bin"
    firmware.write_bytes(b"\xe9" + bytes(4095))
    port = str(tmp_path / "no-such-port")   # a dry run never opens it
    assert main(["deploy", "--port", port, str(MODEL), "--dry-run", "--firmware",
                 str(firmware), "--erase"]) == 0
    out = capsys.readouterr().out
    base = f"esptool --chip esp32s3 --port {port} --baud 460800"
    assert f"     {base} erase-flash\n     {base} write-flash 0x0 {firmware}\n" in out
    assert "model.ftv" in out and "590,312 B" in out and "serve.py" in out
    assert "self-test" in out


def test_dry_run_without_firmware_flashes_nothing(capsys):
    assert main(["deploy", "--port", "/dev/ttyACM0", str(MODEL), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "esptool --chip" not in out and "firmware: left as it is" in out


@pytest.mark.parametrize("argv, what", [
    (["--erase"], "--erase needs --firmware"),
    (["--firmware", "missing.bin"], "missing.bin: not found, expected a MicroPython firmware"),
])
def test_bad_options_are_one_line_errors(argv, what, capsys):
    assert main(["deploy", "--port", "/dev/null", str(MODEL), "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and what in err


def test_missing_model_is_one_line_error(tmp_path, capsys):
    assert main(["deploy", "--port", "/dev/null", str(tmp_path / "m.ftv"), "--dry-run"]) == 2
    assert "m.ftv: not found, expected a .ftv model file" in capsys.readouterr().err


def test_firmware_offset_comes_from_esptools_chip_definitions():
    assert deploy.firmware_offset(ESP32S3ROM) == 0x0
    assert deploy.firmware_offset(ESP32ROM) == 0x1000


def test_chip_check_takes_an_s3_and_refuses_others():
    deploy.check_chip(ESP32S3ROM.__new__(ESP32S3ROM))   # esptool's object, no port
    with pytest.raises(ValueError, match="the board is an ESP32-C3"):
        deploy.check_chip(ESP32C3ROM.__new__(ESP32C3ROM))


def test_psram_is_read_from_esptools_features():
    assert deploy.psram_of(["Wi-Fi", "Embedded PSRAM 8MB (AP_3v3)"]) == "Embedded PSRAM 8MB"
    assert deploy.psram_of(["Wi-Fi", "BT 5 (LE)"]) is None


def test_mpy_arch_of_the_runtime_and_of_files(tmp_path):
    assert deploy.mpy_arch(2822) == "x64"   # the unix port's sys.implementation._mpy
    (tmp_path / "_ftervit_s3.mpy").write_bytes(b"M\x06\x2b\x1f" + bytes(8))
    (tmp_path / "_ftervit_x64.mpy").write_bytes(b"M\x06\x0b\x1f" + bytes(8))
    found = deploy.native_module_files(tmp_path)
    assert {a: f.source.name for a, f in found.items()} == {
        "xtensawin": "_ftervit_s3.mpy", "x64": "_ftervit_x64.mpy"}
    assert found["x64"].dest == "lib/_ftervit.mpy"


def test_board_checks_name_what_is_missing():
    plan = deploy.plan_deploy("/dev/null", MODEL)
    plan.native = {}
    problems = deploy.check_board({"mpy": 2822, "mem_free": 1000, "native_module": False},
                                  590_312, plan)
    assert any("lacks _ftervit and no _ftervit.mpy for x64" in p for p in problems)
    assert any("needs 590,312 bytes of heap, the board has 1,000 free" in p for p in problems)
    assert not deploy.check_board({"mpy": 2822, "mem_free": 10**7, "native_module": True},
                                  590_312, plan)


def test_deploy_copies_then_copies_nothing(tmp_path, capsys):
    board_fs = tmp_path / "board"
    board_fs.mkdir()
    with PtyBoard(cwd=board_fs) as board:
        n = len(deploy.plan_deploy(board.port, MODEL).files)  # model, device package, scripts
        assert n >= 3
        argv = ["deploy", "--port", board.port, str(MODEL), "--files-only"]
        assert main(argv) == 0
        first = capsys.readouterr().out
        assert f"{n} of {n} files copied" in first and "SHA-256 verified" in first
        assert (board_fs / "model.ftv").read_bytes() == MODEL.read_bytes()
        assert (board_fs / "serve.py").read_bytes() == (ROOT / "device" / "serve.py").read_bytes()
        assert main(argv) == 0
        second = capsys.readouterr().out
        assert f"0 of {n} files copied" in second
        assert second.count("unchanged (SHA-256 matches)") == n
        # the full deploy checks for the native module first: the unix port has none yet
        assert main(["deploy", "--port", board.port, str(MODEL)]) == 2
        assert "lacks _ftervit" in capsys.readouterr().err


def test_each_copy_feeds_its_progress_bar_to_the_last_byte_and_closes_it(tmp_path):
    from ftervit.board.link import BoardLink
    from ftervit.commands.deploy import TransferBar
    board_fs = tmp_path / "board"
    board_fs.mkdir()
    seen = {}

    class Recording(TransferBar):
        def __init__(self, planned):
            super().__init__(planned)
            self.dest, self.offsets, self.closed = planned.dest, [], False
            seen[planned.dest] = self

        def __call__(self, offset, total):
            super().__call__(offset, total)
            self.offsets.append((offset, total))

        def close(self):
            super().close()
            self.closed = True

    with PtyBoard(cwd=board_fs) as board:
        files = deploy.plan_deploy(board.port, MODEL).files
        link = BoardLink.open(board.port, timeout=30.0)
        try:
            deploy.copy_files(link, files, report=lambda line: None, progress_factory=Recording)
            for f in files:
                bar = seen[f.dest]
                assert bar.closed and bar.offsets[-1] == (f.size, f.size), f.dest
                assert [o for o, _ in bar.offsets] == sorted(o for o, _ in bar.offsets)
            seen.clear()
            deploy.copy_files(link, files, report=lambda line: None, progress_factory=Recording)
            assert all(bar.closed and not bar.offsets for bar in seen.values())  # unchanged
        finally:
            link.close()


def test_full_deploy_copies_the_native_module_self_tests_and_then_copies_nothing(
        tmp_path, capsys, monkeypatch):
    # A board with stock firmware (no _ftervit built in), as a folder the unix port sees as
    # its filesystem: its lib/ is the port's MICROPYPATH, as /lib is a board's.  serve.py
    # starts from a folder of its own, so nothing but the deployed lib/ is importable.
    import numpy as np

    from ftervit.board.link import BoardLink
    from ftervit.ftv import read_ftv
    from ftervit.micropython.build import build_natmod
    from ftervit.reference import forward, integer_model
    from ftervit.reference.frame import frame_to_image
    board_fs, boot, built = tmp_path / "board", tmp_path / "boot", tmp_path / "natmod"
    for folder in (board_fs, boot, built):
        folder.mkdir()
    (boot / "serve.py").write_bytes((ROOT / "device" / "serve.py").read_bytes())
    mpy = build_natmod("x64", built).mpy
    found = deploy.native_module_files   # the repository ships no x64 build: add this one
    monkeypatch.setattr(deploy, "native_module_files", lambda *dirs: found(*dirs, built))
    monkeypatch.setenv("MICROPYPATH", str(board_fs / "lib"))
    n = len(deploy.plan_deploy("/dev/null", MODEL).files) + 1   # and lib/_ftervit.mpy
    with PtyBoard(boot / "serve.py", cwd=board_fs) as board:
        assert main(["deploy", "--port", board.port, str(MODEL), "--timeout", "30"]) == 0
        first = capsys.readouterr().out
        assert "native module not built in" in first
        assert f"{n} of {n} files copied" in first and "SHA-256 verified" in first
        assert "self-test on the board: PASS" in first
        assert (board_fs / "lib" / "_ftervit.mpy").read_bytes() == mpy.read_bytes()
        for source in (ROOT / "device" / "ftervit").rglob("*.py"):
            rel = source.relative_to(ROOT / "device")
            assert (board_fs / "lib" / rel).read_bytes() == source.read_bytes(), rel
        assert main(["deploy", "--port", board.port, str(MODEL), "--timeout", "30"]) == 0
        second = capsys.readouterr().out
        # the .mpy now imports, and is still checked as a file, not taken as built in
        assert f"native module {board_fs / 'lib' / '_ftervit.mpy'} (an .mpy)" in second
        assert f"0 of {n} files copied" in second
        assert second.count("unchanged (SHA-256 matches)") == n
        assert "self-test on the board: PASS" in second
    # the deployed tree on its own: its serve.py, its lib/, its model.ftv
    frame = bytes(range(256)) * (96 * 96 // 256)
    with PtyBoard(board_fs / "serve.py", cwd=board_fs) as board:
        link = BoardLink.open(board.port, timeout=30.0)
        try:
            got = link.request("classify", data=frame, width=96, height=96, fmt="GRAYSCALE")
        finally:
            link.close()
    want = forward(integer_model(read_ftv(MODEL)),
                   frame_to_image(frame, 96, 96, "GRAYSCALE", 28, 1))
    assert got["logits"] == [int(v) for v in np.asarray(want)]
