"""Heat conduction with unknown conductivity: a differentiable finite-volume solver in 2-D.

Physics, on a rectangle ``Omega = (x0, x1) x (y0, y1)``:

* transient: ``u_t = div(kappa grad u) + f`` for ``t > 0``, ``u(0) = u0``;
* steady: ``-div(kappa grad u) = f``;

with a Dirichlet boundary ``u = g`` (a constant) or, for the transient problem, a Neumann
boundary ``kappa du/dn = 0`` (insulated).

Discretisation (cell-centred finite volumes, second order in space): the grid has ``ny x nx``
cells, cell ``(j, i)`` centred at ``x = x0 + (i + 1/2) hx``, ``y = y0 + (j + 1/2) hy``. The flux
through an interior face uses the harmonic mean of the two neighbouring conductivities; a
Dirichlet boundary face uses ``kappa_cell (g - u_cell) / (h / 2)``; a Neumann face has zero
flux. The operator ``L(kappa) u = A(kappa) u + b(kappa) g`` is affine in ``u`` with a symmetric
``A`` (negative definite for Dirichlet, negative semi-definite with the constants as kernel for
Neumann). Time stepping is the theta scheme: Crank--Nicolson (``theta = 1/2``, second order)
or backward Euler (``theta = 1``, first order).

Gradients: :func:`solve_heat` and :func:`solve_steady` factor their sparse matrix once per
sample with :func:`scipy.sparse.linalg.splu` and differentiate by the adjoint-state method
(one backward-in-time sweep with the same factorisation), not by autograd through the time
loop. The derivative with respect to the conductivity is then one autograd call through
:func:`diffusion`. These solves are once differentiable (no double backward). They run in
float64 on the CPU whatever the input's dtype and device, and return to them.

:class:`HeatEquation2D` and :class:`SteadyDiffusion2D` wrap the solvers and the space-time
observation map :func:`interpolate` as nonlinear :class:`~inverselab.operators.base.Operator`
s from a conductivity field ``(B, ny, nx)`` to point observations ``(B, P)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu
from torch.autograd.function import once_differentiable

from ..errors import InputError, check_choice, check_positive, format_shape
from .base import Operator

Tensor = torch.Tensor

__all__ = [
    "BOUNDARIES",
    "SCHEMES",
    "Grid2D",
    "HeatEquation2D",
    "SteadyDiffusion2D",
    "diffusion",
    "diffusion_matrix",
    "interpolate",
    "solve_heat",
    "solve_steady",
]

#: Time-stepping schemes of :func:`solve_heat` and their ``theta``.
SCHEMES = {"crank-nicolson": 0.5, "backward-euler": 1.0}
#: Boundary conditions of :func:`diffusion` and :func:`solve_heat`.
BOUNDARIES = ("dirichlet", "neumann")


# ---------------------------------------------------------------------------------------------
# grid
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid2D:
    """A uniform cell-centred grid on a rectangle.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)``: number of cells along y (rows) and x (columns), each at least 2.
    extent : tuple of tuple of float
        ``((x0, x1), (y0, y1))``: the rectangle, in length units (e.g. metres), ``x1 > x0``
        and ``y1 > y0``.

    Notes
    -----
    Cell ``(j, i)`` (row ``j``, column ``i``) is centred at ``x = x0 + (i + 0.5) hx`` and
    ``y = y0 + (j + 0.5) hy``; fields on the grid are tensors ``(..., ny, nx)``. The finite-volume
    unknowns are cell averages, and the fluxes live on the faces between cells.

    References
    ----------
    R. J. LeVeque, *Finite Volume Methods for Hyperbolic Problems*. Cambridge University Press,
    2002.
    """

    shape: tuple[int, int]
    extent: tuple[tuple[float, float], tuple[float, float]]

    def __post_init__(self) -> None:
        try:
            ny, nx = (int(s) for s in self.shape)
        except (TypeError, ValueError):
            raise InputError(f"Grid2D shape must be (ny, nx), got {self.shape!r}") from None
        if ny < 2 or nx < 2 or (ny, nx) != tuple(self.shape):
            raise InputError(f"Grid2D shape must be two integers >= 2 (ny, nx), got {tuple(self.shape)!r}")
        try:
            (x0, x1), (y0, y1) = ((float(a), float(b)) for a, b in self.extent)
        except (TypeError, ValueError):
            raise InputError(f"Grid2D extent must be ((x0, x1), (y0, y1)), got {self.extent!r}") from None
        if not all(math.isfinite(v) for v in (x0, x1, y0, y1)):
            raise InputError(f"Grid2D extent must be finite numbers, got {self.extent!r}")
        if not (x1 > x0 and y1 > y0):
            raise InputError(
                f"Grid2D extent must satisfy x1 > x0 and y1 > y0, got ((x0, x1), (y0, y1)) = "
                f"(({x0}, {x1}), ({y0}, {y1})): swap the bounds"
            )
        object.__setattr__(self, "shape", (ny, nx))
        object.__setattr__(self, "extent", ((x0, x1), (y0, y1)))

    @property
    def ny(self) -> int:
        """Number of cells along y (rows)."""
        return self.shape[0]

    @property
    def nx(self) -> int:
        """Number of cells along x (columns)."""
        return self.shape[1]

    @property
    def hx(self) -> float:
        """Cell width along x, ``(x1 - x0) / nx``."""
        (x0, x1), _ = self.extent
        return (x1 - x0) / self.shape[1]

    @property
    def hy(self) -> float:
        """Cell height along y, ``(y1 - y0) / ny``."""
        _, (y0, y1) = self.extent
        return (y1 - y0) / self.shape[0]

    @property
    def cell_area(self) -> float:
        """``hx * hy``, the weight of a cell in a quadrature such as the total heat."""
        return self.hx * self.hy

    def centres(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> tuple[Tensor, Tensor]:
        """Coordinates of the cell centres.

        Returns
        -------
        X, Y : Tensor
            Each ``(ny, nx)``: ``X[j, i]`` and ``Y[j, i]`` are the x and y of cell ``(j, i)``
            (``meshgrid`` with ``indexing="ij"`` and rows along y).
        """
        (x0, _), (y0, _) = self.extent
        ny, nx = self.shape
        x = x0 + (torch.arange(nx, dtype=torch.float64) + 0.5) * self.hx
        y = y0 + (torch.arange(ny, dtype=torch.float64) + 0.5) * self.hy
        Y, X = torch.meshgrid(y, x, indexing="ij")
        return X.to(dtype=dtype, device=device), Y.to(dtype=dtype, device=device)


# ---------------------------------------------------------------------------------------------
# the finite-volume operator
# ---------------------------------------------------------------------------------------------
def _harmonic(a: Tensor, b: Tensor) -> Tensor:
    return 2.0 * a * b / (a + b)


def diffusion(
    kappa: Tensor,
    u: Tensor,
    grid: Grid2D,
    boundary: str = "dirichlet",
    boundary_value: float = 0.0,
) -> Tensor:
    """The finite-volume diffusion operator ``L(kappa) u ~ div(kappa grad u)``.

    Interior faces carry the flux ``k_f (u_right - u_left) / h`` with the harmonic mean ``k_f``
    of the two cells' conductivities; Dirichlet boundary faces carry
    ``kappa_cell (g - u_cell) / (h / 2)`` (pointing out of the cell), Neumann faces none. Plain
    torch operations: differentiable with respect to ``kappa`` and ``u`` by autograd.

    Parameters
    ----------
    kappa : Tensor
        Conductivity ``(B, ny, nx)`` or ``(ny, nx)`` (any leading dimensions that broadcast
        against ``u``), in units of area per time (e.g. m^2/s, a diffusivity); must be > 0
        (not checked here).
    u : Tensor
        Temperature ``(B, ny, nx)`` (or any ``(..., ny, nx)``).
    grid : Grid2D
        The grid; ``grid.shape`` must be the last two dimensions of ``kappa`` and ``u``.
    boundary : {"dirichlet", "neumann"}
        Boundary condition on all four sides.
    boundary_value : float
        The Dirichlet value ``g`` (same units as ``u``); ignored for Neumann.

    Returns
    -------
    Tensor
        ``L(kappa) u`` of the broadcast shape of ``kappa`` and ``u``, units of ``u`` per time.
    """
    check_choice("boundary", boundary, BOUNDARIES)
    for name, t in (("kappa", kappa), ("u", u)):
        if not isinstance(t, Tensor) or t.ndim < 2 or tuple(t.shape[-2:]) != grid.shape:
            shape = format_shape(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise InputError(
                f"diffusion expects {name} of shape (..., {grid.ny}, {grid.nx}) to match the grid, got {shape}"
            )
    hx, hy = grid.hx, grid.hy
    # fluxes along +x through the nx + 1 vertical faces of each row
    fx = _harmonic(kappa[..., :, :-1], kappa[..., :, 1:]) * (u[..., :, 1:] - u[..., :, :-1]) / hx
    fy = _harmonic(kappa[..., :-1, :], kappa[..., 1:, :]) * (u[..., 1:, :] - u[..., :-1, :]) / hy
    if boundary == "dirichlet":
        g = float(boundary_value)
        west = kappa[..., :, :1] * (u[..., :, :1] - g) / (0.5 * hx)
        east = kappa[..., :, -1:] * (g - u[..., :, -1:]) / (0.5 * hx)
        south = kappa[..., :1, :] * (u[..., :1, :] - g) / (0.5 * hy)
        north = kappa[..., -1:, :] * (g - u[..., -1:, :]) / (0.5 * hy)
    else:
        west = east = torch.zeros_like(fx[..., :, :1])
        south = north = torch.zeros_like(fy[..., :1, :])
    fx = torch.cat([west, fx, east], dim=-1)
    fy = torch.cat([south, fy, north], dim=-2)
    return (fx[..., :, 1:] - fx[..., :, :-1]) / hx + (fy[..., 1:, :] - fy[..., :-1, :]) / hy


def diffusion_matrix(
    kappa: Tensor | np.ndarray,
    grid: Grid2D,
    boundary: str = "dirichlet",
    boundary_value: float = 0.0,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse matrix form of :func:`diffusion` for one sample: ``L(kappa) u = A u + b``.

    Assembled with vectorised numpy (no loop over cells). Unknowns are numbered row-major,
    ``p = j * nx + i``, matching ``u.reshape(-1)``.

    Parameters
    ----------
    kappa : Tensor or ndarray
        Conductivity ``(ny, nx)``, > 0.
    grid, boundary, boundary_value
        As in :func:`diffusion`.

    Returns
    -------
    A : scipy.sparse.csr_matrix
        ``(ny * nx, ny * nx)`` float64, symmetric, five nonzeros per row at most.
    b : ndarray
        ``(ny * nx,)`` float64: the boundary-value term (zero for Neumann or ``g = 0``).
    """
    check_choice("boundary", boundary, BOUNDARIES)
    if isinstance(kappa, Tensor):
        kappa = kappa.detach().to("cpu", torch.float64).numpy()
    k = np.asarray(kappa, dtype=np.float64)
    if k.shape != grid.shape:
        raise InputError(
            f"diffusion_matrix expects kappa of shape {format_shape(grid.shape)}, got {format_shape(k.shape)}"
        )
    ny, nx = grid.shape
    n = ny * nx
    hx2, hy2 = grid.hx**2, grid.hy**2
    idx = np.arange(n).reshape(ny, nx)
    # couplings across interior faces: coefficient k_f / h^2
    cx = (2.0 * k[:, :-1] * k[:, 1:] / (k[:, :-1] + k[:, 1:]) / hx2).ravel()
    cy = (2.0 * k[:-1, :] * k[1:, :] / (k[:-1, :] + k[1:, :]) / hy2).ravel()
    px, qx = idx[:, :-1].ravel(), idx[:, 1:].ravel()
    py, qy = idx[:-1, :].ravel(), idx[1:, :].ravel()
    p = np.concatenate([px, py])
    q = np.concatenate([qx, qy])
    c = np.concatenate([cx, cy])
    diag = -(np.bincount(p, weights=c, minlength=n) + np.bincount(q, weights=c, minlength=n))
    b = np.zeros(n)
    if boundary == "dirichlet":
        w = np.zeros((ny, nx))
        w[:, 0] += 2.0 * k[:, 0] / hx2
        w[:, -1] += 2.0 * k[:, -1] / hx2
        w[0, :] += 2.0 * k[0, :] / hy2
        w[-1, :] += 2.0 * k[-1, :] / hy2
        diag -= w.ravel()
        b = w.ravel() * float(boundary_value)
    rows = np.concatenate([p, q, idx.ravel()])
    cols = np.concatenate([q, p, idx.ravel()])
    data = np.concatenate([c, c, diag])
    A = sp.coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()
    return A, b


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------
def _check_field(name: str, t: object, grid: Grid2D, lead: str = "B") -> Tensor:
    if not isinstance(t, Tensor):
        raise InputError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.ndim not in (2, 3) or tuple(t.shape[-2:]) != grid.shape:
        raise InputError(
            f"{name} must have shape ({lead}, {grid.ny}, {grid.nx}) or ({grid.ny}, {grid.nx}) to match "
            f"the grid, got {format_shape(t.shape)}"
        )
    if not t.is_floating_point():
        raise InputError(f"{name} must be float32 or float64, got {t.dtype} (convert with .double())")
    return t


