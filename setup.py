"""Build hook: the wheel carries the C sources, the device code and the shipped model as
package data (ftervit/_data/), so a non-editable install has its C backend and something
to deploy.  Everything else is in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# what each folder ships; build outputs stay behind
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.o", "*.so", "build", "build-*")
SHIPPED = {
    "native_module": None,   # the whole tree: C sources, headers, natmod/firmware build files
    "device": None,
    "models": ["README.md", "fmnist_ftervit_micro.ftv", "fmnist_ftervit_micro.pt",
               "fmnist_samples"],
}


def copy_resource(name, files, target: Path) -> None:
    source = ROOT / name
    if files is None:
        shutil.copytree(source, target, ignore=IGNORED, dirs_exist_ok=True)
        return
    target.mkdir(parents=True, exist_ok=True)
    for entry in files:
        if (source / entry).is_dir():
            shutil.copytree(source / entry, target / entry, ignore=IGNORED, dirs_exist_ok=True)
        else:
            shutil.copy2(source / entry, target / entry)


class BuildPyWithResources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout (ftervit.resources)
        for name, files in SHIPPED.items():
            copy_resource(name, files, Path(self.build_lib) / "ftervit" / "_data" / name)


setup(cmdclass={"build_py": BuildPyWithResources})
