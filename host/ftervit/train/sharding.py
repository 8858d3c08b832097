"""Seeded sample order: the same for every run with the same seed, split across ranks.

Every epoch draws one permutation from (seed, epoch); rank r of W takes every
W-th sample of it, trimmed so all ranks take the same number of steps.  A run
resumed mid-epoch rebuilds the permutation and skips the batches it already
did, so the remaining batches are exactly those of an uninterrupted run.
"""
import torch

_MIX = (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, epoch, step, rank, ...), stable across runs."""
    h = 0x2545F4914F6CDD1D
    for i, p in enumerate(parts):
        h ^= (int(p) + _MIX[i % len(_MIX)]) & 0xFFFFFFFFFFFFFFFF
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & 0x7FFFFFFFFFFFFFFF


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    if not shuffle:
        return torch.arange(n)
    gen = torch.Generator().manual_seed(derive_seed(seed, epoch, 0x5A4D))
    return torch.randperm(n, generator=gen)


def rank_indices(n: int, seed: int, epoch: int, rank: int, world: int,
                 shuffle: bool = True) -> torch.Tensor:
    """This rank's sample indices for one training epoch (equal count on every rank)."""
    order = epoch_order(n, seed, epoch, shuffle)
    per_rank = n // world
    return order[rank::world][:per_rank]


def steps_per_epoch(n: int, global_batch: int, world: int) -> int:
    """Training steps per epoch (last partial batch dropped)."""
    local = local_batch_size(global_batch, world)
    return (n // world) // local


def local_batch_size(global_batch: int, world: int) -> int:
    if global_batch % world:
        raise ValueError(f"batch size {global_batch} does not split over {world} processes")
    return global_batch // world


def eval_shard(n: int, rank: int, world: int) -> torch.Tensor:
    """Contiguous evaluation shard: every sample exactly once over all ranks."""
    per = (n + world - 1) // world
    return torch.arange(rank * per, min(n, (rank + 1) * per))