def _check_kappa(kappa: object, grid: Grid2D) -> Tensor:
    kappa = _check_field("kappa", kappa, grid)
    finite = torch.isfinite(kappa)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise InputError(
            f"conductivity must be positive and finite, got {bad} NaN or infinite values: "
            "parametrise as exp(log_kappa) and check the optimiser's step"
        )
    if not bool((kappa > 0).all()):
        raise InputError(
            f"conductivity must be positive, got minimum {float(kappa.min()):.3g}: parametrise as exp(log_kappa)"
        )
    return kappa


def _check_steps(dt: float, steps: int) -> tuple[float, int]:
    check_positive("dt", dt)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InputError(f"steps must be an integer >= 1, got {steps!r}")
    return float(dt), int(steps)


def _check_boundary_value(g: float) -> float:
    if isinstance(g, Tensor) and g.numel() == 1:
        g = float(g)
    if not isinstance(g, (int, float)) or not math.isfinite(g):
        raise InputError(f"boundary_value must be a finite number (a constant on the boundary), got {g!r}")
    return float(g)


def _batch(*sizes: int) -> int:
    b = max(sizes)
    if any(s not in (1, b) for s in sizes):
        raise InputError(
            f"batch sizes {', '.join(map(str, sizes))} of kappa, u0 and source do not match: "
            "give each the same batch size B, or 1 to share it"
        )
    return b


