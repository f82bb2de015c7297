"""Training on several processes launched by torchrun (WORLD_SIZE > 1): joining them, and what they agree on."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    device: torch.device
    rank: int = 0
    size: int = 1

    @property
    def hardware(self) -> str:
        """What this process trains on, for the training record: the GPU's name, or the CPU and its threads."""
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        if self.device.type == "cpu":
            return f"CPU ({torch.get_num_threads()} threads)"
        return self.device.type

    def first_process_decides(self, answer: bool) -> bool:
        """The first process's answer, in every process (so that all of them stop at the same step)."""
        if self.size == 1:
            return answer
        flag = torch.tensor([float(answer)], device=self.device)
        torch.distributed.broadcast(flag, src=0)
        return bool(flag.item())


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[World]:
    """This process's World: under torchrun, its process group (NCCL on GPUs, gloo on CPUs) while the block runs."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        yield World(device)
        return
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield World(device, dist.get_rank(), dist.get_world_size())
    finally:
        dist.destroy_process_group()


def is_main_process() -> bool:
    """False in every process but the first of a torchrun launch: only the first one reports."""
    return int(os.environ.get("RANK", "0")) == 0
