"""Training pairs: generated on the fly (deterministic per index) or read from an HDF5 cache.

Sample ``i`` of a problem's training stream is the truth drawn with seed ``i`` from the
"train" split and its measurement with noise seed ``i``, so any process (or rank, or resumed
run) regenerates exactly the same pair. Validation uses seeds from :data:`VALIDATION_SEED`
on, disjoint from training indices below it; evaluation uses the "test" split.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .._tensor import complex_dtype
from ..errors import InputError
from ..data.sources import VALIDATION_SEED, TruthPool
from ..problems.base import Problem

Tensor = torch.Tensor

__all__ = ["Batch", "PairSource", "OnTheFly", "MeasuredOnly", "MeasuredPairs", "HDF5Pairs", "generate_hdf5", "VALIDATION_SEED"]

_NOISE_OFFSET = 7_919  # noise seeds differ from truth seeds of the same index


@dataclass
class Batch:
    """A batch of pairs: ``truth`` ``(B, *domain_shape)`` (None for measured data without
    truths) and ``y`` ``(B, *range_shape)``."""

    truth: Tensor | None
    y: Tensor


class PairSource:
    """Something that gives the pairs with given indices."""

    problem: Problem

    def __len__(self) -> int:
        raise NotImplementedError

    def get(self, indices: list[int]) -> Batch:
        raise NotImplementedError


def _cast(t: Tensor, real: torch.dtype) -> Tensor:
    return t.to(complex_dtype(real) if t.is_complex() else real)


def _simulate(problem: Problem, seeds: list[int], split: str, dtype: torch.dtype) -> Batch:
    truths = torch.cat([problem.sample_truth(1, seed=s, split=split, dtype=torch.float64) for s in seeds])
    ys = torch.cat([problem.simulate(t[None], seed=s + _NOISE_OFFSET) for s, t in zip(seeds, truths)])
    return Batch(_cast(truths, dtype), _cast(ys, dtype))


class OnTheFly(PairSource):
    """Pairs simulated when asked for.

    Parameters
    ----------
    problem : Problem
        Problem to simulate.
    size : int
        Number of distinct training indices (an epoch's permutation runs over them).
    offset : int
        First seed (use :data:`VALIDATION_SEED` for validation pairs).
    dtype : torch.dtype
        Real precision of the returned tensors.
    """

    def __init__(self, problem: Problem, size: int, offset: int = 0, dtype: torch.dtype = torch.float32) -> None:
        if size < 1:
            raise InputError(f"dataset size must be >= 1, got {size}")
        self.problem, self.size, self.offset, self.dtype = problem, int(size), int(offset), dtype

    def __len__(self) -> int:
        return self.size

    def get(self, indices: list[int]) -> Batch:
        return _simulate(self.problem, [self.offset + int(i) for i in indices], "train", self.dtype)


class MeasuredOnly(PairSource):
    """Measurements without truths (``problem.measured``), one of the sets of a deterministic
    training/validation/test split of them.

    Parameters
    ----------
    problem : Problem
        A problem with ``measured`` data.
    split : {"train", "validation", "test"}
        Which set.
    dtype : torch.dtype
        Real precision of the returned tensors.
    """

    def __init__(self, problem: Problem, split: str = "train", dtype: torch.dtype = torch.float32) -> None:
        if problem.measured is None:
            raise InputError(f"{problem.name} has no measured data")
        self.problem, self.dtype = problem, dtype
        self.indices = TruthPool(problem.measured).indices[split]

    def __len__(self) -> int:
        return int(self.indices.numel())

    def get(self, indices: list[int]) -> Batch:
        return Batch(None, _cast(self.problem.measured[self.indices[list(indices)]], self.dtype))


class MeasuredPairs(PairSource):
    """The measured pairs of a :class:`~inverselab.problems.custom.PairedProblem` (a data set of
    truths with their real measurements), one share of its split; nothing is simulated."""

    def __init__(self, problem: Problem, split: str = "train", dtype: torch.dtype = torch.float32) -> None:
        self.truths, self.ys = problem.pairs(split)
        self.dtype = dtype

    def __len__(self) -> int:
        return int(self.ys.shape[0])

    def get(self, indices: list[int]) -> Batch:
        index = list(indices)
        return Batch(_cast(self.truths[index], self.dtype), _cast(self.ys[index], self.dtype))


def _config_text(problem: Problem) -> str:
    from ..runs import plain

    return json.dumps(plain(problem.config), sort_keys=True)


def _missing_parts(fh, path: Path) -> list[Path]:
    """The part files that the virtual datasets of an open cache ``fh`` (the file ``path``)
    map and that are not there (HDF5 would read their rows as zeros)."""
    names = {source.file_name for name in ("truth", "y") if fh[name].is_virtual
             for source in fh[name].virtual_sources()} - {"."}  # "." is the file itself
    return sorted(path.parent / name for name in names if not (path.parent / name).is_file())


class HDF5Pairs(PairSource):
    """Pairs read from a cache written by :func:`generate_hdf5`.

    Parameters
    ----------
    path : str or Path
        The ``.h5`` file.
    problem : Problem
        The problem the pairs must belong to (its configuration is checked against the file).
    dtype : torch.dtype
        Real precision of the returned tensors.
    """

    def __init__(self, path: str | Path, problem: Problem, dtype: torch.dtype = torch.float32) -> None:
        import h5py

        from ..records import regular_file

        self.path, self.problem, self.dtype = Path(path), problem, dtype
        regular_file(self.path, "--data cache", "give a file written by 'inverselab data generate'")
        try:
            with h5py.File(self.path, "r") as fh:
                attrs = dict(fh.attrs)
                shapes = {name: tuple(fh[name].shape) for name in ("truth", "y")}
                missing = _missing_parts(fh, self.path)
        except (OSError, KeyError) as exc:
            raise InputError(f"{self.path} is not a readable inverselab HDF5 cache ({exc}); regenerate it with 'inverselab data generate'") from None
        if missing:
            raise InputError(f"{self.path} reads its pairs from {missing[0]}, which is missing: put its parts "
                             "folder back next to it, or delete it and run 'inverselab data generate' again")
        if attrs.get("config") != _config_text(problem):
            raise InputError(f"{self.path} was generated for {attrs.get('config')}, not for {_config_text(problem)}")
        self.size = int(attrs.get("completed", 0))
        expected = {"truth": tuple(problem.operator.domain_shape), "y": tuple(problem.operator.range_shape)}
        for name, shape in shapes.items():
            if shape[1:] != expected[name] or shape[0] < self.size:
                raise InputError(f"{self.path}: dataset {name!r} is {shape}, expected ({self.size}, "
                                 f"{', '.join(map(str, expected[name]))}); regenerate it with 'inverselab data generate'")
        if self.size < int(attrs.get("n", 0)):
            raise InputError(f"{self.path} is incomplete ({self.size} of {attrs.get('n')} pairs); rerun 'inverselab data generate' to resume it")

    def __len__(self) -> int:
        return self.size

    def get(self, indices: list[int]) -> Batch:
        order = sorted(set(int(i) for i in indices))
        if order and (order[0] < 0 or order[-1] >= self.size):
            raise InputError(f"index out of range for {self.path} with {self.size} pairs")
        where = {i: k for k, i in enumerate(order)}
        pick = torch.tensor([where[int(i)] for i in indices])
        import h5py

        with h5py.File(self.path, "r") as fh:  # opened per batch: no handle outlives a call
            truth = torch.from_numpy(fh["truth"][order])[pick]
            y = torch.from_numpy(fh["y"][order])[pick]
        return Batch(_cast(truth, self.dtype), _cast(y, self.dtype))


def _stored_dtype(is_complex: bool) -> str:
    """The dtype a cache stores an array in: float32, or complex64 for a complex one."""
    return "complex64" if is_complex else "float32"


def _arrays(op) -> tuple[tuple[str, tuple, bool], ...]:
    """Name, shape of one sample and complexity of the two datasets of a cache."""
    return ("truth", tuple(op.domain_shape), op.domain_complex), ("y", tuple(op.range_shape), op.range_complex)


def _check_same(attrs, out: Path, config: str, n: int, offset: int) -> None:
    """Refuse an existing cache ``out`` that holds another dataset than the one asked for."""
    same = (attrs.get("config"), int(attrs.get("n", -1)), int(attrs.get("offset", -1))) == (config, n, offset)
    if not same:
        raise InputError(f"{out} holds a different dataset (problem, n or offset); choose another --out or delete it")


def generate_hdf5(problem: Problem, n: int, out: str | Path, offset: int = 0, chunk: int = 16,
                  shard: bool = False) -> Path:
    """Simulate ``n`` training pairs of ``problem`` into an HDF5 file, with progress; resumable.

    The file records the problem configuration, ``n``, ``offset`` and the number of pairs
    completed; calling again with the same arguments continues where an interrupted run stopped
    (pairs are deterministic per index, so the result is the same). Truths are stored in
    float32 (complex64 for complex problems).

    Parameters
    ----------
    problem : Problem
        Problem to simulate.
    n : int
        Number of pairs.
    out : str or Path
        Output ``.h5`` file.
    offset : int
        Seed of the first pair (pairs ``offset .. offset + n - 1`` of the training stream).
    chunk : int
        Pairs simulated and written per step.
    shard : bool
        Under ``torchrun`` (every rank calls this), share the pairs out over the ranks; in one
        process it changes nothing.

    Notes
    -----
    Shared out, rank ``r`` of ``W`` simulates its contiguous block of the pairs
    (:func:`~inverselab.training.distributed.block`) into its own part file
    ``OUT.parts/r-of-W.h5``: a cache like the above of pairs ``offset + start ..``, so pair
    ``i`` comes from the same seeds whatever the number of ranks, and an interrupted run
    resumes each part. When every rank is done, the main rank writes ``out`` under a temporary
    name and renames it (a crash leaves no half file under the final name): virtual datasets
    ``truth`` and ``y`` that map the parts' rows in order, with the dtypes, shapes and
    attributes of a file written by one process, so every reader sees the same arrays. No pair
    is copied, so the parts folder must stay next to ``out`` (:class:`HDF5Pairs` refuses the
    file without it); with ranks on several machines, ``out`` must be on a file system they
    all share. Problems that cannot simulate pairs fail on every rank as they do in one process.
    From the command line: ``torchrun --nproc_per_node=4 -m inverselab -- data generate ...``
    (the ``--`` keeps torchrun from taking ``--n`` for one of its own options).
    """
    if not isinstance(n, int) or n < 1:
        raise InputError(f"--n must be a positive integer, got {n!r}")
    out = Path(out)
    if shard:
        from .distributed import world_size

        if world_size() > 1:
            return _generate_sharded(problem, n, out, offset, chunk)
    return _generate(problem, n, out, offset, chunk)


def _generate(problem: Problem, n: int, out: Path, offset: int, chunk: int, show: bool = True) -> Path:
    """:func:`generate_hdf5` in one process (``show``: with a progress bar)."""
    import h5py
    from tqdm.auto import tqdm

    out.parent.mkdir(parents=True, exist_ok=True)
    config = _config_text(problem)
    op = problem.operator
    if out.exists() or out.is_symlink():
        from ..records import regular_file

        regular_file(out, "--out", "give the name of an .h5 file")
    mode = "r+" if out.exists() else "w"
    try:
        fh = h5py.File(out, mode)
    except OSError as exc:
        raise InputError(f"{out} exists but is not a readable HDF5 file ({exc}); delete it to start over") from None
    with fh:
        if mode == "r+":
            _check_same(fh.attrs, out, config, n, offset)
        else:
            for name, shape, is_complex in _arrays(op):
                fh.create_dataset(name, (n, *shape), dtype=_stored_dtype(is_complex), chunks=(1, *shape))
            fh.attrs.update({"config": config, "n": n, "offset": offset, "completed": 0})
        done = int(fh.attrs["completed"])
        source = OnTheFly(problem, n, offset)
        with tqdm(total=n, initial=done, desc=f"generating {problem.name}", unit="pair", disable=not show) as bar:
            while done < n:
                stop = min(n, done + chunk)
                batch = source.get(list(range(done, stop)))
                fh["truth"][done:stop] = batch.truth.numpy()
                fh["y"][done:stop] = batch.y.numpy()
                fh.attrs["completed"] = stop
                fh.flush()
                bar.update(stop - done)
                done = stop
    return out


def _generate_sharded(problem: Problem, n: int, out: Path, offset: int, chunk: int) -> Path:
    """:func:`generate_hdf5` shared out over the ranks of ``torchrun`` (see its notes); every
    rank returns once ``out`` is written."""
    from .distributed import barrier, block, joined

    config = _config_text(problem)
    if _finished(out, config, n, offset):
        return out
    with joined("cpu") as ctx:
        parts = [(out.parent / f"{out.name}.parts" / f"{r}-of-{ctx.world}.h5", block(n, r, ctx.world))
                 for r in range(ctx.world)]
        path, rows = parts[ctx.rank]
        if rows:
            _generate(problem, len(rows), path, offset + rows.start, chunk, show=ctx.main)
        barrier(ctx)
        if ctx.main:
            attrs = {"config": config, "n": n, "offset": offset, "completed": n}
            _join_parts(out, [(p, r) for p, r in parts if r], problem.operator, attrs)
        barrier(ctx)
    return out


def _finished(out: Path, config: str, n: int, offset: int) -> bool:
    """True when ``out`` already holds these pairs, all of them; False when there is no ``out``.
    Anything else there is refused rather than replaced."""
    import h5py

    from ..records import regular_file

    if not (out.exists() or out.is_symlink()):
        return False
    regular_file(out, "--out", "give the name of an .h5 file")
    try:
        with h5py.File(out, "r") as fh:
            attrs = dict(fh.attrs)
    except OSError as exc:
        raise InputError(f"{out} exists but is not a readable HDF5 file ({exc}); delete it to start over") from None
    _check_same(attrs, out, config, n, offset)
    done = int(attrs.get("completed", 0))
    if done < n:
        raise InputError(f"{out} holds {done} of {n} pairs written by one process; finish it without torchrun, "
                         "or delete it")
    return True


def _join_parts(out: Path, parts: list[tuple[Path, range]], op, attrs: dict) -> None:
    """Write ``out`` atomically (temporary file, then rename): virtual datasets ``truth`` and
    ``y`` whose rows ``rows`` come from each part file, referred to relative to ``out``."""
    import os

    import h5py

    hidden = [path for path, _ in parts if not path.is_file()]
    if hidden:
        raise InputError(f"the main rank does not see {hidden[0]}: give an --out on a file system that every machine "
                         "of the run shares")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with h5py.File(tmp, "w") as fh:
            for name, shape, is_complex in _arrays(op):
                layout = h5py.VirtualLayout((attrs["n"], *shape), dtype=_stored_dtype(is_complex))
                for path, rows in parts:
                    source = path.relative_to(out.parent).as_posix()
                    layout[rows.start:rows.stop] = h5py.VirtualSource(source, name, shape=(len(rows), *shape))
                fh.create_virtual_dataset(name, layout)
            fh.attrs.update(attrs)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