def _to_numpy(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to("cpu", torch.float64).numpy()


# ---------------------------------------------------------------------------------------------
# transient solver with an adjoint-state gradient
# ---------------------------------------------------------------------------------------------
class _HeatSolve(torch.autograd.Function):
    """Theta-scheme solve; inputs already broadcast to one batch size ``B``."""

    @staticmethod
    def forward(ctx, kappa, u0, source, grid, dt, steps, theta, boundary, g):  # noqa: D401
        B = kappa.shape[0]
        ny, nx = grid.shape
        n = ny * nx
        k64, u064, f64 = _to_numpy(kappa), _to_numpy(u0), _to_numpy(source)
        U = np.empty((B, steps + 1, n))
        keep = any(ctx.needs_input_grad[:3])
        mats, lus = [], []
        for s in range(B):
            A, b = diffusion_matrix(k64[s], grid, boundary, g)
            lu = splu((sp.identity(n, format="csr") - (theta * dt) * A).tocsc())
            expl = (1.0 - theta) * dt * A if theta < 1.0 else None
            boundary_term = dt * b
            u = u064[s].reshape(n)
            U[s, 0] = u
            fs = None if f64 is None else f64[s].reshape(steps + 1, n)
            for m in range(steps):
                rhs = u + boundary_term
                if expl is not None:
                    rhs = rhs + expl @ u
                if fs is not None:
                    rhs = rhs + dt * (theta * fs[m + 1] + (1.0 - theta) * fs[m])
                u = lu.solve(rhs)
                U[s, m + 1] = u
            if keep:
                mats.append(A)
                lus.append(lu)
        U = torch.from_numpy(U.reshape(B, steps + 1, ny, nx))
        if keep:
            ctx.mats, ctx.lus, ctx.U = mats, lus, U
            ctx.kappa64 = torch.from_numpy(k64)
            ctx.args = (grid, dt, steps, theta, boundary, g)
            ctx.meta = [(t.dtype, t.device) if t is not None else None for t in (kappa, u0, source)]
        dtype = kappa.dtype
        for t in (u0, source):
            if t is not None:
                dtype = torch.promote_types(dtype, t.dtype)
        return U.to(device=kappa.device, dtype=dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_U):
        grid, dt, steps, theta, boundary, g = ctx.args
        need_k, need_u0, need_f = ctx.needs_input_grad[:3]
        G = grad_U.detach().to("cpu", torch.float64).numpy()
        B = G.shape[0]
        ny, nx = grid.shape
        n = ny * nx
        G = G.reshape(B, steps + 1, n)
        # lam[:, m] is the multiplier of step m - 1 -> m (m = 1..steps); lam[:, 0] and
        # lam[:, steps + 1] stay zero, which closes the recursions below
        lam = np.zeros((B, steps + 2, n))
        du0 = np.empty((B, n)) if need_u0 else None
        for s in range(B):
            A, lu = ctx.mats[s], ctx.lus[s]
            expl_T = (1.0 - theta) * dt * A.T.tocsr() if theta < 1.0 else None

            def carry(v: np.ndarray) -> np.ndarray:  # (I + (1 - theta) dt A)^T v
                return v if expl_T is None else v + expl_T @ v

            for m in range(steps, 0, -1):
                rhs = G[s, m] + carry(lam[s, m + 1]) if m < steps else G[s, m]
                lam[s, m] = lu.solve(rhs, trans="T")
            if need_u0:
                du0[s] = G[s, 0] + carry(lam[s, 1])

        grads = [None, None, None]
        if need_k:
            U = ctx.U  # (B, steps + 1, ny, nx) float64
            W = theta * U[:, 1:] + (1.0 - theta) * U[:, :-1]
            lam_t = torch.from_numpy(lam[:, 1 : steps + 1].reshape(B, steps, ny, nx))
            with torch.enable_grad():
                k = ctx.kappa64.detach().requires_grad_(True)
                scalar = dt * (lam_t * diffusion(k[:, None], W, grid, boundary, g)).sum()
                (gk,) = torch.autograd.grad(scalar, k)
            grads[0] = gk
        if need_u0:
            grads[1] = torch.from_numpy(du0.reshape(B, ny, nx))
        if need_f:
            df = dt * (theta * lam[:, : steps + 1] + (1.0 - theta) * lam[:, 1:])
            grads[2] = torch.from_numpy(df.reshape(B, steps + 1, ny, nx))
        for i, meta in enumerate(ctx.meta):
            if grads[i] is not None:
                grads[i] = grads[i].to(dtype=meta[0], device=meta[1])
        return (*grads, None, None, None, None, None, None)


def solve_heat(
    kappa: Tensor,
    u0: Tensor,
    source: Tensor | None,
    grid: Grid2D,
    dt: float,
    steps: int,
    scheme: str = "crank-nicolson",
    boundary: str = "dirichlet",
    boundary_value: float = 0.0,
) -> Tensor:
    """Solve ``u_t = div(kappa grad u) + f`` with the theta scheme on ``steps`` time steps.

    Step ``n -> n + 1`` solves
    ``(I - theta dt L) u^{n+1} = (I + (1 - theta) dt L) u^n + dt (theta f^{n+1} + (1 - theta) f^n)``
    (``L`` affine, see :func:`diffusion`). The sparse matrix ``I - theta dt A(kappa)`` is
    factored once per sample (``scipy.sparse.linalg.splu``, float64, CPU) and reused for every
    step and for the adjoint sweep of the backward pass.

    Differentiable with respect to ``kappa``, ``u0`` and ``source`` by the adjoint-state method
    (once differentiable: no double backward). Inputs may be float32 or float64, on any device;
    the computation runs in float64 on the CPU and the result, like each gradient, returns to
    the input's device and dtype (the promoted dtype of the inputs for the result).

    Parameters
    ----------
    kappa : Tensor
        Conductivity ``(B, ny, nx)`` or ``(ny, nx)`` (shared by the batch), > 0, in units of
        area per time.
    u0 : Tensor
        Initial temperature ``(B, ny, nx)`` or ``(ny, nx)``.
    source : Tensor or None
        Heat source ``f`` at the time levels, ``(B, steps + 1, ny, nx)`` or
        ``(1, steps + 1, ny, nx)``, in units of ``u`` per time; ``None`` for no source.
    grid : Grid2D
        The spatial grid.
    dt : float
        Time step (> 0); level ``n`` is at time ``n * dt``.
    steps : int
        Number of time steps (>= 1).
    scheme : {"crank-nicolson", "backward-euler"}
        ``theta = 1/2`` (second order in time) or ``theta = 1`` (first order, L-stable).
    boundary : {"dirichlet", "neumann"}
        ``u = boundary_value`` on the boundary, or zero flux (insulated; total heat is
        conserved without a source).
    boundary_value : float
        Dirichlet value ``g`` (a constant in space and time).

    Returns
    -------
    Tensor
        Trajectory ``U`` of shape ``(B, steps + 1, ny, nx)``; ``U[:, 0] = u0`` and ``U[:, n]``
        is the temperature at time ``n * dt``.
    """
    theta = SCHEMES[check_choice("scheme", scheme, SCHEMES)]
    check_choice("boundary", boundary, BOUNDARIES)
    dt, steps = _check_steps(dt, steps)
    g = _check_boundary_value(boundary_value)
    kappa = _check_kappa(kappa, grid)
    u0 = _check_field("u0", u0, grid)
    sizes = [kappa.shape[0] if kappa.ndim == 3 else 1, u0.shape[0] if u0.ndim == 3 else 1]
    if source is not None:
        if not isinstance(source, Tensor) or not source.is_floating_point():
            got = getattr(source, "dtype", type(source).__name__)
            raise InputError(f"source must be a float tensor or None, got {got}")
        if source.ndim != 4 or tuple(source.shape[1:]) != (steps + 1, *grid.shape):
            raise InputError(
                f"source must have shape (B, {steps + 1}, {grid.ny}, {grid.nx}) (f at the steps + 1 time "
                f"levels; B may be 1), got {format_shape(source.shape)}"
            )
        sizes.append(source.shape[0])
    B = _batch(*sizes)
    kappa = kappa.expand(B, *grid.shape)
    u0 = u0.expand(B, *grid.shape)
    if source is not None:
        source = source.expand(B, *source.shape[1:])
    return _HeatSolve.apply(kappa, u0, source, grid, dt, steps, theta, boundary, g)


# ---------------------------------------------------------------------------------------------
# steady solver
# ---------------------------------------------------------------------------------------------
class _SteadySolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx, kappa, source, grid, g):  # noqa: D401
        B = kappa.shape[0]
        ny, nx = grid.shape
        n = ny * nx
        k64, f64 = _to_numpy(kappa), _to_numpy(source)
        U = np.empty((B, n))
        lus = []
        for s in range(B):
            A, b = diffusion_matrix(k64[s], grid, "dirichlet", g)
            lu = splu((-A).tocsc())
            U[s] = lu.solve(f64[s].reshape(n) + b)
            lus.append(lu)
        U = torch.from_numpy(U.reshape(B, ny, nx))
        if any(ctx.needs_input_grad[:2]):
            ctx.lus, ctx.U, ctx.kappa64, ctx.args = lus, U, torch.from_numpy(k64), (grid, g)
            ctx.meta = [(t.dtype, t.device) for t in (kappa, source)]
        return U.to(device=kappa.device, dtype=torch.promote_types(kappa.dtype, source.dtype))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_u):
        grid, g = ctx.args
        G = grad_u.detach().to("cpu", torch.float64).numpy()
        B = G.shape[0]
        ny, nx = grid.shape
        lam = np.stack([ctx.lus[s].solve(G[s].reshape(-1), trans="T") for s in range(B)])
        lam = torch.from_numpy(lam.reshape(B, ny, nx))
        gk = gf = None
        if ctx.needs_input_grad[0]:
            with torch.enable_grad():
                k = ctx.kappa64.detach().requires_grad_(True)
                scalar = (lam * diffusion(k, ctx.U, grid, "dirichlet", g)).sum()
                (gk,) = torch.autograd.grad(scalar, k)
            gk = gk.to(dtype=ctx.meta[0][0], device=ctx.meta[0][1])
        if ctx.needs_input_grad[1]:
            gf = lam.to(dtype=ctx.meta[1][0], device=ctx.meta[1][1])
        return gk, gf, None, None


