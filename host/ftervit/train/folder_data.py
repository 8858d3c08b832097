"""ImageNet-style data: `ROOT/train/<class>/*.jpg` and `ROOT/val/<class>/*.jpg`.

Training images get timm's standard training transform (random resized crop,
flip, RandAugment, random erasing); validation images timm's evaluation
transform (resize, centre crop).  Worker processes decode JPEGs; the sample
order comes from `sharding` (seeded, per rank, resumable).
"""
from pathlib import Path
from typing import Iterator, List, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .sharding import derive_seed, eval_shard, local_batch_size, rank_indices, steps_per_epoch

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
TRAIN_DIRS = ("train",)
VAL_DIRS = ("val", "validation", "test")


def find_split(root: Path, names) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def is_image_folder_root(root) -> bool:
    return find_split(Path(root), TRAIN_DIRS) is not None


def check_class_folders(split_dir: Path) -> List[str]:
    """Class names of an ImageFolder split; ValueError naming empty or missing classes."""
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"{split_dir}: no class folders (expected {split_dir}/<class>/<image>)")
    empty = [c for c in classes if not any(
        f.suffix.lower() in IMG_EXTENSIONS for f in (split_dir / c).rglob("*") if f.is_file())]
    if empty:
        shown = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        raise ValueError(f"{split_dir}: class folder(s) with no images: {shown}")
    return classes


class _Subset(Dataset):
    def __init__(self, base, indices):
        self.base, self.indices = base, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        return self.base[int(self.indices[i])]


class FolderImages:
    """One split of an ImageFolder tree with timm's train or eval transform."""

    def __init__(self, split_dir: Path, img_size: int, in_chans: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, device, workers: int = 8,
                 auto_augment: str = "rand-m9-mstd0.5-inc1", hflip: float = 0.5,
                 erase: float = 0.25, crop_pct: float = 0.875, classes=None):
        from timm.data import create_transform
        from torchvision.datasets import ImageFolder

        found = check_class_folders(split_dir)
        if classes is not None and found != list(classes):
            raise ValueError(f"{split_dir}: class folders differ from the training split's "
                             f"({len(found)} vs {len(classes)} classes)")
        transform = create_transform(
            input_size=(in_chans, img_size, img_size), is_training=train, mean=tuple(mean),
            std=tuple(std), hflip=hflip, auto_augment=auto_augment or None, re_prob=erase,
            interpolation="bicubic", crop_pct=crop_pct)
        loader = None
        if in_chans == 1:
            from PIL import Image

            def loader(path):
                with open(path, "rb") as f:
                    return Image.open(f).convert("L")
        kwargs = {"loader": loader} if loader else {}
        self.dataset = ImageFolder(str(split_dir), transform=transform, **kwargs)
        self.classes = found
        self.device = torch.device(device)
        self.workers = workers
        self.image_shape = (in_chans, img_size, img_size)

    def __len__(self) -> int:
        return len(self.dataset)

    def steps_per_epoch(self, global_batch: int, world: int = 1) -> int:
        return steps_per_epoch(len(self), global_batch, world)

    def _loader(self, indices, batch: int, seed: int, drop_last: bool) -> DataLoader:
        gen = torch.Generator().manual_seed(seed)
        return DataLoader(_Subset(self.dataset, indices), batch_size=batch, shuffle=False,
                          num_workers=self.workers, pin_memory=self.device.type == "cuda",
                          drop_last=drop_last, generator=gen,
                          persistent_workers=False)

    def _to_device(self, batches) -> Iterator:
        for x, y in batches:
            yield (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))

    def train_batches(self, epoch: int, global_batch: int, seed: int, rank: int = 0,
                      world: int = 1, start_step: int = 0) -> Iterator:
        local = local_batch_size(global_batch, world)
        idx = rank_indices(len(self), seed, epoch, rank, world)
        idx = idx[start_step * local:self.steps_per_epoch(global_batch, world) * local]
        loader_seed = derive_seed(seed, epoch, start_step, rank, 0xF01D)
        return self._to_device(self._loader(idx, local, loader_seed, drop_last=True))

    def eval_batches(self, batch_size: int, rank: int = 0, world: int = 1) -> Iterator:
        idx = eval_shard(len(self), rank, world)
        return self._to_device(self._loader(idx, batch_size, 0, drop_last=False))
