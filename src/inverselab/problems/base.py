"""The Problem: a forward operator, a noise model and a source of ground truth."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._tensor import complex_dtype, numpy_boundary, real_dtype
from ..errors import InputError, check_finite, format_shape
from ..noise import Noise
from ..operators.base import Operator
from ..solvers.history import History

Tensor = torch.Tensor

__all__ = ["Problem", "Symmetry"]


@dataclass(frozen=True)
class Symmetry:
    """An exact symmetry of a problem: ``F(image(x)) = measurement(F(x))`` for every truth ``x``,
    the noise keeps its law under ``measurement``, and ``image`` is its own inverse (a
    half turn, a mirror).

    Attributes
    ----------
    name : str
        What it is, e.g. "half turn".
    measurement : callable
        ``y -> y'`` on measurements ``(B, *range_shape)``.
    image : callable
        ``x -> x'`` on images ``(B, *domain_shape)``; an involution.
    """

    name: str
    measurement: Callable[[Tensor], Tensor]
    image: Callable[[Tensor], Tensor]


@dataclass(eq=False)
class Problem:
    """An inverse problem instance, as made by :func:`inverselab.make_problem`.

    Attributes
    ----------
    name : str
        Preset name.
    operator : Operator
        Forward model ``F``.
    noise : Noise
        Measurement noise model.
    truth_sampler : callable
        ``(n, seed, split) -> (n, *operator.domain_shape)`` float64 (or complex128) tensor.
    baseline_fn : callable
        Fast non-iterative reconstruction ``y -> x`` (FBP, zero-filled inverse FFT, ...).
    config : dict
        The preset's parameters after overrides (plain values).
    methods : dict
        Default hyper-parameters of each classical method available for this problem.
    default_method : str
        The method :meth:`reconstruct` uses when none is given.
    data_range : float
        Peak-to-peak range of the ground truth, for PSNR/SSIM (magnitude for complex images).
    value_range : (float, float), optional
        Bounds of the ground-truth values where the physics fixes them (e.g. velocities in
        m/s), for methods that constrain their output (FWI bounds, a network's output map).
    truths : int, optional
        Number of distinct ground truths the sampler gives (e.g. 1 for a fixed real model);
        None: unlimited. ``inverselab solve`` reconstructs no more than this many by default.
    symmetries : tuple of Symmetry
        Exact symmetries of the forward model and the noise (e.g. the half turn of a radio
        sky), over which a reconstruction can be averaged (``evaluate --symmetrize``).
    measured : Tensor, optional
        Measurements without truths ``(N, *range_shape)``: what :meth:`test_data` gives when
        the problem has no truths (``truths == 0``); such runs are scored by the data misfit.
    """

    name: str
    operator: Operator
    noise: Noise
    truth_sampler: Callable[[int, int, str], Tensor]
    baseline_fn: Callable[[Tensor], Tensor]
    config: dict
    methods: dict[str, dict] = field(default_factory=dict)
    default_method: str = "tv"
    data_range: float = 1.0
    value_range: tuple[float, float] | None = None
    truths: int | None = None
    symmetries: tuple[Symmetry, ...] = ()
    measured: Tensor | None = None

    metrics = ("psnr", "ssim", "rel_error")

    def sample_truth(
        self, n: int, seed: int = 0, split: str = "test", dtype: torch.dtype = torch.float32
    ) -> Tensor:
        """Draw ``n`` ground truths ``(n, *domain_shape)``, deterministic per ``seed``.

        Parameters
        ----------
        n : int
            Number of samples.
        seed : int
            Seed; the same seed gives the same samples.
        split : {"train", "validation", "test"}
            Source set where the truths come from a finite pool (natural images, your own data).
        dtype : torch.dtype
            Real precision (complex truths get the matching complex type).
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InputError(f"number of samples must be a positive integer, got {n!r}")
        if split not in ("train", "validation", "test"):
            raise InputError(f"unknown split {split!r}: choose train, validation or test")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
            raise InputError(f"seed must be an integer in [0, 2**63), got {seed!r}")
        x = self.truth_sampler(n, seed, split)
        return x.to(complex_dtype(dtype) if x.is_complex() else dtype)

    @numpy_boundary
    def simulate(self, x: Tensor, seed: int = 0) -> Tensor:
        """Noisy measurements ``noise(F(x))`` with noise drawn from ``seed`` (numpy in, numpy out)."""
        if not isinstance(x, Tensor):
            raise InputError(f"simulate needs the truths as a tensor or numpy array, got {type(x).__name__}")
        check_finite("ground truth x", x)
        with torch.no_grad():
            return self.noise(self.operator(x), seed=seed)

    @numpy_boundary
    def baseline(self, y: Tensor) -> Tensor:
        """The problem's fast non-iterative reconstruction (numpy in, numpy out)."""
        y = self.operator._check(y, self.operator.range_shape, self.operator.range_complex, "measurement")
        check_finite("measurement y", y)
        with torch.no_grad():
            return self.baseline_fn(y)

    def test_data(self, n: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        """Held-out truths (test split, ``seed``) and their measurements (noise ``seed + 1``),
        the pairs every scored run of this problem sees; without truths, ``(None, n measured
        data)`` from the test share of the measurements (never those a network trains on)."""
        if self.truths == 0 and self.measured is not None:
            from ..data.sources import TruthPool

            y = TruthPool(self.measured).sample(n, seed, "test")
            return None, y.to(complex_dtype(dtype) if y.is_complex() else dtype)
        x = self.sample_truth(n, seed=seed, dtype=dtype)
        return x, self.simulate(x, seed=seed + 1)

    def evaluate(self, estimate: Tensor, truth: Tensor | None, interval: tuple[Tensor, Tensor] | None = None,
                 y: Tensor | None = None) -> dict[str, list[float]]:
        """Per-sample PSNR, SSIM (on the problem's data range) and relative error; given a
        central interval ``(low, high)`` (each shaped like the estimate), also the share of
        pixels it covers and its mean width. Without a truth, the relative data misfit
        ``||F(x) - y|| / ||y||`` of each estimate against its measurements ``y``."""
        from ..metrics import psnr, relative_error, ssim

        if truth is None:
            if y is None:
                raise InputError("scoring without a truth needs the measurements y (the data misfit)")
            with torch.no_grad():
                return {"data_misfit": relative_error(self.operator(estimate.detach().to(y)), y, reduction="none").tolist()}

        if estimate.shape != truth.shape:
            raise InputError(
                f"estimate {format_shape(estimate.shape)} and truth {format_shape(truth.shape)} differ in shape"
            )
        est, ref = estimate.detach(), truth.detach()
        if est.is_complex() or ref.is_complex():
            est, ref = est.abs(), ref.abs()
        dt = real_dtype(est.dtype)
        est, ref = est.to(dt), ref.to(dt)
        scores = {
            "psnr": psnr(est, ref, self.data_range, reduction="none").tolist(),
            "ssim": ssim(est, ref, self.data_range, reduction="none").tolist(),
            "rel_error": relative_error(est, ref, reduction="none").tolist(),
        }
        if interval is not None:
            low, high = (t.detach().to(dt) for t in interval)
            scores["coverage"] = ((low <= ref) & (ref <= high)).flatten(1).to(dt).mean(1).tolist()
            scores["interval_width"] = (high - low).flatten(1).mean(1).tolist()
        return scores

    def summarize(self, estimate: Tensor, truth: Tensor, history: History, y: Tensor | None = None) -> dict:
        """The scores of a run for its ``metrics.json``: the mean of each score, their names
        (``scores``), the per-sample values (``per_sample``) and the method's ``history``."""
        scores = self.evaluate(estimate, truth, interval=history.interval, y=y)
        means = {name: float(sum(values) / len(values)) for name, values in scores.items()}
        return {**means, "scores": list(scores), "per_sample": scores, "history": history.as_dict()}

    def kept_arrays(self, truth: Tensor, estimate: Tensor, count: int = 4) -> tuple[str, dict[str, Tensor]]:
        """What a run keeps of its result for reports: the first ``count`` truths and estimates
        (magnitudes of complex images), under the file name ``samples.safetensors``."""

        def real(t: Tensor) -> Tensor:
            t = t[:count].detach().cpu()
            return (t.abs() if t.is_complex() else t).float().contiguous()

        kept = {"estimate": real(estimate)}
        if truth is not None:
            kept["truth"] = real(truth)
        return "samples.safetensors", kept