def solve_steady(kappa: Tensor, source: Tensor, grid: Grid2D, boundary_value: float = 0.0) -> Tensor:
    """Solve ``-div(kappa grad u) = f`` with ``u = boundary_value`` on the boundary.

    One sparse LU (``splu``) per sample; differentiable with respect to ``kappa`` and
    ``source`` by the adjoint-state method (once differentiable). Computes in float64 on the
    CPU; the result returns to the input's device and (promoted) dtype.

    Parameters
    ----------
    kappa : Tensor
        Conductivity ``(B, ny, nx)`` or ``(ny, nx)``, > 0.
    source : Tensor
        Source ``f`` of shape ``(B, ny, nx)`` or ``(ny, nx)``.
    grid : Grid2D
        The spatial grid.
    boundary_value : float
        Dirichlet value ``g`` on the whole boundary.

    Returns
    -------
    Tensor
        ``u`` of shape ``(B, ny, nx)``.
    """
    g = _check_boundary_value(boundary_value)
    kappa = _check_kappa(kappa, grid)
    source = _check_field("source", source, grid)
    B = _batch(kappa.shape[0] if kappa.ndim == 3 else 1, source.shape[0] if source.ndim == 3 else 1)
    return _SteadySolve.apply(kappa.expand(B, *grid.shape), source.expand(B, *grid.shape), grid, g)


