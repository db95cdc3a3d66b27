"""Gravity inversion: depth-weighted Tikhonov and compact (minimum-support) density models.

:func:`invert_gravity` recovers a density-contrast model ``m`` (kg/m³) from gravity data ``g``
(mGal) with standard deviations ``sigma`` by minimising

``||(G m - g) / sigma||² + lam ||W m||²``

exactly (eigen-decomposition of the small ``n_obs x n_obs`` matrix ``A A^T`` of the weighted
kernel ``A``), with ``lam`` chosen by the discrepancy principle (``chi²/N = 1``) unless given.
``W`` is diagonal: the depth weight of Li & Oldenburg (1998) and, for ``method="compact"``,
the minimum-support weight of Last & Kubik (1983) and Portniaguine & Zhdanov (1999) updated by
iteratively reweighted least squares.
Optional density bounds are enforced by an active set: cells that leave the bounds are fixed at
them and the others re-solved against the remaining residual (and, in the reweighting
iterations, stay fixed, as in Portniaguine & Zhdanov).

:func:`invert_hartousov` runs it on the real ground gravity profile over the Hartoušov mofette
(Eger Rift; ``potential_fields/hartousov.txt``, see ``read_gravity_profile``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..data.io import check_file
from ..errors import InputError, check_choice, check_positive, format_shape
from ..operators.base import LinearOperator
from ..operators.gravity import Gravity2D, _DenseGravity, depth_weighting

Tensor = torch.Tensor

__all__ = [
    "HARTOUSOV_BOUNDS",
    "HARTOUSOV_NOISE_MGAL",
    "GravityInversion",
    "GravityProfileFit",
    "invert_gravity",
    "invert_hartousov",
    "profile_mesh",
    "profile_noise_estimate",
    "read_gravity_profile",
]

HARTOUSOV_NOISE_MGAL = 0.05
"""Assumed standard deviation of the Hartoušov gravity data, mGal.

The file states no uncertainty. The random scatter of the data about a smooth curve is small:
:func:`profile_noise_estimate` (local quadratics over 5-9 neighbouring stations, robust
standard deviation) gives 0.013-0.014 mGal, in line with the repeatability of modern relative
gravimeters (0.005-0.02 mGal). That scatter does not see the errors that are smooth along the
profile: elevation and terrain corrections of a Bouguer anomaly (1 cm of height is 0.002 mGal,
terrain corrections are uncertain by a few 0.01 mGal) and the 3-D geology off the profile that
a 2-D section cannot represent. 0.05 mGal (about 3.5 times the scatter) budgets for them, so
that a model fitting to ``chi²/N = 1`` does not put structure into those errors.

No regional trend is removed: the profile starts (+1.2 mGal) and ends (-0.35 mGal) near zero
around a -9.4 mGal low, so the anomaly is local, and a linear trend fitted to it would remove
part of the signal; the lateral padding cells of the mesh absorb long wavelengths.
"""

HARTOUSOV_BOUNDS = (-600.0, 300.0)
"""Density-contrast bounds (kg/m³) of the compact Hartoušov inversion.

Relative to a crystalline basement of phyllites and granite (about 2.6-2.7 g/cm³), the
Tertiary and Quaternary clays and sands of the Cheb Basin (1.9-2.3 g/cm³) and fractured,
CO2-bearing rock give contrasts down to about -600 kg/m³; +300 kg/m³ allows denser
metamorphic rocks. An assumption from typical densities, not from measurements at the site.
"""


# -- reading -----------------------------------------------------------------------------------------
def read_gravity_profile(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a two-column gravity profile: position ``x`` (m) and anomaly ``g`` (mGal).

    The format of ``hartousov.txt``: comment lines starting with ``#`` (the header
    ``# x g``), then one station per line, two numbers separated by whitespace.

    Parameters
    ----------
    path : str or Path
        The text file.

    Returns
    -------
    x, g : ndarray, shape (n,)
        float64 positions (m) and gravity values (mGal), in file order.

    Raises
    ------
    InputError
        Missing or unreadable file, a line that is not two numbers, fewer than two stations,
        NaN/infinite values or repeated positions.
    """
    path = check_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file: expected two columns 'x g'") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) != 2:
            raise InputError(f"{path}:{number}: expected 2 columns 'x g', got {len(parts)}: {stripped[:60]!r}")
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise InputError(f"{path}:{number}: cannot read two numbers from {stripped[:60]!r}") from None
    if len(rows) < 2:
        raise InputError(f"{path} holds {len(rows)} stations: a profile needs at least 2 lines 'x g'")
    data = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(data).all():
        raise InputError(f"{path} holds {int((~np.isfinite(data)).sum())} NaN or infinite values")
    x, g = data[:, 0].copy(), data[:, 1].copy()
    if np.unique(x).size != x.size:
        raise InputError(f"{path} repeats {x.size - np.unique(x).size} station positions: average them first")
    return x, g


