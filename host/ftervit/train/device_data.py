"""A small image dataset held whole on the training device, augmented there.

Fashion-MNIST is 47 MB as uint8: it fits on any GPU, and augmenting a batch
with a few tensor ops there is far faster than a CPU DataLoader.  Each
global batch's randomness comes from a generator seeded by (seed, epoch, step):
any batch can be regenerated exactly (after `--resume`), and N processes
together see exactly the images, and augmentations, that one process sees
(each takes every N-th row of the global batch).

Augmentation (training only): random crop of the zero-padded image
(`crop_pad` pixels each side), horizontal flip with probability `hflip`,
random erasing (`erase`: probability; one rectangle of 2-33 % of the area,
aspect 0.3-3.3, filled with unit normal noise after normalisation, as timm's
RandomErasing in 'pixel' mode).
"""
import math
from dataclasses import dataclass
from typing import Iterator, Sequence, Tuple

import torch
import torch.nn.functional as F

from .sharding import derive_seed, eval_shard, local_batch_size, rank_indices, steps_per_epoch


@dataclass
class Augment:
    crop_pad: int = 0
    hflip: float = 0.0
    erase: float = 0.0


class DeviceImages:
    """uint8 images [N, C, H, W] and labels [N] on `device`; yields normalised float batches."""

    def __init__(self, images, labels, mean: Sequence[float], std: Sequence[float], device,
                 augment: Augment = None):
        self.device = torch.device(device)
        self.images = torch.tensor(images).to(self.device)  # a copy: sources may be read-only
        self.labels = torch.tensor(labels, dtype=torch.int64).to(self.device)
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("DeviceImages needs uint8 images shaped [N, C, H, W]")
        c = self.images.shape[1]
        self.mean = torch.tensor(list(mean), device=self.device).view(1, c, 1, 1)
        self.std = torch.tensor(list(std), device=self.device).view(1, c, 1, 1)
        self.augment = augment or Augment()
        self._gen = torch.Generator(device=self.device)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def steps_per_epoch(self, global_batch: int, world: int = 1) -> int:
        return steps_per_epoch(len(self), global_batch, world)

    def train_batches(self, epoch: int, global_batch: int, seed: int, rank: int = 0,
                      world: int = 1, start_step: int = 0) -> Iterator:
        local = local_batch_size(global_batch, world)
        idx = rank_indices(len(self), seed, epoch, rank, world).to(self.device)
        for step in range(start_step, self.steps_per_epoch(global_batch, world)):
            sel = idx[step * local:(step + 1) * local]
            self._gen.manual_seed(derive_seed(seed, epoch, step, 0xA06))
            x = self._augment(self.images[sel], self._gen, global_batch, rank, world)
            yield x, self.labels[sel]

    def eval_batches(self, batch_size: int, rank: int = 0, world: int = 1) -> Iterator:
        idx = eval_shard(len(self), rank, world).to(self.device)
        for start in range(0, len(idx), batch_size):
            sel = idx[start:start + batch_size]
            yield self._normalise(self.images[sel].float() / 255.0), self.labels[sel]

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def _augment(self, images: torch.Tensor, gen: torch.Generator, global_batch: int,
                 rank: int, world: int) -> torch.Tensor:
        """Random draws are made for the whole global batch; this rank keeps its rows."""
        aug = self.augment
        x = images.float() / 255.0
        b, c, h, w = x.shape
        dev = x.device

        def mine(t):
            return t[rank::world] if world > 1 else t

        if aug.crop_pad > 0:
            p = aug.crop_pad
            padded = F.pad(x, (p, p, p, p))
            oy = mine(torch.randint(0, 2 * p + 1, (global_batch, 1), device=dev, generator=gen))
            ox = mine(torch.randint(0, 2 * p + 1, (global_batch, 1), device=dev, generator=gen))
            rows = (oy + torch.arange(h, device=dev)).view(b, 1, h, 1)
            cols = (ox + torch.arange(w, device=dev)).view(b, 1, 1, w)
            bi = torch.arange(b, device=dev).view(b, 1, 1, 1)
            ci = torch.arange(c, device=dev).view(1, c, 1, 1)
            x = padded[bi, ci, rows, cols]
        if aug.hflip > 0:
            flip = mine(torch.rand(global_batch, device=dev, generator=gen)) < aug.hflip
            x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
        x = self._normalise(x)
        if aug.erase > 0:
            u = mine(torch.rand(global_batch, 5, device=dev, generator=gen))
            noise = mine(torch.randn((global_batch, c, h, w), device=dev, generator=gen))
            x = _random_erase(x, aug.erase, u, noise)
        return x


def _random_erase(x: torch.Tensor, prob: float, u: torch.Tensor,
                  noise: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    dev = x.device
    apply = u[:, 0] < prob
    area = (0.02 + u[:, 1] * (1 / 3 - 0.02)) * h * w
    log_ratio = math.log(0.3) + u[:, 2] * (math.log(3.3) - math.log(0.3))
    eh = torch.sqrt(area * torch.exp(log_ratio)).round().clamp(1, h)
    ew = torch.sqrt(area / torch.exp(log_ratio)).round().clamp(1, w)
    top = (u[:, 3] * (h - eh + 1)).floor()
    left = (u[:, 4] * (w - ew + 1)).floor()
    r = torch.arange(h, device=dev).view(1, h, 1)
    q = torch.arange(w, device=dev).view(1, 1, w)
    inside = (r >= top.view(b, 1, 1)) & (r < (top + eh).view(b, 1, 1)) & \
             (q >= left.view(b, 1, 1)) & (q < (left + ew).view(b, 1, 1))
    mask = (inside & apply.view(b, 1, 1)).unsqueeze(1)
    return torch.where(mask, noise.to(x.dtype), x)