# ---------------------------------------------------------------------------------------------
# observations
# ---------------------------------------------------------------------------------------------
def _check_points(points: object, grid: Grid2D, ncols: int, t_max: float | None) -> Tensor:
    # relative tolerance at the boundary: rounding of float32 coordinates must not reject a
    # point given on the boundary or at the final time
    single = isinstance(points, Tensor) and points.dtype in (torch.float32, torch.float16, torch.bfloat16)
    tol = 1e-6 if single else 1e-10
    try:
        pts = torch.as_tensor(points, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"points must be a (P, {ncols}) array of coordinates, got {type(points).__name__}") from None
    cols = "(x, y, t)" if ncols == 3 else "(x, y)"
    if pts.ndim != 2 or pts.shape[1] != ncols or pts.shape[0] < 1:
        raise InputError(f"points must have shape (P, {ncols}) with columns {cols}, got {format_shape(pts.shape)}")
    if not bool(torch.isfinite(pts).all()):
        raise InputError("points hold NaN or infinite coordinates: drop those rows")
    (x0, x1), (y0, y1) = grid.extent
    x, y = pts[:, 0], pts[:, 1]
    ex, ey = tol * (x1 - x0), tol * (y1 - y0)
    out = (x < x0 - ex) | (x > x1 + ex) | (y < y0 - ey) | (y > y1 + ey)
    if bool(out.any()):
        first = pts[int(out.nonzero()[0])].tolist()
        raise InputError(
            f"{int(out.sum())} of {pts.shape[0]} observation points lie outside the domain "
            f"[{x0:g}, {x1:g}] x [{y0:g}, {y1:g}] (first: x={first[0]:g}, y={first[1]:g}): drop them or "
            "enlarge the grid's extent"
        )
    if ncols == 3:
        t = pts[:, 2]
        late = (t < -tol * max(t_max, 1.0)) | (t > t_max * (1 + tol))
        if bool(late.any()):
            first = float(t[int(late.nonzero()[0])])
            raise InputError(
                f"{int(late.sum())} of {pts.shape[0]} observation times lie outside [0, {t_max:g}] "
                f"(first: t={first:g}): drop them or run more steps"
            )
    return pts


