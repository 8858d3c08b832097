"""Where the files that are not Python live: the C sources, the device code, the shipped models.

A wheel or a non-editable install carries them as package data under
`ftervit/_data/` (setup.py copies them there at build time).  A source checkout
(editable install, or PYTHONPATH=host) has them at the repository root instead.
"""
from pathlib import Path

RESOURCES = ("native_module", "device", "models")
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
CHECKOUT = Path(__file__).resolve().parents[2]


def resource_dir(name: str) -> Path:
    """The folder `name` (one of RESOURCES): the installed copy if there is one, else the
    checkout's.  The caller checks for the files it needs and names what is missing."""
    if name not in RESOURCES:
        raise ValueError(f"resource {name!r}: expected one of {', '.join(RESOURCES)}")
    installed = PACKAGE_DATA / name
    return installed if installed.is_dir() else CHECKOUT / name
