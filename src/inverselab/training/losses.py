"""Training losses as objects: ``loss(estimate, truth, y, problem) -> scalar``.

``Supervised`` needs ground truth; ``MeasurementConsistency`` needs only the measurements and
the differentiable forward model (end-to-end training through the physics, no labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError, check_choice, check_nonnegative
from ..metrics import ssim
from ..problems.base import Problem
from ..regularizers import TotalVariation
from .loss import Loss, register_loss, update_part

Tensor = torch.Tensor

__all__ = ["EquivariantImaging", "SampleSplitting", "random_transform", "Supervised", "MeasurementConsistency", "GaussianNLL", "InstanceObjective", "Distillation", "VAELoss"]


@register_loss("supervised", "MSE (+ L1, 1 - SSIM) against the truths")
@dataclass
class Supervised(Loss):
    """``l2 * MSE + l1 * MAE + ssim * (1 - SSIM)`` against the ground truth.

    Errors are measured in units of the problem's data range, so the loss (and with it the
    gradient clipping threshold) has the same scale for images in [0, 1] and for velocities in
    m/s. Complex images enter MSE/MAE through the modulus of the difference and SSIM through
    magnitudes.

    ``weighting`` sets how the images of a batch share the MSE term. ``"pixel"`` averages over
    all pixels, so images with large errors dominate. ``"psnr"`` weights each image's MSE
    ``m_i`` by ``mean(m) / m_i`` (weights held constant): the value is still the batch MSE,
    but the gradient is ``mean(m)`` times that of ``mean_i log m_i``, so training ascends the
    mean PSNR over images, the score the benchmarks report.
    """

    l2: float = 1.0
    l1: float = 0.0
    ssim: float = 0.0
    weighting: str = "pixel"

    def __post_init__(self) -> None:
        for name in ("l2", "l1", "ssim"):
            check_nonnegative(f"loss weight {name}", getattr(self, name))
        if self.l2 + self.l1 + self.ssim == 0:
            raise InputError("supervised loss needs a positive weight on l2, l1 or ssim")
        check_choice("weighting", self.weighting, ("pixel", "psnr"))

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        if truth is None:
            raise InputError("the supervised loss needs ground truth; use the consistency loss without it")
        diff = (estimate - truth).abs() / problem.data_range
        value = estimate.new_zeros((), dtype=diff.dtype)
        if self.l2:
            per_image = diff.square().flatten(1).mean(1)
            if self.weighting == "psnr":
                held = per_image.detach()
                per_image = per_image * (held.mean() / held.clamp_min(torch.finfo(held.dtype).tiny))
            value = value + self.l2 * per_image.mean()
        if self.l1:
            value = value + self.l1 * diff.mean()
        if self.ssim:
            est, ref = (estimate.abs(), truth.abs()) if estimate.is_complex() else (estimate, truth)
            value = value + self.ssim * (1 - ssim(est, ref, problem.data_range))
        return value


@register_loss("consistency", "||F(x) - y||^2 + TV, through the forward model (no truths)")
@dataclass
class MeasurementConsistency(Loss):
    """``0.5 ||F(x) - y||^2 + lam * TV(x)`` per sample, divided by the number of pixels.

    With ``lam`` equal to the problem's TV weight the network learns to minimise the TV
    objective of each measurement (amortised variational reconstruction); no ground truth is
    used. ``lam = None`` takes the problem's tuned TV weight; ``lam = 0`` is pure consistency.
    """

    lam: float | None = None
    needs_truth = False

    def __post_init__(self) -> None:
        if self.lam is not None:
            check_nonnegative("consistency loss lam", self.lam)
        self._tv = TotalVariation()

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        lam = self.lam if self.lam is not None else problem.methods.get("tv", {}).get("lam", 0.0)
        residual = problem.operator(estimate) - y
        value = 0.5 * residual.abs().square().flatten(1).sum(1)
        if lam:
            value = value + lam * self._tv.smooth_value(estimate)
        return value.mean() / estimate[0].numel()


TRANSFORMS = ("rotate", "shift", "flip")


def random_transform(x: Tensor, kind: str, generator: torch.Generator | None = None) -> Tensor:
    """Each image of ``x`` ``(B, C, H, W)`` moved by a random element of a group: ``"rotate"``
    (a quarter turn k = 0..3 times; needs H == W), ``"shift"`` (a circular shift by any number
    of pixels in each direction) or ``"flip"`` (left-right and up-down, each with probability
    1/2). Differentiable in ``x``."""
    check_choice("transformation", kind, TRANSFORMS)
    if x.ndim != 4:
        raise InputError(f"transformations act on images (B, C, H, W), got {tuple(x.shape)}")
    out = []
    for image in x:
        if kind == "rotate":
            if x.shape[-1] != x.shape[-2]:
                raise InputError("rotations need square images: use --loss-option transform=shift or flip")
            k = int(torch.randint(4, (1,), generator=generator))
            out.append(torch.rot90(image, k, dims=(-2, -1)))
        elif kind == "shift":
            dy, dx = (int(v) for v in torch.randint(0, 1 << 30, (2,), generator=generator))
            out.append(torch.roll(image, (dy % x.shape[-2], dx % x.shape[-1]), dims=(-2, -1)))
        else:
            flips = [d for d, flip in zip((-1, -2), torch.rand(2, generator=generator) < 0.5) if flip]
            out.append(torch.flip(image, flips) if flips else image)
    return torch.stack(out)


@register_loss("equivariant", "equivariant imaging: measurement consistency plus invariance under rotations, shifts "
               "or flips (no truths)")
@dataclass
class EquivariantImaging(Loss):
    """Equivariant imaging (Chen, Tachella & Davies 2021): learn from measurements alone when the
    set of images is invariant under a group of transformations ``T_g`` that the forward model
    is not.

    Per batch, with ``x = f(y)`` the network's estimate and ``T_g`` a random transformation,
    ``0.5 ||F(x) - y||^2 + weight * ||f(F(T_g x)) - T_g x||^2``, each divided by the number of
    pixels. The first term fixes the estimate on the range of ``F^H``; the second asks the
    network to be equivariant, which pins down the null space: ``F T_g`` sees what ``F`` misses.

    Attributes
    ----------
    weight : float
        Weight of the equivariance term (1 in the paper).
    transform : {"rotate", "shift", "flip"}
        The group: quarter turns (CT, MRI), circular shifts (inpainting, compressed sensing),
        flips.

    References
    ----------
    D. Chen, J. Tachella and M. E. Davies, "Equivariant imaging: learning beyond the range
    space", ICCV 2021.
    """

    weight: float = 1.0
    transform: str = "rotate"
    needs_truth = False
    needs_model = True

    def __post_init__(self) -> None:
        check_nonnegative("equivariant loss weight", self.weight)
        check_choice("transformation", self.transform, TRANSFORMS)

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem,
                 model: torch.nn.Module | None = None) -> Tensor:
        if model is None:
            raise InputError("the equivariant loss needs the network (the trainer passes it)")
        pixels = estimate[0].numel()
        consistency = 0.5 * (problem.operator(estimate) - y).abs().square().flatten(1).sum(1).mean()
        moved = random_transform(estimate, self.transform)
        again = model(problem.operator(moved).to(y.dtype)).to(moved.dtype)
        equivariance = (again - moved).abs().square().flatten(1).sum(1).mean()
        return (consistency + self.weight * equivariance) / pixels


@dataclass
class _Bound:
    """What a network's ``bind`` reads of a problem: its operator (no baseline)."""

    operator: torch.nn.Module
    baseline_fn: None = None