def _axis_weights(coord: Tensor, origin: float, h: float, n: int) -> tuple[Tensor, Tensor, Tensor]:
    s = ((coord - origin) / h - 0.5).clamp(0.0, n - 1.0)
    i0 = s.floor().clamp(max=max(n - 2, 0)).long()
    w = s - i0
    return i0, (i0 + 1).clamp(max=n - 1), w


def interpolate(U: Tensor, grid: Grid2D, points: Tensor, dt: float | None = None) -> Tensor:
    """Observe a field at points: bilinear in space between cell centres, linear in time.

    Near the boundary (between the outermost cell centres and the boundary, within half a cell)
    the value is the one at the nearest point of the hull of the centres, i.e. the coordinate is
    clamped to ``[x0 + hx/2, x1 - hx/2]`` (and likewise for y): constant extrapolation along the
    normal, first-order accurate there. Plain torch: differentiable with respect to ``U``.

    Parameters
    ----------
    U : Tensor
        A trajectory ``(B, N + 1, ny, nx)`` (level ``n`` at time ``n * dt``), or a steady field
        ``(B, ny, nx)``.
    grid : Grid2D
        The grid of ``U``.
    points : Tensor or array-like
        ``(P, 3)`` with columns ``(x, y, t)`` for a trajectory, ``(P, 2)`` with columns
        ``(x, y)`` for a steady field. Points must lie in the closed domain and ``0 <= t <=
        N * dt``; others raise :class:`~inverselab.errors.InputError`.
    dt : float, optional
        Time step of the trajectory; needed (and only used) for a 4-D ``U``.

    Returns
    -------
    Tensor
        Observations ``(B, P)`` in ``U``'s dtype and on its device.
    """
    if not isinstance(U, Tensor) or U.ndim not in (3, 4) or tuple(U.shape[-2:]) != grid.shape:
        shape = format_shape(U.shape) if isinstance(U, Tensor) else type(U).__name__
        raise InputError(
            f"interpolate expects U of shape (B, N + 1, {grid.ny}, {grid.nx}) or (B, {grid.ny}, {grid.nx}), got {shape}"
        )
    transient = U.ndim == 4
    t_max = None
    if transient:
        if dt is None:
            raise InputError("interpolate needs dt for a trajectory (B, N + 1, ny, nx): pass the solver's time step")
        check_positive("dt", dt)
        t_max = (U.shape[1] - 1) * float(dt)
    pts = _check_points(points, grid, 3 if transient else 2, t_max)
    (x0, _), (y0, _) = grid.extent
    ny, nx = grid.shape
    i0, i1, wx = _axis_weights(pts[:, 0], x0, grid.hx, nx)
    j0, j1, wy = _axis_weights(pts[:, 1], y0, grid.hy, ny)
    wx, wy = wx.to(device=U.device, dtype=U.dtype), wy.to(device=U.device, dtype=U.dtype)
    i0, i1, j0, j1 = (t.to(U.device) for t in (i0, i1, j0, j1))

    def bilinear(n: Tensor | None) -> Tensor:  # (B, P) at time levels n (P,), or steady
        def at(j: Tensor, i: Tensor) -> Tensor:
            return U[:, j, i] if n is None else U[:, n, j, i]

        return (1 - wy) * ((1 - wx) * at(j0, i0) + wx * at(j0, i1)) + wy * ((1 - wx) * at(j1, i0) + wx * at(j1, i1))

    if not transient:
        return bilinear(None)
    # time levels are "cells" of width dt centred at n * dt: the same weights, clamped to [0, N]
    N = U.shape[1] - 1
    n0, n1, wt = _axis_weights(pts[:, 2], -0.5 * float(dt), float(dt), N + 1)
    wt = wt.to(device=U.device, dtype=U.dtype)
    return (1 - wt) * bilinear(n0.to(U.device)) + wt * bilinear(n1.to(U.device))


