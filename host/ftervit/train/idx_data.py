"""Fashion-MNIST / MNIST in the idx format (`train-images-idx3-ubyte.gz` and friends).

The Debian package `dataset-fashion-mnist` installs the four files in
`/usr/share/datasets/fashion-mnist/`; any folder holding the four files
(gzipped or not) works the same.
"""
import functools
import gzip
from pathlib import Path
from typing import List, Optional

import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                        "Sneaker", "Bag", "Ankle boot"]
DIGIT_LABELS = [str(i) for i in range(10)]
SPLITS = {"train": "train", "test": "t10k"}
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """One idx file (optionally gzipped) as a numpy array; ValueError if it is not one."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read idx file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(f"{path}: not an idx file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated idx header")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[data[2]])
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != need:
        raise ValueError(f"{path}: idx payload is {len(data) - header} bytes, "
                         f"shape {shape} needs {need}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _find(folder: Path, stem: str) -> Optional[Path]:
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in (".gz", ""):
            candidate = folder / (name + suffix)
            if candidate.is_file():
                return candidate
    return None


def idx_files(folder, split: str):
    """(images, labels) paths of `split` ('train' or 'test') in `folder`, or None if absent."""
    folder = Path(folder)
    prefix = SPLITS[split]
    images = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels = _find(folder, f"{prefix}-labels-idx1-ubyte")
    return (images, labels) if images and labels else None


def has_idx_files(folder) -> bool:
    return Path(folder).is_dir() and idx_files(folder, "train") is not None


def load_split(folder, split: str):
    """uint8 images [N, 1, H, W] and int64 labels [N] of one split (read once, then cached)."""
    return _load_split(str(Path(folder).resolve()), split)


@functools.lru_cache(maxsize=4)
def _load_split(folder: str, split: str):
    found = idx_files(folder, split)
    if found is None:
        raise FileNotFoundError(f"{folder}: no {SPLITS[split]}-images-idx3-ubyte[.gz] / "
                                f"{SPLITS[split]}-labels-idx1-ubyte[.gz] pair")
    images, labels = read_idx(found[0]), read_idx(found[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{folder}: {split} images {images.shape} and labels {labels.shape} "
                         "do not pair up")
    if images.dtype != np.uint8:
        raise ValueError(f"{found[0]}: expected uint8 pixels, got {images.dtype}")
    return images[:, None, :, :], labels.astype(np.int64)


def class_names(folder, num_classes: int) -> List[str]:
    """`labels.txt` in the folder if present, else Fashion-MNIST's names for a folder whose
    path says 'fashion', else the digits."""
    folder = Path(folder)
    for name in ("labels.txt", "classes.txt"):
        f = folder / name
        if f.is_file():
            names = [line.strip() for line in f.read_text().splitlines() if line.strip()]
            if len(names) != num_classes:
                raise ValueError(f"{f}: {len(names)} names for {num_classes} classes")
            return names
    if "fashion" in str(folder.resolve()).lower() and num_classes == 10:
        return list(FASHION_MNIST_LABELS)
    if num_classes == 10:
        return list(DIGIT_LABELS)
    return [str(i) for i in range(num_classes)]