def _held_out(y: Tensor, mask: Tensor | None, fraction: float) -> Tensor:
    """Where the loss share ``Lambda`` lies, ``(B, ...)`` boolean like ``y``: for a column mask
    (every row alike, as in Cartesian MRI) whole sampled columns, drawn per measurement and kept
    out of the fully sampled centre, so that training inputs are undersampled like the data;
    otherwise single samples. The same locations for every coil."""
    if isinstance(mask, Tensor) and mask.ndim == 2 and bool((mask == mask[:1]).all()):
        columns = mask[0].to(y.device) != 0
        width = columns.numel()
        centre = torch.zeros_like(columns)
        middle = width // 2
        left, right = middle, middle
        while left > 0 and columns[left - 1]:
            left -= 1
        while right < width and columns[right]:
            right += 1
        centre[left:right] = True
        chosen = (torch.rand(y.shape[0], width, device=y.device) < fraction) & columns & ~centre
        return chosen.reshape(y.shape[0], *([1] * (y.ndim - 2)), width).expand(y.shape)
    points = torch.rand(y.shape[0], *y.shape[-2:], device=y.device) < fraction
    return points.reshape(y.shape[0], *([1] * (y.ndim - 3)), *y.shape[-2:]).expand(y.shape)


@register_loss("ssdu", "self-supervised data undersampling: train on part of the sampled data, score on the rest "
               "(no fully sampled data)")