def profile_noise_estimate(x: np.ndarray, g: np.ndarray, window: int = 5) -> float:
    """Robust estimate of the noise standard deviation of a profile from its local scatter.

    Fits a quadratic to each run of ``window`` consecutive stations (sorted by ``x``), takes
    the residual of the middle station divided by ``sqrt(1 - h)`` (``h`` its leverage, so a
    pure-noise residual has the noise variance), and returns ``1.4826 * median(|r|)``. Signal
    curvature that a local quadratic cannot follow inflates it, so it is an upper estimate
    where the stations are sparse relative to the anomaly's wavelengths.

    Parameters
    ----------
    x, g : array_like, shape (n,)
        Positions and values; ``n >= window``.
    window : int
        Odd number of stations per local fit (>= 5).
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    if not isinstance(window, int) or window < 5 or window % 2 == 0:
        raise InputError(f"window must be an odd integer >= 5, got {window!r}")
    if x.shape != g.shape or x.ndim != 1 or x.size < window:
        raise InputError(f"x and g must be 1-D of equal length >= {window}, got {x.shape} and {g.shape}")
    order = np.argsort(x)
    x, g = x[order], g[order]
    half = window // 2
    scaled = []
    for c in range(half, x.size - half):
        t = x[c - half : c + half + 1] - x[c]
        design = np.stack([np.ones_like(t), t, t * t], axis=1) / np.array([1.0, np.ptp(t), np.ptp(t) ** 2])
        hat_row = design[half] @ np.linalg.pinv(design)
        r = g[c] - hat_row @ g[c - half : c + half + 1]
        scaled.append(r / math.sqrt(max(1.0 - hat_row[half], 1e-12)))
    return float(1.4826 * np.median(np.abs(scaled)))


# -- inversion --------------------------------------------------------------------------------------
@dataclass
class GravityInversion:
    """Result of :func:`invert_gravity`.

    Attributes
    ----------
    model : Tensor
        Density contrast, kg/m³, float64 on the CPU, with the operator's domain shape, e.g.
        ``(nz, nx)``.
    predicted : Tensor
        Predicted data ``G m``, mGal, ``(n_obs,)``.
    chi2 : float
        Normalised misfit ``chi²/N = ||(G m - g) / sigma||² / N``.
    lam : float
        Regularisation weight of the last solve.
    iterations : int
        Number of weighted solves (1 for Tikhonov; reweighting iterations for compact).
    method : str
        ``"tikhonov"`` or ``"compact"``.
    seconds : float
        Wall-clock time of the inversion.
    history : list of dict
        Per weighted solve: ``chi2``, ``lam``, ``change`` (relative model change),
        ``at_bounds`` (cells fixed at a bound) and ``solves`` (active-set rounds).
    """

    model: Tensor
    predicted: Tensor
    chi2: float
    lam: float
    iterations: int
    method: str
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def _kernel(op: LinearOperator) -> Tensor:
    """Dense float64 matrix ``(n_obs, n_cells)`` of a linear operator with a 1-D range."""
    if isinstance(op, _DenseGravity):
        return op.matrix.detach().to("cpu", torch.float64)
    if not isinstance(op, LinearOperator) or len(op.range_shape) != 1 or op.domain_complex or op.range_complex:
        raise InputError(f"invert_gravity needs a real LinearOperator with data of shape (n_obs,), got {op!r}")
    n = op.range_shape[0]
    with torch.no_grad():
        rows = op.adjoint(torch.eye(n, dtype=torch.float64, device=op._device()))  # A^T e_i = row i
    return rows.reshape(n, -1).to("cpu", torch.float64)


def _as_vector(name: str, value, n: int) -> Tensor:
    t = torch.as_tensor(np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=np.float64))
    if t.ndim == 0:
        t = t.expand(n).clone()
    if t.ndim == 2 and t.shape[0] == 1:
        t = t[0]
    if tuple(t.shape) != (n,):
        raise InputError(f"{name} must have shape ({n},) like the operator's range, got {format_shape(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{name} holds NaN or infinite values")
    return t


def _discrepancy_solve(a: Tensor, d: Tensor, lam: float | None, target: float, n: int) -> tuple[Tensor, float]:
    """Minimiser ``u`` of ``||a u - d||² + lam ||u||²`` by the eigen-decomposition of
    ``a a^T`` (or the SVD of ``a`` when it is tall); ``lam`` by bisection on
    ``log lam`` so that ``||a u - d||² / n = target`` when not given (the smallest/largest
    ``lam`` of the bracket when the target is out of reach)."""
    if a.shape[1] == 0:
        return a.new_zeros(0), float("nan") if lam is None else lam
    wide = a.shape[0] <= a.shape[1]
    if wide:  # eigen-decomposition of the small a a^T = U diag(s²) U^T (n x n)
        s2, u_mat = torch.linalg.eigh(a @ a.T)
        s2, u_mat = s2.flip(0).clamp_min(0.0), u_mat.flip(1)
        outside = 0.0
        beta = u_mat.T @ d
    else:
        u_mat, s, vh = torch.linalg.svd(a, full_matrices=False)
        s2 = s * s
        beta = u_mat.T @ d
        outside = max(float(d @ d - beta @ beta), 0.0)

    def chi2(log_lam: float) -> float:
        f = math.exp(log_lam) / (s2 + math.exp(log_lam))
        return (float(((f * beta) ** 2).sum()) + outside) / n

    if lam is None:
        top = float(s2[0]) if s2.numel() and float(s2[0]) > 0 else 1.0
        lo, hi = math.log(top) - 35.0, math.log(top) + 25.0
        if chi2(lo) >= target:
            log_lam = lo
        elif chi2(hi) <= target:
            log_lam = hi
        else:
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if chi2(mid) < target else (lo, mid)
                if hi - lo < 1e-12:
                    break
            log_lam = 0.5 * (lo + hi)
        lam = math.exp(log_lam)
    # u = a^T (a a^T + lam I)^{-1} d, written in the eigenbasis
    u = a.T @ (u_mat @ (beta / (s2 + lam))) if wide else vh.T @ (s / (s2 + lam) * beta)
    return u, lam


def _bounded_solve(
    gmat: Tensor,
    g: Tensor,
    sigma: Tensor,
    w: Tensor,
    lam: float | None,
    target: float,
    bounds: tuple[float, float] | None,
    start: Tensor | None = None,
    max_rounds: int = 50,
) -> tuple[Tensor, float, Tensor, int]:
    """Weighted Tikhonov with an active set for the bounds.

    Cells of ``start`` that sit at a bound (a previous model) stay fixed there; cells that
    leave the bounds are fixed at them and the free cells re-solved against the remaining
    residual, until none leaves. Returns ``(m, lam, fixed mask, solves)``.
    """
    n, cells = gmat.shape
    m = torch.zeros(cells, dtype=torch.float64)
    free = torch.ones(cells, dtype=torch.bool)
    if bounds is not None and start is not None:
        free = (start > bounds[0]) & (start < bounds[1])
        m[~free] = start[~free]
    scaled = gmat / sigma[:, None]
    lam_used = float("nan") if lam is None else lam
    for rounds in range(1, max_rounds + 1):
        d = (g - gmat[:, ~free] @ m[~free]) / sigma
        u, lam_used = _discrepancy_solve(scaled[:, free] / w[free], d, lam, target, n)
        m[free] = u / w[free]
        if bounds is None:
            break
        low = free & (m < bounds[0])
        high = free & (m > bounds[1])
        if not bool(low.any() or high.any()):
            break
        m[low], m[high] = bounds[0], bounds[1]
        free &= ~(low | high)
    return m, lam_used, ~free, rounds


def invert_gravity(
    op: LinearOperator,
    g: Tensor | np.ndarray,
    noise_std: float | Tensor | np.ndarray,
    *,
    method: str = "tikhonov",
    depth_weight: bool | Tensor | np.ndarray = True,
    z0: float | None = None,
    beta: float | None = None,
    lam: float | None = None,
    target_chi2: float = 1.0,
    iterations: int = 15,
    epsilon: float | None = None,
    bounds: tuple[float, float] | None = None,
    tol: float = 1e-3,
) -> GravityInversion:
    """Density contrast from gravity data: depth-weighted Tikhonov or compact inversion.

    Minimises ``||(G m - g) / sigma||² + lam ||W m||²`` exactly: with
    ``A = diag(1/sigma) G W^{-1}`` (``n_obs x n_cells``), ``W m = A^T (A A^T + lam I)^{-1} d``
    from the eigen-decomposition of the ``n_obs x n_obs`` matrix ``A A^T`` (the SVD of ``A``
    when ``n_obs > n_cells``). Cheap for profiles and small surveys; the kernel is dense.

    * ``"tikhonov"``: ``W = W_z``, the depth weight (normalised to a largest entry of 1).
    * ``"compact"``: minimum-support stabiliser ``sum m² / (m² + eps²)`` (Last & Kubik 1983,
      Portniaguine & Zhdanov 1999) by iteratively reweighted least squares from the Tikhonov
      model: ``W = W_z diag(eps / sqrt(m_k² + eps²))``, ``lam`` re-chosen at every iteration,
      until the model changes by less than ``tol`` (relative) or after ``iterations``.
      The minimum support counts cells, not density: without ``bounds`` it can shrink a body
      into a few cells of implausibly large density while still fitting the data, so give
      bounds (as Last & Kubik and Portniaguine & Zhdanov do) for geological models.

    Parameters
    ----------
    op : LinearOperator
        Forward operator with data shape ``(n_obs,)``: :class:`Gravity2D`, :class:`Gravity3D`
        or any real linear operator (its matrix is formed from ``n_obs`` adjoint products).
    g : array_like, shape (n_obs,)
        Observed gravity, mGal.
    noise_std : float or array_like, shape (n_obs,)
        Standard deviation of the data noise, mGal (> 0).
    method : {"tikhonov", "compact"}
        Stabiliser.
    depth_weight : bool or array_like
        True: Li & Oldenburg weight from :func:`depth_weighting` (gravity operators only);
        False: none; or explicit positive weights of the domain shape.
    z0, beta : float, optional
        Parameters of the depth weight; default ``z0`` half the top cell thickness and
        ``beta`` 1 for :class:`Gravity2D` (a strike-infinite cell decays as ``1/z``), 2 for
        :class:`Gravity3D` (``1/z²``).
    lam : float, optional
        Fixed regularisation weight; default: discrepancy principle, ``chi²/N = target_chi2``
        (bisection on ``log lam``, to 1e-12 in ``log lam``).
    target_chi2 : float
        Target of the discrepancy principle.
    iterations : int
        Maximum reweighting iterations of ``"compact"``.
    epsilon : float, optional
        Focusing parameter of the minimum support, kg/m³; default 0.1 times the largest
        ``|m|`` of the Tikhonov model. Smaller values give more compact bodies.
    bounds : (low, high), optional
        Density bounds (kg/m³) enforced with an active set (cells leaving them are fixed at
        the bound, the rest re-solved; fixed cells stay fixed in later reweighting
        iterations). ``low <= 0 <= high`` is required.
    tol : float
        Stopping tolerance of the reweighting on ``||m_k - m_{k-1}|| / ||m_k||``.

    Notes
    -----
    Problems with ``n_obs * n_cells <= 4e6`` are solved on one intra-op thread (the previous
    ``torch.get_num_threads()`` is restored): they are too small to gain from threads, and
    one thread avoids large slow-downs on oversubscribed machines.

    Returns
    -------
    GravityInversion
        Model (domain shape), predicted data, ``chi²/N``, ``lam``, iterations and history.
    """
    start = time.perf_counter()
    method = check_choice("method", method, ("tikhonov", "compact"))
    check_positive("target_chi2", target_chi2)
    if lam is not None:
        check_positive("lam", lam)
    if not isinstance(iterations, int) or iterations < 1:
        raise InputError(f"iterations must be a positive integer, got {iterations!r}")
    gmat = _kernel(op)
    n, cells = gmat.shape
    g_t = _as_vector("g", g, n)
    sigma = _as_vector("noise_std", noise_std, n)
    if not bool((sigma > 0).all()):
        raise InputError("noise_std must be > 0 for every datum")
    if bounds is not None:
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise InputError(f"bounds must be a pair (low, high) of numbers, got {bounds!r}") from None
        if not (low <= 0.0 <= high) or low == high:
            raise InputError(f"bounds must satisfy low <= 0 <= high with low < high, got {bounds!r}")
        bounds = (low, high)

    if isinstance(depth_weight, bool):
        if depth_weight:
            if not isinstance(op, _DenseGravity):
                raise InputError("depth_weight=True needs a Gravity2D/Gravity3D operator: pass explicit weights")
            b = beta if beta is not None else (1.0 if isinstance(op, Gravity2D) else 2.0)
            wz = depth_weighting(op, z0, b).reshape(-1)
        else:
            wz = torch.ones(cells, dtype=torch.float64)
    else:
        wz = torch.as_tensor(np.asarray(depth_weight, dtype=np.float64))
        if wz.numel() != cells:
            raise InputError(
                f"depth_weight must have {cells} entries (shape {format_shape(op.domain_shape)}), "
                f"got {format_shape(wz.shape)}"
            )
        wz = wz.reshape(-1)
        if not bool(torch.isfinite(wz).all() and (wz > 0).all()):
            raise InputError("depth_weight must be finite and > 0 in every cell")
    wz = wz / wz.max()

    if epsilon is not None:
        check_positive("epsilon", epsilon)
    result = _invert(gmat, g_t, sigma, wz, method, lam, target_chi2, iterations, epsilon, bounds, tol)
    result.model = result.model.reshape(op.domain_shape)
    result.seconds = time.perf_counter() - start
    return result


def _invert(
    gmat: Tensor,
    g_t: Tensor,
    sigma: Tensor,
    wz: Tensor,
    method: str,
    lam: float | None,
    target_chi2: float,
    iterations: int,
    epsilon: float | None,
    bounds: tuple[float, float] | None,
    tol: float,
) -> GravityInversion:
    """The solves of :func:`invert_gravity` on checked inputs (flat model)."""
    n = gmat.shape[0]
    history: list[dict] = []
    m, lam_k, fixed, rounds = _bounded_solve(gmat, g_t, sigma, wz, lam, target_chi2, bounds)

    def record(m_new: Tensor, m_old: Tensor | None) -> float:
        chi = float((((gmat @ m_new - g_t) / sigma) ** 2).sum()) / n
        change = float("nan") if m_old is None else float(
            torch.linalg.vector_norm(m_new - m_old) / max(float(torch.linalg.vector_norm(m_new)), 1e-300)
        )
        history.append(
            {"chi2": chi, "lam": lam_k, "change": change, "at_bounds": int(fixed.sum()), "solves": rounds}
        )
        return change

    record(m, None)
    if method == "compact":
        eps = epsilon if epsilon is not None else 0.1 * float(m.abs().max())
        if eps > 0:
            for _ in range(iterations):
                we = eps / torch.sqrt(m * m + eps * eps)
                m_old = m
                m, lam_k, fixed, rounds = _bounded_solve(gmat, g_t, sigma, wz * we, lam, target_chi2, bounds, m)
                if record(m, m_old) < tol:
                    break
    predicted = gmat @ m
    return GravityInversion(
        model=m,
        predicted=predicted,
        chi2=history[-1]["chi2"],
        lam=lam_k,
        iterations=len(history) if method == "compact" else 1,
        method=method,
        history=history,
    )


# -- the Hartousov profile ---------------------------------------------------------------------------
def profile_mesh(
    x: np.ndarray,
    cell: float = 100.0,
    depth: float = 3000.0,
    pad_cells: int = 8,
    pad_factor: float = 1.4,
    margin: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges of a 2-D section below a profile.

    Square ``cell`` x ``cell`` cells from the surface (z = 0) down to ``depth``, under the
    stations plus ``margin`` cells on each side, then ``pad_cells`` columns on each side whose
    width grows by ``pad_factor`` (they absorb the field of distant masses).

    Returns
    -------
    x_edges, z_edges : ndarray
        ``(nx + 1,)`` and ``(nz + 1,)`` in m.
    """
    check_positive("cell", cell)
    check_positive("depth", depth)
    check_positive("pad_factor", pad_factor)
    x = np.asarray(x, dtype=np.float64)
    left = math.floor(float(x.min()) / cell) * cell - margin * cell
    right = math.ceil(float(x.max()) / cell) * cell + margin * cell
    core = np.arange(left, right + 0.5 * cell, cell)
    widths = np.cumsum(cell * pad_factor ** np.arange(1, pad_cells + 1))
    x_edges = np.concatenate([left - widths[::-1], core, right + widths])
    z_edges = np.arange(0.0, depth + 0.5 * cell, cell)
    return x_edges, z_edges


