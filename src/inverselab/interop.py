"""Bridges between inverselab operators and other people's: a forward/adjoint pair of functions,
scipy and PyLops linear operators, dense or sparse matrices, and deepinv ``Physics``.

Every bridge keeps the adjoint exact: wrapping theirs as ours checks it with :func:`dottest`
on construction (the relative error is named when it fails), and gradients through a wrapped
linear operator are its adjoint (a custom autograd function), so the wrapped operator trains
networks like a built-in one. Wrapping ours as theirs passes our own adjoint.

>>> A = as_operator((forward, adjoint), domain_shape=(64,), range_shape=(60,))   # doctest: +SKIP
>>> x, info = scipy.sparse.linalg.lsqr(to_scipy(ct.operator), y.ravel())        # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .errors import InputError, format_shape
from .operators.base import LinearOperator, Operator, dottest

Tensor = torch.Tensor

__all__ = ["FunctionPair", "ScipyOperator", "DeepinvOperator", "as_operator", "to_scipy", "to_deepinv",
           "ADJOINT_TOLERANCE"]

#: Largest relative dottest error accepted for a wrapped operator (float64; user code may
#: compute in float32 inside, which alone gives about 1e-7).
ADJOINT_TOLERANCE = 1e-6


class _ThroughAdjoint(torch.autograd.Function):
    """``y = forward(x)`` whose backward pass is ``adjoint(grad)``: exact gradients for a
    linear map computed outside autograd (numpy, scipy, a C library)."""

    @staticmethod
    def forward(ctx, x: Tensor, forward: Callable, adjoint: Callable) -> Tensor:  # noqa: D401
        ctx.adjoint = adjoint
        with torch.no_grad():
            return forward(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return ctx.adjoint(grad), None, None


def _check_adjoint(op: LinearOperator, tol: float, what: str) -> None:
    try:
        error = dottest(op)
    except InputError:
        raise
    except Exception as exc:  # user code: report its failure in one line
        raise InputError(f"{what} failed on a test input of shape {format_shape((2, *op.domain_shape))}: "
                         f"{type(exc).__name__}: {exc}") from None
    if not error < tol:
        raise InputError(f"{what}: the adjoint does not match the forward map (relative dottest error {error:.2e}, "
                         f"needs < {tol:.0e}); fix the adjoint, or pass check_adjoint=False to accept it")


class FunctionPair(LinearOperator):
    """A linear operator from two batched torch functions.

    Parameters
    ----------
    forward : callable
        ``(B, *domain_shape) -> (B, *range_shape)``.
    adjoint : callable
        ``(B, *range_shape) -> (B, *domain_shape)``, the exact adjoint of ``forward``.
    domain_shape, range_shape : sequence of int
        Shapes of one input and one output.
    domain_complex, range_complex : bool
        Whether inputs and outputs are complex.
    check_adjoint : bool
        Run :func:`~inverselab.operators.dottest` now and refuse a wrong adjoint.
    """

    def __init__(self, forward: Callable[[Tensor], Tensor], adjoint: Callable[[Tensor], Tensor],
                 domain_shape: Sequence[int], range_shape: Sequence[int], *, domain_complex: bool = False,
                 range_complex: bool = False, check_adjoint: bool = True) -> None:
        if not callable(forward) or not callable(adjoint):
            raise InputError("an operator pair needs two callables: (forward, adjoint)")
        super().__init__(domain_shape, range_shape, domain_complex=domain_complex, range_complex=range_complex)
        self._fn, self._adj = forward, adjoint
        if check_adjoint:
            _check_adjoint(self, ADJOINT_TOLERANCE, f"operator {getattr(forward, '__name__', 'forward')}")

    def _forward(self, x: Tensor) -> Tensor:
        return _ThroughAdjoint.apply(x, self._fn, self._adj)

    def _adjoint(self, y: Tensor) -> Tensor:
        return _ThroughAdjoint.apply(y, self._adj, self._fn)


class ScipyOperator(LinearOperator):
    """A scipy ``LinearOperator`` (or a PyLops operator, a dense or sparse matrix) acting on
    flattened samples, as a batched torch operator.

    Parameters
    ----------
    matrix : object
        Anything with ``shape == (M, N)``, ``matvec`` and ``rmatvec`` (``matmat``/``rmatmat``
        are used when present), or an array or sparse matrix.
    domain_shape, range_shape : sequence of int, optional
        Shapes of one sample (default ``(N,)`` and ``(M,)``); their sizes must be ``N`` and ``M``.
    check_adjoint : bool
        Run the dottest now and refuse an ``rmatvec`` that is not the adjoint.
    """

    def __init__(self, matrix: Any, domain_shape: Sequence[int] | None = None, range_shape: Sequence[int] | None = None,
                 *, check_adjoint: bool = True) -> None:
        if not all(hasattr(matrix, a) for a in ("matvec", "rmatvec", "shape")):
            from scipy.sparse.linalg import aslinearoperator

            matrix = aslinearoperator(matrix)
        m, n = (int(s) for s in matrix.shape)
        domain_shape = tuple(domain_shape) if domain_shape is not None else (n,)
        range_shape = tuple(range_shape) if range_shape is not None else (m,)
        if math.prod(domain_shape) != n or math.prod(range_shape) != m:
            raise InputError(f"a ({m} x {n}) operator cannot map {format_shape(domain_shape)} to "
                             f"{format_shape(range_shape)}: the sizes must be {n} and {m}")
        is_complex = np.issubdtype(np.dtype(getattr(matrix, "dtype", np.float64)), np.complexfloating)
        super().__init__(domain_shape, range_shape, domain_complex=is_complex, range_complex=is_complex)
        self.matrix = matrix
        if check_adjoint:
            _check_adjoint(self, ADJOINT_TOLERANCE, f"{type(matrix).__name__} (rmatvec)")

    def _apply(self, x: Tensor, adjoint: bool) -> Tensor:
        shape = self.domain_shape if adjoint else self.range_shape
        columns = x.detach().cpu().reshape(x.shape[0], -1).numpy().T  # (N, B)
        many = getattr(self.matrix, "rmatmat" if adjoint else "matmat", None)
        one = self.matrix.rmatvec if adjoint else self.matrix.matvec
        out = many(columns) if many is not None else np.stack([one(c) for c in columns.T], 1)
        return torch.from_numpy(np.ascontiguousarray(np.asarray(out).T)).to(x.device, x.dtype).reshape(x.shape[0], *shape)

    def _forward(self, x: Tensor) -> Tensor:
        return _ThroughAdjoint.apply(x, lambda t: self._apply(t, False), lambda t: self._apply(t, True))

    def _adjoint(self, y: Tensor) -> Tensor:
        return _ThroughAdjoint.apply(y, lambda t: self._apply(t, True), lambda t: self._apply(t, False))


class DeepinvOperator(LinearOperator):
    """A deepinv ``LinearPhysics`` (its ``A`` and ``A_adjoint``) as our operator.

    Parameters
    ----------
    physics : deepinv.physics.LinearPhysics
        The forward model; its noise model is not used (inverselab problems carry their own).
    domain_shape : sequence of int
        Shape of one image, e.g. ``(1, 64, 64)``; the range shape is found by one call of ``A``.
    check_adjoint : bool
        Run the dottest now (deepinv's adjoints are exact for most, not all, of its physics).
    """

    def __init__(self, physics: Any, domain_shape: Sequence[int], *, check_adjoint: bool = True) -> None:
        domain_shape = tuple(int(s) for s in domain_shape)
        with torch.no_grad():
            probe = physics.A(torch.zeros(1, *domain_shape, dtype=torch.float64))
        super().__init__(domain_shape, tuple(probe.shape[1:]), range_complex=probe.is_complex())
        self.physics = physics
        if check_adjoint:
            _check_adjoint(self, ADJOINT_TOLERANCE, f"deepinv {type(physics).__name__}")

    def _forward(self, x: Tensor) -> Tensor:
        return self.physics.A(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        return self.physics.A_adjoint(y)


def as_operator(obj: Any, domain_shape: Sequence[int] | None = None, range_shape: Sequence[int] | None = None, *,
                linear: bool | None = None, check_adjoint: bool = True) -> Operator:
    """Our operator from whatever the user has.

    Parameters
    ----------
    obj : object
        An inverselab :class:`~inverselab.operators.Operator` (returned as is); a pair
        ``(forward, adjoint)`` of batched torch functions; one batched torch function (a
        nonlinear forward model, differentiated by autograd); a scipy ``LinearOperator``, PyLops
        operator, dense array or sparse matrix; or a deepinv ``Physics``.
    domain_shape, range_shape : sequence of int, optional
        Shapes of one sample; needed for functions (the range shape is found by one call when
        omitted) and deepinv physics (the domain), optional for matrices.
    linear : bool, optional
        For a deepinv physics without an adjoint, False wraps ``A`` as a nonlinear operator.
    check_adjoint : bool
        Check the adjoint of linear operators by dottest (relative error below
        :data:`ADJOINT_TOLERANCE`), refusing a wrong one with the error it measured.

    Raises
    ------
    InputError
        Unknown kind of operator, missing shapes, or an adjoint that fails the dottest.
    """
    if isinstance(obj, Operator):
        return obj
    if isinstance(obj, tuple):
        if len(obj) != 2:
            raise InputError(f"an operator pair is (forward, adjoint), got a tuple of {len(obj)}")
        domain_shape, range_shape = _shapes(obj[0], domain_shape, range_shape)
        return FunctionPair(obj[0], obj[1], domain_shape, range_shape, check_adjoint=check_adjoint)
    if all(hasattr(obj, a) for a in ("matvec", "rmatvec", "shape")) or hasattr(obj, "tocsr") or isinstance(obj, np.ndarray):
        return ScipyOperator(obj, domain_shape, range_shape, check_adjoint=check_adjoint)
    if hasattr(obj, "A") and hasattr(obj, "A_adjoint") and linear is not False:
        if domain_shape is None:
            raise InputError("a deepinv physics needs domain_shape, the shape of one image, e.g. (1, 64, 64)")
        return DeepinvOperator(obj, domain_shape, check_adjoint=check_adjoint)
    if hasattr(obj, "A"):
        domain_shape, range_shape = _shapes(obj.A, domain_shape, range_shape)
        return Operator.from_function(obj.A, domain_shape, range_shape)
    if callable(obj):
        domain_shape, range_shape = _shapes(obj, domain_shape, range_shape)
        return Operator.from_function(obj, domain_shape, range_shape)
    raise InputError(f"cannot make an operator of a {type(obj).__name__}: give an inverselab Operator, a "
                     "(forward, adjoint) pair, a function, a scipy/PyLops operator or a matrix, or a deepinv Physics")


def _shapes(fn: Callable, domain_shape, range_shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if domain_shape is None:
        raise InputError("an operator given as functions needs domain_shape, the shape of one input")
    domain_shape = tuple(int(s) for s in domain_shape)
    if range_shape is None:
        try:
            with torch.no_grad():
                out = fn(torch.zeros(1, *domain_shape, dtype=torch.float64))
        except Exception as exc:
            raise InputError(f"the forward function failed on an input of shape {format_shape((1, *domain_shape))}: "
                             f"{type(exc).__name__}: {exc}") from None
        if not isinstance(out, Tensor):
            raise InputError(f"the forward function must return a torch.Tensor, got {type(out).__name__}")
        range_shape = tuple(out.shape[1:])
    return domain_shape, tuple(int(s) for s in range_shape)


def to_scipy(op: LinearOperator, dtype: Any = np.float64):
    """``op`` as a ``scipy.sparse.linalg.LinearOperator`` on flattened samples (so scipy's
    ``lsqr``/``cg`` and PyLops solvers run on it), in ``dtype`` (complex128 for a complex op)."""
    from scipy.sparse.linalg import LinearOperator as Scipy

    if not isinstance(op, LinearOperator):
        raise InputError(f"only linear operators have a scipy form; {op.name} is not linear")
    n, m = math.prod(op.domain_shape), math.prod(op.range_shape)
    if op.domain_complex or op.range_complex:
        dtype = np.complex128
    tdtype = torch.from_numpy(np.zeros(1, dtype=dtype)).dtype

    def apply(fn: Callable, shape: tuple[int, ...], columns: np.ndarray) -> np.ndarray:
        batch = np.asarray(columns).reshape(-1, 1) if np.ndim(columns) == 1 else np.asarray(columns)
        x = torch.from_numpy(np.ascontiguousarray(batch.T)).to(tdtype).reshape(batch.shape[1], *shape)
        with torch.no_grad():
            out = fn(x).reshape(batch.shape[1], -1).T.numpy()
        return out[:, 0] if np.ndim(columns) == 1 else out

    return Scipy((m, n), dtype=dtype,
                 matvec=lambda v: apply(op, op.domain_shape, v), rmatvec=lambda v: apply(op.adjoint, op.range_shape, v),
                 matmat=lambda v: apply(op, op.domain_shape, v), rmatmat=lambda v: apply(op.adjoint, op.range_shape, v))


def to_deepinv(op: LinearOperator):
    """``op`` as a ``deepinv.physics.LinearPhysics`` (a ``Physics`` for a nonlinear ``op``).

    Needs deepinv, installed beside the CPU torch with ``pip install --no-deps deepinv`` and its
    light dependencies (see the benchmarks' ``setup_peers.sh``)."""
    try:
        from deepinv import physics
    except ImportError as exc:
        raise InputError(f"a deepinv Physics needs deepinv ({exc}): pip install --no-deps deepinv beside the CPU "
                         "torch (bash benchmarks/setup_peers.sh installs it with its dependencies)") from None
    if not isinstance(op, LinearOperator):
        return physics.Physics(A=op)
    return physics.LinearPhysics(A=op, A_adjoint=op.adjoint)
