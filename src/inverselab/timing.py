"""One timing protocol for every speed number: warm-up, repeats, median with min and max.

Every per-image time the package reports (``evaluate``, the demo, the benchmarks) comes from
:func:`time_batches`: the call is made once to warm up (caches, lazy set-up, JIT), then
``repeats`` times; the median is the result and the spread (max / min) is recorded with the
thread count, so that a reader can see whether the machine was busy. The same batch size must
be used for every method of a table; :func:`busy_warning` flags spreads that make a timing
unreliable.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import torch

from .errors import check_count

__all__ = ["Timing", "time_batches", "busy_warning", "BUSY_SPREAD"]

#: Ratio of the slowest to the fastest repeat above which a timing is flagged as taken on a
#: busy machine.
BUSY_SPREAD = 1.5


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of one call on a batch, over repeats.

    Attributes
    ----------
    median, minimum, maximum : float
        Seconds per call.
    repeats : int
        Timed calls (after the warm-up).
    batch_size : int
        Items per call; per-item seconds are ``median / batch_size``.
    threads : int
        ``torch.get_num_threads()`` during the calls.
    device : str
        Where the calls ran.
    """

    median: float
    minimum: float
    maximum: float
    repeats: int
    batch_size: int
    threads: int
    device: str

    @property
    def per_item(self) -> float:
        """Median seconds per item of the batch."""
        return self.median / self.batch_size

    @property
    def spread(self) -> float:
        """Slowest over fastest repeat (1 on a quiet machine)."""
        return self.maximum / self.minimum if self.minimum > 0 else float("inf")

    def as_dict(self) -> dict:
        """Plain values for JSON, with the per-item seconds and the spread."""
        return {**asdict(self), "per_item": self.per_item, "spread": self.spread}

    @classmethod
    def from_dict(cls, values: dict) -> Timing:
        """Inverse of :meth:`as_dict`."""
        return cls(**{f.name: values[f.name] for f in fields(cls)})


def _synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_batches(fn: Callable[[], object], batch_size: int, repeats: int = 5, warmup: int = 1,
                 device: str = "cpu") -> Timing:
    """Time ``fn()`` (one call processes ``batch_size`` items) by the protocol above.

    Parameters
    ----------
    fn : callable
        The work, e.g. ``lambda: method.reconstruct(y)``; its result is discarded.
    batch_size : int
        Items one call processes.
    repeats, warmup : int
        Timed calls (>= 1) and untimed calls before them (>= 0).
    device : str
        Device of the work; CUDA is synchronised around every call.

    Returns
    -------
    Timing
    """
    check_count("batch_size", batch_size)
    check_count("repeats", repeats)
    check_count("warmup", warmup, minimum=0)
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        _synchronise(device)
        start = time.perf_counter()
        fn()
        _synchronise(device)
        seconds.append(time.perf_counter() - start)
    return Timing(statistics.median(seconds), min(seconds), max(seconds), repeats, batch_size,
                  torch.get_num_threads(), device)


def busy_warning(timings: dict[str, Timing]) -> str | None:
    """One line naming the timings whose spread exceeds :data:`BUSY_SPREAD`, or None."""
    busy = [f"{name} ({t.spread:.1f}x)" for name, t in timings.items() if t.spread > BUSY_SPREAD]
    if not busy:
        return None
    return (f"warning: repeat times varied by more than {BUSY_SPREAD}x for {', '.join(busy)}: the machine was "
            "busy, so these speeds are uncertain (rerun on an idle machine)")