@dataclass
class GravityProfileFit:
    """Result of :func:`invert_hartousov`: data, operator and inversion.

    Attributes
    ----------
    x, g : ndarray
        Station positions (m) and observed gravity (mGal).
    op : Gravity2D
        The forward operator on the mesh below the profile.
    inversion : GravityInversion
        Model ``(nz, nx)`` in kg/m³, predicted data, ``chi²/N``, ``lam``.
    noise_std : float
        The assumed data standard deviation, mGal.
    """

    x: np.ndarray
    g: np.ndarray
    op: Gravity2D
    inversion: GravityInversion
    noise_std: float


def invert_hartousov(
    path: str | Path,
    method: str = "tikhonov",
    *,
    noise_std: float = HARTOUSOV_NOISE_MGAL,
    cell: float = 100.0,
    depth: float = 3000.0,
    **kwargs,
) -> GravityProfileFit:
    """Invert the Hartoušov ground gravity profile for a 2-D density-contrast section.

    Stations at the surface (z = 0; the file has no heights, the data are an anomaly already
    reduced for elevation), a mesh of ``cell`` m squares to ``depth`` m from
    :func:`profile_mesh`, the noise level :data:`HARTOUSOV_NOISE_MGAL` (see its note), no
    regional trend removed, ``lam`` by the discrepancy principle; ``"compact"`` uses the
    bounds :data:`HARTOUSOV_BOUNDS` unless ``bounds`` is passed (``bounds=None`` for none).

    Parameters
    ----------
    path : str or Path
        ``potential_fields/hartousov.txt``.
    method : {"tikhonov", "compact"}
        See :func:`invert_gravity`.
    noise_std, cell, depth
        Data standard deviation (mGal) and mesh (m).
    **kwargs
        Passed to :func:`invert_gravity` (``bounds``, ``epsilon``, ``beta``, ...).
    """
    x, g = read_gravity_profile(path)
    if check_choice("method", method, ("tikhonov", "compact")) == "compact":
        kwargs.setdefault("bounds", HARTOUSOV_BOUNDS)
    x_edges, z_edges = profile_mesh(x, cell, depth)
    op = Gravity2D(x, x_edges, z_edges)
    result = invert_gravity(op, g, noise_std, method=method, **kwargs)
    return GravityProfileFit(x=x, g=g, op=op, inversion=result, noise_std=noise_std)