# ---------------------------------------------------------------------------------------------
# operators
# ---------------------------------------------------------------------------------------------
class HeatEquation2D(Operator):
    r"""Conductivity to point observations of the heat equation's solution.

    ``F(kappa) = interpolate(solve_heat(kappa, u0, source, ...), points)``: a nonlinear
    operator ``(B, ny, nx) -> (B, P)``, differentiable by the adjoint-state method (see
    :func:`solve_heat`). Evaluate at ``kappa = exp(log_kappa)`` when inverting, so the
    conductivity stays positive.

    Parameters
    ----------
    grid : Grid2D
        Spatial grid; ``domain_shape = grid.shape``.
    points : Tensor or array-like
        Observation points ``(P, 3)`` with columns ``(x, y, t)``, inside the domain and
        ``0 <= t <= steps * dt``; ``range_shape = (P,)``.
    dt : float
        Time step (> 0).
    steps : int
        Number of time steps (>= 1).
    u0 : Tensor
        Initial temperature ``(ny, nx)``.
    source : Tensor, optional
        Source at the time levels ``(steps + 1, ny, nx)``; default none.
    scheme : {"crank-nicolson", "backward-euler"}
        Time-stepping scheme.
    boundary : {"dirichlet", "neumann"}
        Boundary condition.
    boundary_value : float
        Dirichlet value.

    Notes
    -----
    The solver integrates :math:`u_t = \nabla \cdot (\kappa \nabla u) + f` with cell-centred finite
    volumes (harmonic means of :math:`\kappa` on the faces) and the :math:`\theta` scheme

    .. math::

        (I - \theta\, \Delta t\, A(\kappa))\, u^{n+1} = (I + (1 - \theta)\, \Delta t\, A(\kappa))\,
        u^n + \Delta t\, [\theta f^{n+1} + (1 - \theta) f^n + b(\kappa) g],

    Crank-Nicolson for :math:`\theta = 1/2`, backward Euler for :math:`\theta = 1`. The gradient of a
    misfit :math:`J(u(\kappa))` is :math:`\sum_n \lambda_n^T \partial_\kappa R_n`, with the
    adjoint states :math:`\lambda_n` obtained by one sweep backwards in time with the same
    factorised matrix.

    References
    ----------
    R. J. LeVeque, *Finite Difference Methods for Ordinary and Partial Differential Equations*.
    SIAM, 2007.

    R.-E. Plessix, "A review of the adjoint-state method for computing the gradient of a
    functional with geophysical applications", *Geophys. J. Int.* 167(2), 495-503, 2006.
    """

    def __init__(
        self,
        grid: Grid2D,
        points: Tensor,
        dt: float,
        steps: int,
        u0: Tensor,
        source: Tensor | None = None,
        scheme: str = "crank-nicolson",
        boundary: str = "dirichlet",
        boundary_value: float = 0.0,
    ) -> None:
        if not isinstance(grid, Grid2D):
            raise InputError(f"HeatEquation2D needs a Grid2D, got {type(grid).__name__}")
        self.scheme = check_choice("scheme", scheme, SCHEMES)
        self.boundary = check_choice("boundary", boundary, BOUNDARIES)
        self.dt, self.steps = _check_steps(dt, steps)
        self.boundary_value = _check_boundary_value(boundary_value)
        pts = _check_points(points, grid, 3, self.dt * self.steps)
        u0 = torch.as_tensor(u0)
        if tuple(u0.shape) != grid.shape or not u0.is_floating_point():
            raise InputError(
                f"u0 must be a float tensor of shape {format_shape(grid.shape)}, got {format_shape(u0.shape)}"
            )
        if source is not None:
            source = torch.as_tensor(source)
            if tuple(source.shape) != (self.steps + 1, *grid.shape) or not source.is_floating_point():
                raise InputError(
                    f"source must be a float tensor of shape ({self.steps + 1}, {grid.ny}, {grid.nx}) "
                    f"(f at the steps + 1 time levels), got {format_shape(source.shape)}"
                )
        super().__init__(grid.shape, (pts.shape[0],))
        self.grid = grid
        self.register_buffer("points", pts, persistent=False)
        self.register_buffer("u0", u0.detach().to(torch.float64), persistent=False)
        self.register_buffer(
            "source", None if source is None else source.detach().to(torch.float64), persistent=False
        )

    def trajectory(self, kappa: Tensor) -> Tensor:
        """The full trajectory ``(B, steps + 1, ny, nx)`` for conductivities ``(B, ny, nx)``."""
        kappa = self._check(kappa, self.domain_shape, False, "input")
        u0 = self.u0.to(device=kappa.device, dtype=kappa.dtype)
        source = None if self.source is None else self.source.to(device=kappa.device, dtype=kappa.dtype)[None]
        return solve_heat(
            kappa, u0, source, self.grid, self.dt, self.steps, self.scheme, self.boundary, self.boundary_value
        )

    def _forward(self, kappa: Tensor) -> Tensor:
        return interpolate(self.trajectory(kappa), self.grid, self.points, self.dt)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, dt={self.dt:g}, steps={self.steps}, scheme={self.scheme}, "
            f"boundary={self.boundary}"
        )


