"""A non-editable `pip install .` into a fresh venv carries everything the commands need:
the C sources (the C backend builds from the installed copy), the device code and the
shipped model, and it works from a folder far from the checkout."""
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what a clean clone has that the build reads (a copy, so the build writes nothing here)
SOURCE_ITEMS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "host",
                "native_module", "device", "models")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "_data")


def run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, environment without PYTHONPATH, a work folder) after `pip install .`."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    source.mkdir()
    for item in SOURCE_ITEMS:
        if (ROOT / item).is_dir():
            shutil.copytree(ROOT / item, source / item, ignore=IGNORED)
        else:
            shutil.copy2(ROOT / item, source / item)
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    # the dependencies (numpy, cffi, torch...) come from this interpreter's site-packages;
    # a path line in a .pth adds the folder without running its .pth files, so the
    # checkout's editable install does not come along
    Path(purelib.strip(), "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["FTERVIT_CACHE"] = str(base / "cache")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-build-isolation", "--no-index", "-q", str(source)], env=env, cwd=base)
    work = base / "work"
    work.mkdir()
    return python, env, work


def test_installed_package_is_the_copy_in_the_venv(installed):
    python, env, work = installed
    out = run([str(python), "-c", "import ftervit, ftervit.resources as r; print(ftervit.__file__);"
               "[print(r.resource_dir(n)) for n in r.RESOURCES]"], env=env, cwd=work)
    paths = [Path(line) for line in out.split()]
    venv_root = python.parent.parent
    assert all(venv_root in p.parents for p in paths), out
    native, device, models = paths[1:]
    assert (native / "ftv.h").is_file() and list(native.glob("*.c"))
    assert (device / "README.md").is_file()
    assert (models / "fmnist_ftervit_micro.ftv").is_file()
    assert (models / "fmnist_ftervit_micro.pt").is_file()
    assert len(list((models / "fmnist_samples").glob("*.png"))) == 10


def test_installed_commands_run_the_c_backend_and_plan_a_deploy(installed):
    python, env, work = installed
    ftervit = python.parent / "ftervit"
    models = Path(run([str(python), "-c", "from ftervit.resources import resource_dir; "
                       "print(resource_dir('models'))"], env=env, cwd=work).strip())
    image = models / "fmnist_samples" / "test00000_ankle-boot.png"
    out = run([str(ftervit), "run", str(models / "fmnist_ftervit_micro.ftv"), str(image),
               "--backend", "c", "--selftest"], env=env, cwd=work)
    assert "golden vector (c): PASS" in out
    assert "1. ankle boot" in out.lower().replace("-", " ")
    plan = run([str(ftervit), "deploy", "--port", "/dev/ttyACM0", str(models /
                "fmnist_ftervit_micro.ftv"), "--dry-run"], env=env, cwd=work)
    device = models.parent / "device"
    assert "serve.py" in plan and str(device / "serve.py") in plan
    # built from the installed sources, into the cold cache
    assert list((Path(env["FTERVIT_CACHE"]) / "cbackend").glob("_ftv_c_*"))


def test_installed_demo_defaults_point_into_the_package(installed):
    python, env, work = installed
    out = run([str(python), "-c", "from ftervit.commands import demo; "
               "print(demo.DEFAULT_CHECKPOINT); print(demo.DEFAULT_IMAGES)"], env=env, cwd=work)
    checkpoint, images = map(Path, out.split())
    assert python.parent.parent in checkpoint.parents and checkpoint.is_file()
    assert python.parent.parent in images.parents and images.is_dir()
