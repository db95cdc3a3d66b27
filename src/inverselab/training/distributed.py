"""torch.distributed set-up for training under ``torchrun`` (gloo on CPU, nccl on GPU).

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment, or 1) everything here is a no-op
and training runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Context", "setup", "teardown", "is_main_process", "mean_over_ranks", "max_over_ranks"]


@dataclass(frozen=True)
class Context:
    """Where this process sits: ``rank`` of ``world`` processes, on ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """True on the process that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def setup(device: str | torch.device | None = None) -> Context:
    """Join the process group started by ``torchrun`` if there is one.

    Parameters
    ----------
    device : str or torch.device, optional
        Device to train on; default CUDA (this rank's local GPU) when available, else CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Context(rank, world, device)


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True unless this is a non-zero rank under ``torchrun``."""
    return int(os.environ.get("RANK", "0")) == 0


def mean_over_ranks(value: float, ctx: Context) -> float:
    """Average a Python number over all ranks (identity in one process)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t) / ctx.world


def max_over_ranks(value: float, ctx: Context) -> float:
    """Maximum of a Python number over all ranks (identity in one process)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)
