"""torchrun / DistributedDataParallel: one process per GPU, rank 0 logs and saves.

Run any training command under `torchrun --nproc_per_node=N ftervit-train-cmd ...`
(or `torchrun --nproc_per_node=N -m ftervit distill ...`): torchrun sets RANK,
WORLD_SIZE and LOCAL_RANK, and `Dist.from_env` joins the process group.
"""
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "auto") -> "Dist":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError("--device cuda: no CUDA device is available")
            index = local_rank if dev.index is None else dev.index
            dev = torch.device("cuda", index)
            torch.cuda.set_device(dev)
        if world > 1 and not torch_dist.is_initialized():
            backend = "nccl" if dev.type == "cuda" else "gloo"
            torch_dist.init_process_group(backend=backend, device_id=dev if dev.type == "cuda"
                                          else None)
        return cls(rank=rank, world=world, local_rank=local_rank, device=dev)

    def barrier(self):
        if self.enabled:
            torch_dist.barrier()

    def all_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks, in place; returns the tensor."""
        if self.enabled:
            torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
        return tensor

    def broadcast_object(self, obj):
        if not self.enabled:
            return obj
        box = [obj]
        torch_dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self):
        if self.enabled and torch_dist.is_initialized():
            torch_dist.destroy_process_group()