class SteadyDiffusion2D(Operator):
    r"""Conductivity to point observations of the steady diffusion solution.

    ``F(kappa) = interpolate(solve_steady(kappa, source), points)``: ``(B, ny, nx) -> (B, P)``
    with a Dirichlet boundary, differentiable by the adjoint-state method.

    Parameters
    ----------
    grid : Grid2D
        Spatial grid; ``domain_shape = grid.shape``.
    points : Tensor or array-like
        Observation points ``(P, 2)`` with columns ``(x, y)`` inside the domain.
    source : Tensor
        Source ``f`` of shape ``(ny, nx)``.
    boundary_value : float
        Dirichlet value.

    Notes
    -----
    The state solves :math:`-\nabla \cdot (\kappa \nabla u) = f` with :math:`u = g` on the
    boundary, discretised as :math:`-A(\kappa) u = f + b(\kappa) g`; the gradient of a misfit
    :math:`J(u)` is :math:`\lambda^T \partial_\kappa (A(\kappa) u + b(\kappa) g)` with the adjoint
    state :math:`-A(\kappa)^T \lambda = \partial_u J`, one more solve with the same factors.

    References
    ----------
    R.-E. Plessix, "A review of the adjoint-state method for computing the gradient of a
    functional with geophysical applications", *Geophys. J. Int.* 167(2), 495-503, 2006.
    """

    def __init__(self, grid: Grid2D, points: Tensor, source: Tensor, boundary_value: float = 0.0) -> None:
        if not isinstance(grid, Grid2D):
            raise InputError(f"SteadyDiffusion2D needs a Grid2D, got {type(grid).__name__}")
        pts = _check_points(points, grid, 2, None)
        source = torch.as_tensor(source)
        if tuple(source.shape) != grid.shape or not source.is_floating_point():
            raise InputError(
                f"source must be a float tensor of shape {format_shape(grid.shape)}, got {format_shape(source.shape)}"
            )
        super().__init__(grid.shape, (pts.shape[0],))
        self.grid = grid
        self.boundary_value = _check_boundary_value(boundary_value)
        self.register_buffer("points", pts, persistent=False)
        self.register_buffer("source", source.detach().to(torch.float64), persistent=False)

    def solution(self, kappa: Tensor) -> Tensor:
        """The steady field ``(B, ny, nx)`` for conductivities ``(B, ny, nx)``."""
        kappa = self._check(kappa, self.domain_shape, False, "input")
        source = self.source.to(device=kappa.device, dtype=kappa.dtype)
        return solve_steady(kappa, source, self.grid, self.boundary_value)

    def _forward(self, kappa: Tensor) -> Tensor:
        return interpolate(self.solution(kappa), self.grid, self.points)
