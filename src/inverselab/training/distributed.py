"""torch.distributed set-up for work under ``torchrun``: training (gloo on CPU, nccl on GPU),
and data generation and reconstruction shared out by sample (gloo).

Without ``torchrun`` (no ``WORLD_SIZE`` in the environment, or 1) everything here is a no-op
and the work runs in one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["Context", "setup", "teardown", "joined", "is_main_process", "world_size", "block", "barrier",
           "gather_to_main", "broadcast_from_main", "mean_over_ranks", "max_over_ranks"]


@dataclass(frozen=True)
class Context:
    """Where this process sits: ``rank`` of ``world`` processes (``local`` on its machine), on
    ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    local: int = 0

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
    return Context(rank, world, device, local)


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def joined(device: str | torch.device | None = None) -> Iterator[Context]:
    """:func:`setup` for the block, and :func:`teardown` after it when the block started the
    process group (a group the caller set up is left as it was)."""
    started = not dist.is_initialized()
    ctx = setup(device)
    try:
        yield ctx
    finally:
        if started:
            teardown()


def is_main_process() -> bool:
    """True unless this is a non-zero rank under ``torchrun``."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    """Number of processes ``torchrun`` started (1 without it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def block(n: int, rank: int, world: int) -> range:
    """The contiguous share of indices ``0 .. n - 1`` that ``rank`` of ``world`` works on.

    Shares follow each other in rank order and differ in size by at most one (the first
    ``n % world`` ranks take one more); with ``n < world`` the last ranks get none.
    """
    size, extra = divmod(n, world)
    start = rank * size + min(rank, extra)
    return range(start, start + size + (rank < extra))


def barrier(ctx: Context) -> None:
    """Wait until every rank got here (nothing in one process)."""
    if ctx.distributed:
        dist.barrier()


def gather_to_main(value: Any, ctx: Context) -> list[Any] | None:
    """Every rank's ``value`` (picklable; tensors on the CPU) in rank order on the main rank,
    None on the others; ``[value]`` in one process."""
    if not ctx.distributed:
        return [value]
    values = [None] * ctx.world if ctx.main else None
    dist.gather_object(value, values, dst=0)
    return values


def broadcast_from_main(value: Any, ctx: Context) -> Any:
    """The main rank's ``value`` on every rank (``value`` itself in one process)."""
    if not ctx.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


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