@dataclass
class SampleSplitting(Loss):
    """Self-supervision by splitting the measured samples (SSDU, Yaman et al. 2020): at every
    step the sampled locations of each measurement are split at random into an input share
    ``Theta`` and a loss share ``Lambda`` (whole columns outside the fully sampled centre for a
    Cartesian column mask, single samples otherwise); the network reconstructs from ``y`` on ``Theta`` and
    is scored on how well its estimate predicts ``y`` on ``Lambda``,
    ``||M_Lambda (F(f(M_Theta y)) - y)||^2 / ||M_Lambda y||^2`` over the batch.

    The sampled locations are the forward model's ``mask`` (masked k-space, missing pixels),
    else the non-zero entries of ``y``. An unrolled network with data consistency (``unrolled``,
    ``lpd``; the paper's setting) runs its data consistency on ``Theta`` during training (one
    split per batch, the operator's ``with_mask``) and on all samples when it reconstructs. A
    network after the zero-filled baseline reads zeros as missing; it has no data consistency,
    so what it learns to add for the held-out samples it also adds where they were measured.

    Attributes
    ----------
    fraction : float
        Share of the sampled locations held out for the loss (0.4 in the paper).

    References
    ----------
    B. Yaman, S. A. H. Hosseini, S. Moeller, J. Ellermann, K. Ugurbil and M. Akcakaya,
    "Self-supervised learning of physics-guided reconstruction neural networks without fully
    sampled reference data", Magnetic Resonance in Medicine 84(6), 2020.
    """

    fraction: float = 0.4
    needs_truth = False
    needs_model = True

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1:
            raise InputError(f"ssdu fraction must be in (0, 1), got {self.fraction}")

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem,
                 model: torch.nn.Module | None = None) -> Tensor:
        if model is None:
            raise InputError("the ssdu loss needs the network (the trainer passes it)")
        net = getattr(model, "module", model)
        operator = problem.operator
        mask = getattr(operator, "mask", None)  # where the data were measured (noise may lie elsewhere)
        sampled = (mask.to(y.device) != 0).expand(y.shape) if isinstance(mask, Tensor) else y != 0
        unrolled = isinstance(getattr(net, "operator", None), torch.nn.Module)
        if unrolled and not hasattr(operator, "with_mask"):
            raise InputError(f"the ssdu loss trains unrolled networks on forward models with a sampling mask (MRI); "
                             f"{problem.name} has none: use a network after the baseline (--model unet)")
        # unrolled networks apply data consistency: one split for the batch, their operator on Theta
        held_out = _held_out(y[:1] if unrolled else y, mask, self.fraction).expand(y.shape)
        kept = (sampled & ~held_out).to(y.real.dtype)
        held = (sampled & held_out).to(y.real.dtype)
        if unrolled:
            theta = operator.with_mask(kept[0, 0].to(operator.mask.device))
            theta.__dict__["_norm_cache"] = dict(operator.__dict__.get("_norm_cache", {}))  # same scale as the full data
            net.bind(_Bound(theta))
            try:
                estimate_theta = model(y * kept)
            finally:
                net.bind(problem)
        else:
            estimate_theta = model(y * kept)
        prediction = operator(estimate_theta.to(estimate.dtype))
        error = ((prediction - y) * held).abs().square().sum()
        return error / (y * held).abs().square().sum().clamp_min(1e-30)


