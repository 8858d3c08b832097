"""`open_data(spec)`: the training and evaluation data a `--data` argument names.

`spec` is one of

* `fashion-mnist`: the Debian package's files in /usr/share/datasets/fashion-mnist;
* a folder holding idx files (`train-images-idx3-ubyte.gz`, ... ; Fashion-MNIST, MNIST):
  loaded whole onto the training device and augmented there;
* an ImageFolder root with `train/` and `val/` class folders (ImageNet layout): timm
  transforms in DataLoader workers.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from . import idx_data
from .device_data import Augment, DeviceImages
from .folder_data import FolderImages, TRAIN_DIRS, VAL_DIRS, find_split, is_image_folder_root

NAMED = {"fashion-mnist": idx_data.FASHION_MNIST_DIR}


@dataclass
class DataOptions:
    crop_pad: int = 2
    hflip: float = 0.5
    erase: float = 0.25
    auto_augment: str = "rand-m9-mstd0.5-inc1"
    workers: int = 8
    train_subset: int = 0   # first N training samples only (0: all)
    val_subset: int = 0


@dataclass
class DataBundle:
    kind: str                       # 'idx' (small, on device) or 'folder' (ImageNet style)
    root: Path
    train: object                   # DeviceImages or FolderImages
    val: object
    labels: List[str]
    image_shape: Tuple[int, int, int]   # (C, H, W) the data produces
    mean: Tuple[float, ...] = field(default=())
    std: Tuple[float, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.labels)


def resolve(spec) -> Path:
    spec = str(spec)
    if spec in NAMED:
        root = NAMED[spec]
        if not root.is_dir():
            raise FileNotFoundError(
                f"{spec}: {root} not found (install the Debian package dataset-{spec}, "
                "or pass the folder holding the idx files)")
        return root
    root = Path(spec).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"data folder not found: {root}")
    if not root.is_dir():
        raise ValueError(f"--data must be a folder, got the file {root}")
    return root


def data_kind(spec) -> str:
    """'idx' or 'folder' for a `--data` argument (checks only what is needed to decide)."""
    root = resolve(spec)
    if idx_data.has_idx_files(root):
        return "idx"
    if is_image_folder_root(root):
        return "folder"
    raise ValueError(f"{root}: neither idx files (train-images-idx3-ubyte[.gz], ...) nor an "
                     "ImageFolder tree (train/<class>/<image>, val/<class>/<image>)")


def _subset(arrays, n):
    return tuple(a[:n] for a in arrays) if n and n > 0 else arrays


def open_data(spec, mean, std, device, img_size: Optional[int] = None,
              in_chans: Optional[int] = None, options: DataOptions = None) -> DataBundle:
    """Training and validation data for `spec`, normalised with the model's mean/std.
    `img_size` / `in_chans` are what the model expects (ImageFolder images are resized to
    them; idx images are checked against them by the caller)."""
    opts = options or DataOptions()
    root = resolve(spec)
    kind = data_kind(root)
    if kind == "idx":
        train_x, train_y = _subset(idx_data.load_split(root, "train"), opts.train_subset)
        val_x, val_y = _subset(idx_data.load_split(root, "test"), opts.val_subset)
        num_classes = int(max(train_y.max(), val_y.max())) + 1
        labels = idx_data.class_names(root, num_classes)
        aug = Augment(crop_pad=opts.crop_pad, hflip=opts.hflip, erase=opts.erase)
        shape = tuple(train_x.shape[1:])
        if len(mean) != shape[0]:
            raise ValueError(f"the model normalises {len(mean)} channels, {root} has "
                             f"{shape[0]}-channel images")
        train = DeviceImages(train_x, train_y, mean, std, device, augment=aug)
        val = DeviceImages(val_x, val_y, mean, std, device)
        return DataBundle("idx", root, train, val, labels, shape, tuple(mean), tuple(std))
    if img_size is None or in_chans is None:
        raise ValueError("ImageFolder data needs the model's image size and channels")
    train_dir = find_split(root, TRAIN_DIRS)
    val_dir = find_split(root, VAL_DIRS)
    if val_dir is None:
        raise FileNotFoundError(f"{root}: no val/ folder beside train/")
    common = dict(img_size=img_size, in_chans=in_chans, mean=mean, std=std, device=device,
                  workers=opts.workers)
    train = FolderImages(train_dir, train=True, auto_augment=opts.auto_augment,
                         hflip=opts.hflip, erase=opts.erase, **common)
    val = FolderImages(val_dir, train=False, classes=train.classes, **common)
    if opts.train_subset:
        train.dataset.samples = train.dataset.samples[:opts.train_subset]
    if opts.val_subset:
        val.dataset.samples = val.dataset.samples[:opts.val_subset]
    shape = (in_chans, img_size, img_size)
    return DataBundle("folder", root, train, val, list(train.classes), shape,
                      tuple(mean), tuple(std))


def folder_class_names(spec) -> List[str]:
    """Class names of an ImageFolder root's training split (checked), without loading it."""
    from .folder_data import check_class_folders
    root = resolve(spec)
    return check_class_folders(find_split(root, TRAIN_DIRS))


def peek_classes_and_shape(spec):
    """(labels, image_shape or None) of `spec` cheaply: idx labels are read, ImageFolder
    images take the model's size."""
    root = resolve(spec)
    if data_kind(root) == "idx":
        x, y = idx_data.load_split(root, "train")
        return idx_data.class_names(root, int(y.max()) + 1), tuple(x.shape[1:])
    return folder_class_names(root), None
