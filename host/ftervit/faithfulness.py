"""How faithfully the integer runtime reproduces the PyTorch model it was packed from.

Both see the very same uint8 images: the integer runtime takes them as they
are, PyTorch normalises them with the checkpoint's mean/std.  Reported: top-1
of each, their difference, and how often their top-1 predictions agree.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Tuple

import numpy as np
import torch


@dataclass
class Faithfulness:
    images: int
    torch_top1: float      # percent
    integer_top1: float    # percent
    agreement: float       # percent of images with the same top-1 class

    @property
    def delta_pp(self) -> float:
        return self.integer_top1 - self.torch_top1

    def table(self) -> str:
        return "\n".join([
            f"images                 {self.images:>10,}",
            f"PyTorch top-1          {self.torch_top1:>9.2f} %",
            f"integer runtime top-1  {self.integer_top1:>9.2f} %",
            f"difference             {self.delta_pp:>+9.2f} pp",
            f"top-1 agreement        {self.agreement:>9.2f} %"])


def uint8_samples(data, split: str, size: int, in_chans: int,
                  limit: int = 0) -> Iterator[Tuple[np.ndarray, int]]:
    """(uint8 [size, size, in_chans] image, label) pairs of a dataset split.  idx data must
    already have the model's size; ImageFolder images are centre-cropped and resized."""
    from .images import load_image
    from .train import data as train_data
    from .train import folder_data, idx_data

    root = train_data.resolve(data)
    count = 0
    if train_data.data_kind(data) == "idx":
        images, labels = idx_data.load_split(root, split)
        if images.shape[1:] != (in_chans, size, size):
            raise ValueError(f"{root}: {split} images are {images.shape[1:]} (C, H, W), the "
                             f"model takes ({in_chans}, {size}, {size})")
        for image, label in zip(images, labels):
            if limit and count >= limit:
                return
            count += 1
            yield np.ascontiguousarray(image.transpose(1, 2, 0)), int(label)
        return
    names = folder_data.VAL_DIRS if split == "test" else folder_data.TRAIN_DIRS
    split_dir = folder_data.find_split(Path(root), names)
    if split_dir is None:
        raise FileNotFoundError(f"{root}: no {'/'.join(names)} folder")
    for label, cls in enumerate(folder_data.check_class_folders(split_dir)):
        for f in sorted((split_dir / cls).rglob("*")):
            if f.suffix.lower() not in folder_data.IMG_EXTENSIONS:
                continue
            if limit and count >= limit:
                return
            count += 1
            yield load_image(f, size, in_chans, fit=True), label


def torch_logits(model, images: np.ndarray, mean, std) -> np.ndarray:
    """Float logits for a batch of uint8 HWC images."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    with torch.inference_mode():
        return model((x - m) / s).float().numpy()


def measure(model, meta: dict, integer_forward: Callable, samples, batch: int = 256,
            progress=None) -> Faithfulness:
    """Run both on every sample; `integer_forward(image) -> int logits`."""
    hits_t = hits_i = agree = n = 0
    pending = []

    def flush():
        nonlocal hits_t, hits_i, agree, n
        images = np.stack([im for im, _ in pending])
        labels = np.array([lb for _, lb in pending])
        pred_t = torch_logits(model, images, meta["mean"], meta["std"]).argmax(axis=1)
        pred_i = np.array([int(np.argmax(integer_forward(im))) for im in images])
        hits_t += int((pred_t == labels).sum())
        hits_i += int((pred_i == labels).sum())
        agree += int((pred_t == pred_i).sum())
        n += len(labels)
        if progress is not None:
            progress.update(len(labels))
        pending.clear()

    for sample in samples:
        pending.append(sample)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    if n == 0:
        raise ValueError("the dataset split holds no images")
    return Faithfulness(n, 100.0 * hits_t / n, 100.0 * hits_i / n, 100.0 * agree / n)