@register_loss("gaussian-nll", "Gaussian negative log likelihood of a mean and a standard deviation")
@dataclass
class GaussianNLL(Loss):
    """Negative log likelihood of the truth under the network's diagonal Gaussian,
    ``mean(log std + (truth - mean)^2 / (2 std^2))`` in units of the problem's data range, for
    networks whose forward takes ``return_std`` (e.g.
    :class:`~inverselab.models.GaussianMLP`). Its minimiser is the conditional mean with the
    conditional spread, so the predicted intervals can be calibrated without extra data.
    """

    model_kwargs = {"return_std": True}

    def __call__(self, estimate: tuple[Tensor, Tensor], truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        if truth is None:
            raise InputError("the Gaussian NLL loss needs ground truth")
        if not isinstance(estimate, tuple):
            raise InputError("the gaussian-nll loss needs a network that predicts a standard deviation (e.g. gaussian-mlp)")
        mean, std = (t / problem.data_range for t in estimate)
        return (std.log() + 0.5 * ((truth / problem.data_range - mean) / std).square()).mean()


@register_loss("distill", "match a teacher run's output (--loss-option teacher=RUN)")
@dataclass
class Distillation(Loss):
    """Knowledge distillation: ``MSE(student(y), teacher(y))`` in units of the data range, plus
    ``truth_weight`` times the supervised MSE against the ground truth (0: teacher only, so
    the student also learns from measurements without truths).

    Attributes
    ----------
    teacher : str
        Run directory of the trained teacher (``inverselab train``); it must have been trained
        on the same problem. It runs frozen, in evaluation mode, on the student's device.
    truth_weight : float
        Weight of the supervised term.
    symmetrize : bool
        Average the teacher over its problem's exact symmetries
        (:class:`~inverselab.models.Symmetrized`), so that a single network pass of the
        student learns what the teacher achieves with one pass per symmetry.
    """

    teacher: str = ""
    truth_weight: float = 0.0
    symmetrize: bool = False

    def __post_init__(self) -> None:
        from ..models.symmetry import Symmetrized
        from ..models.trained import load_run

        if not self.teacher:
            raise InputError("the distill loss needs a teacher run: --loss-option teacher=RUN")
        check_nonnegative("truth_weight", self.truth_weight)
        trained = load_run(self.teacher)
        network = Symmetrized(trained.network, trained.problem.symmetries) if self.symmetrize else trained.network
        self._network = network.eval().requires_grad_(False)
        self.needs_truth = self.truth_weight > 0

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        self._network.to(estimate.device)
        with torch.no_grad():
            target = self._network(y).to(estimate.dtype)
        value = ((estimate - target).abs() / problem.data_range).square().mean()
        if self.truth_weight:
            value = value + self.truth_weight * ((estimate - truth).abs() / problem.data_range).square().mean()
        return value


@register_loss("objective", "the summed per-instance losses of a joint-optimisation problem (no truths)")
@dataclass
class InstanceObjective(Loss):
    """The mean of each instance's own loss ``L_i(estimate_i)`` (joint-optimisation problems):
    training a network on it minimises the summed losses of many instances at once, with no
    labels (Holl & Thuerey 2024)."""

    needs_truth = False

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        objective = getattr(problem, "objective", None)
        if objective is None:
            raise InputError(f"the objective loss needs a problem with per-instance losses (joint-*); {problem.name} has none")
        return objective(estimate, y).mean()


@register_loss("vae", "reconstruction + beta KL on the truths (variational autoencoder)")
@dataclass
class VAELoss(Loss):
    """Negative evidence lower bound of a :class:`~inverselab.models.generative.VAE` on the truths
    (the measurements are not used): per image,
    ``(||G(z) - x||^2 + beta * KL(q(z | x) || N(0, I))) / pixels`` with ``z = mu + sigma * eps``
    (reparameterised) and errors in units of the problem's data range.

    ``beta`` is twice the variance of a Gaussian decoder, per pixel: smaller values give
    sharper images and a decoder range closer to the training images, at the price of
    latents that follow ``N(0, I)`` less closely.

    The loss runs its own optimisation step (:meth:`step`, the trainer's protocol for losses
    that drive parts of the model themselves), since the encoder needs the truths, which the
    trainer never passes to a model.

    Attributes
    ----------
    beta : float
        Weight of the KL term.
    """

    beta: float = 0.005
    own_step = True

    def __post_init__(self) -> None:
        check_nonnegative("vae loss beta", self.beta)

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        raise InputError("the vae loss trains an encoder and a decoder on the truths: use it with model 'vae'")

    @staticmethod
    def param_groups(model: torch.nn.Module) -> list[dict]:
        """One parameter group: encoder and decoder train together."""
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]

    @staticmethod
    def check_model(model: torch.nn.Module) -> None:
        """Refuse models without an encoder and a decoder."""
        if not hasattr(model, "encode") or not hasattr(model, "decode"):
            raise InputError("the vae loss needs a model with encode and decode (model 'vae')")

    def terms(self, model: torch.nn.Module, truth: Tensor, data_range: float = 1.0) -> tuple[Tensor, Tensor]:
        """Per-image reconstruction error and KL divergence, each ``(B,)`` divided by the pixels."""
        self.check_model(model)
        x = truth.to(model.project.weight.dtype) / data_range
        mu, log_var = model.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()
        pixels = x[0].numel()
        recon = (model.decode(z) - x).square().flatten(1).sum(1) / pixels
        kl = 0.5 * (mu.square() + log_var.exp() - 1 - log_var).sum(1) / pixels
        return recon, kl

    def step(self, model: torch.nn.Module, y: Tensor, truth: Tensor, optimizer: torch.optim.Optimizer,
             clip: float) -> Tensor:
        """One optimisation step on a batch of truths ``(B, C, H, W)``; returns the loss."""
        recon, kl = self.terms(model, truth)
        loss = (recon + self.beta * kl).mean()
        update_part(loss, model, optimizer, clip, "vae")
        return loss.detach()
