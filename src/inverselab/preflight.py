"""Preflight checks of big allocations: estimate the memory a job needs before allocating it,
and refuse with the estimate and what the machine has, rather than fail in the allocator (or
be killed by the system) part-way through.
"""

from __future__ import annotations

import os

from .errors import InputError

__all__ = ["available_memory", "check_memory", "format_bytes"]


def available_memory(device: str = "cpu") -> int | None:
    """Bytes that can be allocated now on ``device`` (``MemAvailable`` of the system for the
    CPU, the free memory of a CUDA device), or None where it cannot be told."""
    if str(device).startswith("cuda"):
        import torch

        try:
            free, _ = torch.cuda.mem_get_info(torch.device(device))
        except (RuntimeError, AssertionError, ValueError):
            return None
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    """``1.5 GiB`` style size."""
    if abs(n) < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if abs(n) < 1024:
            return f"{n:.3g} {unit}"
    return f"{n / 1024:.3g} PiB"


def check_memory(nbytes: float, what: str, fix: str, device: str = "cpu") -> None:
    """Raise an :class:`InputError` when ``what`` needs more than ``device`` has available.

    Parameters
    ----------
    nbytes : float
        Estimated bytes (a lower bound: arrays the job cannot do without).
    what : str
        The job, as the subject of the message ("64 samples of problem 'cs'").
    fix : str
        What to change ("lower --n").
    device : str
        Where the memory is allocated.
    """
    available = available_memory(device)
    if available is not None and nbytes > available:
        raise InputError(f"{what} needs at least {format_bytes(nbytes)} of memory; {device} has "
                         f"{format_bytes(available)} available: {fix}")
