"""Acoustic-impedance inversion of post-stack seismic data (regularised least squares).

The forward models are :class:`~inverselab.operators.seismic.PoststackLinear` (on the
log-impedance ``m = ln Z``) and :class:`~inverselab.operators.seismic.Poststack` (exact
reflection coefficients). Both are blind to constants and, through the band-limited wavelet, to
the low frequencies of ``m``, so an inversion starts from a smooth background model ``m0``
(in practice from well logs and velocity analysis; here, as is common in tutorials, a heavily
smoothed version of the true model, :func:`smooth_background`) and, for the quadratic
regularisers, penalises the update ``m - m0``:

    min_m  ||F(m) - d||^2 / 2  +  lam R(m - m0).

:func:`invert_impedance` solves it with the project's solvers: conjugate gradients on the
Tikhonov normal equations or PDHG for total variation (linear model), or L-BFGS through
autograd (nonlinear model). Total variation regularises ``m`` itself rather than the update
(see :func:`invert_impedance`). :func:`poststack_synthetic` builds the standard synthetic test from
a velocity section such as ``shared/data/seismic/poststack_model.npz``
(:func:`read_poststack_model`): Gardner density, impedance, a Ricker wavelet at ``dt = 4 ms``
with the depth samples taken as time samples (the usual tutorial shortcut, which skips the
depth-to-time conversion), and seeded Gaussian noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._tensor import batch_norm, generator
from ..data.io import check_file
from ..errors import InputError, check_choice, check_count, check_finite, check_nonnegative, check_positive, format_shape
from ..metrics import psnr
from ..operators.base import Operator
from ..operators.seismic import Poststack, PoststackLinear, acoustic_impedance, zero_phase_ricker
from ..regularizers import Tikhonov, TotalVariation
from ..solvers.history import History, prepare
from ..solvers.linear import tikhonov
from ..solvers.nonlinear import minimize
from ..solvers.proximal import tv_pdhg

Tensor = torch.Tensor

__all__ = [
    "PoststackModel",
    "ImpedanceProblem",
    "read_poststack_model",
    "smooth_background",
    "invert_impedance",
    "poststack_synthetic",
    "impedance_metrics",
    "fit_tracewise",
]

REGULARIZERS = ("smoothness", "tikhonov", "tv")


@dataclass
class PoststackModel:
    """A velocity section read by :func:`read_poststack_model`.

    Attributes
    ----------
    vp : Tensor
        P-wave velocity ``(nz, nx)`` float64 in **km/s** (as stored), ``[iz, ix]``, row 0 on top.
    x, z : Tensor
        Lateral and depth coordinates ``(nx,)`` and ``(nz,)`` in metres.
    """

    vp: Tensor
    x: Tensor
    z: Tensor


def read_poststack_model(path: str | Path) -> PoststackModel:
    """Read ``poststack_model.npz`` (keys ``model`` (nz, nx) km/s, ``x`` (nx,), ``z`` (nz,) m).

    The file is opened without pickles; a missing, corrupt or inconsistent file raises
    :class:`~inverselab.errors.InputError`.
    """
    path = check_file(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise InputError(f"{path} holds a single array; expected an .npz archive with model, x and z")
            missing = [k for k in ("model", "x", "z") if k not in archive.files]
            if missing:
                raise InputError(
                    f"{path} lacks {', '.join(missing)}: expected keys model, x, z (it holds {archive.files})"
                )
            model, x, z = (np.asarray(archive[k]) for k in ("model", "x", "z"))
    except InputError:
        raise
    except Exception as exc:  # numpy raises several kinds on corrupt or pickled files
        raise InputError(f"cannot read {path} as an .npz archive ({type(exc).__name__}: {exc})") from None
    if model.ndim != 2 or model.dtype.kind not in "fiu":
        raise InputError(f"{path}: model must be a 2-D numeric array (nz, nx), got {model.dtype} {model.shape}")
    if x.shape != (model.shape[1],) or z.shape != (model.shape[0],):
        raise InputError(
            f"{path}: x {x.shape} and z {z.shape} do not match model {model.shape} (expected (nx,) and (nz,))"
        )
    vp = torch.from_numpy(model.astype(np.float64))
    check_finite(f"{path}: model", vp)
    if float(vp.min()) <= 0:
        raise InputError(f"{path}: velocities must be > 0, got a minimum of {float(vp.min()):.6g}")
    return PoststackModel(vp, torch.from_numpy(x.astype(np.float64)), torch.from_numpy(z.astype(np.float64)))


def _gaussian_along(x: Tensor, sigma: float, dim: int) -> Tensor:
    if sigma == 0 or x.shape[dim] == 1:
        return x
    radius = max(1, math.ceil(4 * sigma))
    r = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (r / sigma) ** 2)
    kernel = (kernel / kernel.sum()).reshape(1, 1, -1)
    moved = x.movedim(dim, -1)
    n = moved.shape[-1]
    flat = F.pad(moved.reshape(-1, 1, n), (radius, radius), mode="replicate")
    return F.conv1d(flat, kernel).reshape(moved.shape).movedim(-1, dim).contiguous()


def smooth_background(m: Tensor, sigma: float, sigma_x: float = 0.0) -> Tensor:
    """Gaussian-smoothed background model of batches ``(B, nt)`` or ``(B, nt, nx)``.

    Parameters
    ----------
    m : Tensor
        Model batch (e.g. the true log-impedance), time/depth along axis 1.
    sigma : float
        Standard deviation in samples along time/depth (>= 0; 0 leaves that axis alone).
        With a Ricker wavelet of peak frequency ``f`` at interval ``dt``, ``sigma`` of about
        ``0.2 / (f dt)`` samples keeps mainly the frequencies below the wavelet's band.
    sigma_x : float
        Standard deviation in traces along axis 2 (>= 0).

    The edges are extended by replication, so a linear trend is kept away from the ends.
    """
    check_nonnegative("sigma", sigma)
    check_nonnegative("sigma_x", sigma_x)
    if not isinstance(m, Tensor) or m.ndim not in (2, 3) or not m.is_floating_point():
        got = format_shape(m.shape) if isinstance(m, Tensor) else type(m).__name__
        raise InputError(f"smooth_background expects a real batch (B, nt) or (B, nt, nx), got {got}")
    check_finite("model", m)
    out = _gaussian_along(m, float(sigma), 1)
    if m.ndim == 3:
        out = _gaussian_along(out, float(sigma_x), 2)
    return out


def _operators(op: Operator) -> tuple[PoststackLinear, Tensor]:
    if isinstance(op, (PoststackLinear, Poststack)):
        if len(op.domain_shape) > 2:
            raise InputError(
                f"invert_impedance handles traces (nt,) and sections (nt, nx), got {format_shape(op.domain_shape)}: "
                "invert each inline of a cube separately"
            )
        return op, op.wavelet
    raise InputError(
        f"invert_impedance needs a PoststackLinear or Poststack operator, got {type(op).__name__}"
    )


def invert_impedance(
    op: PoststackLinear | Poststack,
    d: Tensor,
    m0: Tensor,
    *,
    lam: float,
    reg: str = "smoothness",
    iters: int = 100,
    nonlinear: bool = False,
    tol: float | None = None,
    truth: Tensor | None = None,
) -> tuple[Tensor, History]:
    """Regularised post-stack inversion for the log-impedance ``m = ln Z``.

    Solves ``min_m ||F(m) - d||^2 / 2 + lam R(m)`` where ``F`` is the linearised model
    ``W D m / 2`` (``nonlinear=False``) or the exact one ``W tanh(D m / 2)`` (``nonlinear=True``,
    :class:`Poststack` with ``log=True``), both with the wavelet and shape of ``op``, from the
    start ``m0``. The quadratic regularisers act on the update ``m - m0`` (they keep the
    background's low frequencies, which the data do not constrain); total variation acts on
    ``m`` itself (the blocky prior is about the model: on ``m - m0`` it would favour updates
    that cancel the background's smooth trend).

    Parameters
    ----------
    op : PoststackLinear or Poststack
        Supplies the shape ``(nt,)`` or ``(nt, nx)`` and the wavelet; either kind can be used
        for either path.
    d : Tensor
        Seismic data ``(B, *shape)``.
    m0 : Tensor
        Background (starting) log-impedance ``(B, *shape)``, e.g. from
        :func:`smooth_background`; it supplies the frequencies the data lack.
    lam : float
        Regularisation weight (>= 0), in units of the squared data amplitude per squared
        log-impedance (it scales with the wavelet's amplitude squared).
    reg : {"smoothness", "tikhonov", "tv"}
        ``R(m)``: ``||grad (m - m0)||^2 / 2`` (forward differences along time and traces),
        ``||m - m0||^2 / 2``, or the isotropic total variation ``TV(m)`` (blocky models;
        smoothed with ``eps = 1e-3`` on the nonlinear path). TV needs more iterations
        (hundreds to thousands of PDHG steps) than the quadratic regularisers.
    iters : int
        Maximum iterations: CG (Tikhonov), PDHG (TV) or L-BFGS (nonlinear path, each with a
        line search of up to 25 evaluations).
    nonlinear : bool
        Use the exact reflection coefficients (L-BFGS through autograd, from ``m0``).
    tol : float, optional
        Stopping tolerance of the solver (CG: relative residual, default 1e-6; PDHG and
        L-BFGS: relative change of the iterate, default 1e-6 and 1e-9).
    truth : Tensor, optional
        True log-impedance ``(B, *shape)`` for the PSNR history (data range: its range).

    Returns
    -------
    m : Tensor
        Estimated log-impedance ``(B, *shape)``; ``m.exp()`` is the impedance in the unit
        of ``exp(m0)``.
    history : History
        The solver's history (its PSNR is that of ``m``; the Tikhonov path solves for the
        update, so its objective and criterion refer to the update's normal equations).
    """
    op, wavelet = _operators(op)
    shape = op.domain_shape
    linear = PoststackLinear(shape, wavelet)
    if not isinstance(m0, Tensor):
        raise InputError(f"m0 (the background log-impedance) must be a tensor (B, *shape), got {type(m0).__name__}")
    d = prepare(linear, d, truth, m0)
    check_nonnegative("lam", lam)
    check_choice("impedance regulariser", reg, REGULARIZERS)
    if tol is not None:
        check_nonnegative("tol", tol)
    m0 = m0.to(d.dtype)
    if len(shape) == 1:  # one trace: a (nt, 1) section, so that the gradient runs along time
        shape2 = (shape[0], 1)
        squeeze = True
        d, m0 = d[..., None], m0[..., None]
        truth = truth[..., None] if truth is not None else None
        linear = PoststackLinear(shape2, wavelet)
    else:
        shape2, squeeze = shape, False
    data_range = None
    if truth is not None:
        truth = truth.to(d.dtype)
        flat = truth.reshape(truth.shape[0], -1)
        data_range = max(float((flat.amax(1) - flat.amin(1)).max()), torch.finfo(d.dtype).tiny)

    if not nonlinear:
        if reg == "tv":
            m, history = tv_pdhg(  # residual balancing suits this short convolution best
                linear, d, lam, iters=iters, tol=1e-6 if tol is None else tol, x0=m0, truth=truth,
                data_range=data_range, adaptive=True, step_ratio=1.0,
            )
        else:
            residual = d - linear(m0)
            kind = "gradient" if reg == "smoothness" else "identity"
            delta, history = tikhonov(
                linear, residual, lam, reg=kind, method="cg", iters=iters, tol=1e-6 if tol is None else tol,
                truth=truth - m0 if truth is not None else None, data_range=data_range,
            )
            m = m0 + delta
    else:
        exact = Poststack(shape2, wavelet, log=True)
        if reg == "tv":
            penalty = TotalVariation().smooth_value
        else:
            value = Tikhonov("gradient" if reg == "smoothness" else "identity").value
            background = m0.detach()

            def penalty(x: Tensor) -> Tensor:
                return value(x - background)

        m, history = minimize(
            exact, d, m0, lam, reg=penalty, method="lbfgs", iters=iters, tol=1e-9 if tol is None else tol,
            truth=truth, data_range=data_range,
        )
    return (m[..., 0] if squeeze else m), history


@dataclass
class ImpedanceProblem:
    """A synthetic post-stack inversion test (see :func:`poststack_synthetic`).

    Attributes
    ----------
    operator : PoststackLinear
        Linearised model on ``(nt, nx)`` log-impedance.
    exact : Poststack
        The model that made the data (impedance in m/s * g/cm^3).
    impedance : Tensor
        True impedance ``(1, nt, nx)`` in m/s * g/cm^3.
    log_impedance : Tensor
        Its natural log (the inversion unknown).
    background : Tensor
        Starting model ``m0`` (smoothed ``log_impedance``).
    clean, data : Tensor
        Noise-free and noisy data ``(1, nt, nx)``.
    wavelet : Tensor
        The zero-phase Ricker wavelet.
    dt, frequency, noise_std : float
        Sampling interval (s), peak frequency (Hz) and standard deviation of the added noise.
    """

    operator: PoststackLinear
    exact: Poststack
    impedance: Tensor
    log_impedance: Tensor
    background: Tensor
    clean: Tensor
    data: Tensor
    wavelet: Tensor
    dt: float
    frequency: float
    noise_std: float


def poststack_synthetic(
    vp: Tensor,
    *,
    frequency: float = 20.0,
    dt: float = 0.004,
    noise: float = 0.1,
    seed: int = 0,
    sigma: float = 10.0,
    sigma_x: float = 0.0,
    rho: Tensor | None = None,
) -> ImpedanceProblem:
    """Synthetic post-stack data from a velocity section.

    Impedance ``Z = vp * rho`` (Gardner density unless ``rho`` is given), data from the exact
    model :class:`Poststack` with a zero-phase Ricker wavelet, plus white Gaussian noise. The
    depth samples are used as time samples at ``dt`` (no depth-to-time conversion, as in most
    tutorials); with a 4 m grid and 4 ms sampling this corresponds to a velocity of 2 km/s
    two-way.

    Parameters
    ----------
    vp : Tensor
        Velocity ``(nt, nx)`` or ``(nt,)`` in **m/s** (multiply km/s models by 1000).
    frequency : float
        Ricker peak frequency in Hz.
    dt : float
        Sampling interval in seconds.
    noise : float
        Noise standard deviation relative to the RMS of the clean data (>= 0).
    seed : int
        Seed of the noise.
    sigma, sigma_x : float
        Smoothing of the background model in samples along time and traces
        (:func:`smooth_background`).
    rho : Tensor, optional
        Density in g/cm^3 shaped like ``vp`` (default: Gardner).
    """
    if not isinstance(vp, Tensor) or vp.ndim not in (1, 2) or not vp.is_floating_point():
        got = format_shape(vp.shape) if isinstance(vp, Tensor) else type(vp).__name__
        raise InputError(f"vp must be a real tensor (nt, nx) or (nt,) in m/s, got {got}")
    check_finite("velocity", vp)
    if float(vp.max()) < 20:
        raise InputError(
            f"velocity peaks at {float(vp.max()):.4g}: it looks like km/s; pass m/s (multiply by 1000)"
        )
    check_positive("frequency", frequency)
    check_positive("dt", dt)
    check_nonnegative("noise", noise)
    vp = vp.to(torch.float64)
    z = acoustic_impedance(vp, rho if rho is None else torch.as_tensor(rho, dtype=torch.float64))
    if tuple(z.shape) != tuple(vp.shape):
        raise InputError(f"rho {format_shape(rho.shape)} must match vp {format_shape(vp.shape)}")
    wavelet = zero_phase_ricker(frequency, dt)
    shape = tuple(vp.shape)
    exact = Poststack(shape, wavelet)
    z = z[None]
    m = z.log()
    with torch.no_grad():
        clean = exact(z)
    noise_std = float(noise) * float(clean.square().mean().sqrt())
    g = generator(seed)
    data = clean + noise_std * torch.randn(clean.shape, generator=g, dtype=clean.dtype)
    background = smooth_background(m, sigma, sigma_x)
    return ImpedanceProblem(
        operator=PoststackLinear(shape, wavelet),
        exact=exact,
        impedance=z,
        log_impedance=m,
        background=background,
        clean=clean,
        data=data,
        wavelet=wavelet,
        dt=float(dt),
        frequency=float(frequency),
        noise_std=noise_std,
    )


def impedance_metrics(m: Tensor, m_true: Tensor, m0: Tensor | None = None) -> dict[str, float]:
    """Errors of a log-impedance estimate (means over the batch).

    Returns
    -------
    dict
        ``rel_error_impedance`` ``||e^m - Z|| / ||Z||`` (unit-free), ``rel_error_log``
        ``||m - ln Z|| / ||ln Z||`` (depends on the impedance unit through ``ln``),
        ``psnr_impedance`` and ``psnr_log`` in dB (data range: the truth's range), and with
        ``m0`` the ``error_fraction`` ``||m - ln Z|| / ||m0 - ln Z||`` (1 for the start model,
        unit-free).
    """
    if tuple(m.shape) != tuple(m_true.shape):
        raise InputError(f"estimate {format_shape(m.shape)} and truth {format_shape(m_true.shape)} differ in shape")
    if m.ndim < 2:
        raise InputError(f"impedance_metrics expects batches (B, ...), got {format_shape(m.shape)}")
    m, m_true = m.detach().to(torch.float64), m_true.detach().to(torch.float64)
    z, z_true = m.exp(), m_true.exp()
    out = {
        "rel_error_impedance": float((batch_norm(z - z_true) / batch_norm(z_true)).mean()),
        "rel_error_log": float((batch_norm(m - m_true) / batch_norm(m_true)).mean()),
        "psnr_impedance": float(psnr(z, z_true)),
        "psnr_log": float(psnr(m, m_true)),
    }
    if m0 is not None:
        if tuple(m0.shape) != tuple(m.shape):
            raise InputError(f"m0 {format_shape(m0.shape)} must match the estimate {format_shape(m.shape)}")
        start = batch_norm(m0.detach().to(torch.float64) - m_true).clamp(min=torch.finfo(torch.float64).tiny)
        out["error_fraction"] = float((batch_norm(m - m_true) / start).mean())
    return out


def fit_tracewise(
    net: nn.Module,
    problem: ImpedanceProblem,
    columns: Sequence[int] | Tensor,
    *,
    steps: int = 1500,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool | None = None,
) -> list[float]:
    """Train a trace-wise network (:class:`~inverselab.models.tracewise.TraceNet`) on some traces.

    Training pairs are the traces of ``columns``: the noise-free data plus fresh Gaussian noise
    of the problem's level at every step (so the network never sees the test noise), the
    background ``m0`` and the true log-impedance. Adam with a cosine schedule, mean squared
    error of the log-impedance. Sets ``net.data_scale`` to the RMS of the training data.

    Parameters
    ----------
    net : nn.Module
        ``net(data, background) -> log-impedance`` on ``(B, nt)`` traces.
    problem : ImpedanceProblem
        The synthetic test (:func:`poststack_synthetic`) whose traces train the network.
    columns : sequence of int
        Trace indices used for training (keep the test traces out).
    steps, batch, lr : int, int, float
        Optimisation steps, traces per step and Adam's peak learning rate.
    seed : int
        Seed of the trace draws and the noise.
    progress : bool, optional
        Show a progress bar (default: when the output is a terminal).

    Returns
    -------
    list of float
        The training loss of every step.
    """
    from ..solvers.history import progress_bar

    cols = torch.as_tensor(columns, dtype=torch.long)
    nx = problem.clean.shape[-1]
    if cols.ndim != 1 or cols.numel() == 0 or int(cols.min()) < 0 or int(cols.max()) >= nx:
        raise InputError(f"columns must be trace indices in [0, {nx}), got {cols.tolist()[:5]}...")
    for name, value in (("steps", steps), ("batch", batch)):
        check_count(name, value)
    check_positive("lr", lr)
    clean, m_true, m0 = (t[0][:, cols].T.contiguous() for t in (problem.clean, problem.log_impedance, problem.background))
    dtype = next(net.parameters()).dtype
    with torch.no_grad():
        net.data_scale.fill_(float(clean.square().mean().sqrt()))
    g = generator(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses = []
    bar = progress_bar(steps, "trace-wise training", show=progress, leave=False)
    net.train()
    for _ in range(steps):
        pick = torch.randint(cols.numel(), (batch,), generator=g)
        noisy = clean[pick] + problem.noise_std * torch.randn(clean[pick].shape, generator=g, dtype=clean.dtype)
        loss = (net(noisy.to(dtype), m0[pick].to(dtype)) - m_true[pick].to(dtype)).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3g}", refresh=False)
    if bar is not None:
        bar.close()
    net.eval()
    return losses
