"""Operator contracts: forward models, linear operators with exact adjoints, and their algebra.

An :class:`Operator` maps a batch ``(B, *domain_shape)`` to ``(B, *range_shape)``. It is an
``nn.Module`` so that it moves with the networks that use it, but its buffers are not part of a
``state_dict`` (operators are rebuilt from their configuration, never loaded from weights).
Operators compute in the dtype and on the device of their input: float32 or float64, complex
where the physics is complex.

A :class:`LinearOperator` adds the adjoint and everything derived from it: ``.H``/``.T``,
``normal``, ``norm`` (power iteration, cached) and the algebra ``A @ B``, ``A + B``, ``c * A``
and :func:`vstack`. Users' own linear maps are wrapped with :meth:`LinearOperator.from_function`,
which takes the adjoint from autograd.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .._tensor import batch_dot, batch_norm, complex_dtype, generator, numpy_boundary, real_dtype
from ..errors import InputError, check_count, format_shape

Tensor = torch.Tensor
Shape = tuple[int, ...]

__all__ = [
    "Operator",
    "LinearOperator",
    "Identity",
    "Diagonal",
    "Stacked",
    "vstack",
    "dottest",
    "gradcheck",
]


def _as_shape(shape: int | Sequence[int]) -> Shape:
    """A shape of positive whole numbers, or InputError naming the bad entry."""
    import operator

    items = (shape,) if isinstance(shape, int) or not hasattr(shape, "__iter__") else tuple(shape)
    out = []
    for s in items:
        try:
            n = operator.index(s) if not isinstance(s, bool) else None
        except TypeError:
            n = None
        if n is None or n < 1:
            raise InputError(f"shape {items!r} must hold whole numbers >= 1, got {s!r}")
        out.append(n)
    return tuple(out)


def _autocasting(x: Tensor) -> bool:
    """Whether an autocast (mixed-precision) region is active for ``x``'s device."""
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # torch < 2.4 takes no device type
        return torch.is_autocast_enabled()


class Operator(nn.Module):
    r"""A (possibly nonlinear) forward model ``F: (B, *domain_shape) -> (B, *range_shape)``.

    Subclasses implement :meth:`_forward`; :meth:`forward` checks the input first, so shape
    and dtype mistakes raise :class:`~inverselab.errors.InputError` with the fix.

    Parameters
    ----------
    domain_shape, range_shape : tuple of int
        Shapes of one sample of the input and of the output (without the batch dimension).
    domain_complex, range_complex : bool
        Whether input and output are complex-valued. A real input to a complex domain is
        promoted to complex.

    Notes
    -----
    A forward model is a map :math:`F: \mathbb{X} \to \mathbb{Y}` between spaces of tensors, applied
    sample by sample to a batch. Nonlinear operators are differentiated by autograd (or by an
    adjoint-state method where a subclass provides one): the gradient of a misfit
    :math:`\tfrac12 \|F(x) - y\|^2` is :math:`J_F(x)^H (F(x) - y)`, the vector-Jacobian product
    that :func:`gradcheck` compares with finite differences.

    References
    ----------
    A. Tarantola, *Inverse Problem Theory and Methods for Model Parameter Estimation*. SIAM, 2005.
    """

    def __init__(
        self,
        domain_shape: int | Sequence[int],
        range_shape: int | Sequence[int],
        *,
        domain_complex: bool = False,
        range_complex: bool = False,
    ) -> None:
        super().__init__()
        self.domain_shape = _as_shape(domain_shape)
        self.range_shape = _as_shape(range_shape)
        self.domain_complex = bool(domain_complex)
        self.range_complex = bool(range_complex)

    # -- evaluation ---------------------------------------------------------------------------
    @numpy_boundary
    def forward(self, x: Tensor) -> Tensor:
        """Apply the operator to a batch ``(B, *domain_shape)`` (a numpy array gives one back)."""
        return self._forward(self._check(x, self.domain_shape, self.domain_complex, "input"))

    def _forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """Class name, used in messages."""
        return type(self).__name__

    def _check(self, x: Tensor, shape: Shape, is_complex: bool, what: str) -> Tensor:
        if not isinstance(x, Tensor):
            raise InputError(f"{self.name} expects a torch.Tensor as {what}, got {type(x).__name__}")
        if x.ndim == len(shape) + 1 and x.shape[0] == 0:
            raise InputError(f"{self.name} got an empty batch as {what} (shape {format_shape(x.shape)}): give at "
                             "least one sample")
        if tuple(x.shape[1:]) != shape or x.ndim != len(shape) + 1:
            expected = "(B, " + ", ".join(map(str, shape)) + ")"
            hint = " (add a batch dimension, e.g. x[None])" if tuple(x.shape) == shape else ""
            raise InputError(
                f"{self.name} expects {what} of shape {expected}, got {format_shape(x.shape)}{hint}"
            )
        if x.dtype in (torch.float16, torch.bfloat16):
            if not _autocasting(x):  # half precision outside mixed-precision training cannot be trusted here
                raise InputError(f"{self.name} computes in float32/float64, got {x.dtype} {what} (convert with "
                                 "x.float(), or run the network under torch.autocast)")
            x = x.float()
        if not (x.is_floating_point() or x.is_complex()):
            raise InputError(
                f"{self.name} expects a float32/float64{' or complex' if is_complex else ''} {what}, "
                f"got {x.dtype} (convert with x.float() or x.double())"
            )
        if x.is_complex() and not is_complex:
            raise InputError(f"{self.name} expects a real {what}, got {x.dtype} (pass x.real or x.abs())")
        if is_complex and not x.is_complex():
            x = x.to(complex_dtype(x.dtype))
        return x

    def _device(self) -> torch.device:
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    # -- algebra ------------------------------------------------------------------------------
    def __matmul__(self, other: Operator) -> Operator:
        if not isinstance(other, Operator):
            return NotImplemented
        if other.range_shape != self.domain_shape:
            raise InputError(
                f"cannot compose {self.name} (domain {format_shape(self.domain_shape)}) with "
                f"{other.name} (range {format_shape(other.range_shape)}): shapes must match"
            )
        if isinstance(self, LinearOperator) and isinstance(other, LinearOperator):
            return _LinearComposed(self, other)
        return _Composed(self, other)

    @classmethod
    def from_function(
        cls,
        fn: Callable[[Tensor], Tensor],
        domain_shape: int | Sequence[int],
        range_shape: int | Sequence[int],
        *,
        domain_complex: bool = False,
        range_complex: bool = False,
    ) -> Operator:
        """Wrap a batched differentiable function as a nonlinear :class:`Operator`."""
        return _FunctionOperator(fn, domain_shape, range_shape, domain_complex, range_complex)

    def extra_repr(self) -> str:
        return f"domain={format_shape(self.domain_shape)}, range={format_shape(self.range_shape)}"


class _Composed(Operator):
    def __init__(self, outer: Operator, inner: Operator) -> None:
        super().__init__(
            inner.domain_shape,
            outer.range_shape,
            domain_complex=inner.domain_complex,
            range_complex=outer.range_complex,
        )
        self.outer, self.inner = outer, inner

    def _forward(self, x: Tensor) -> Tensor:
        return self.outer(self.inner(x))


class _FunctionOperator(Operator):
    def __init__(self, fn, domain_shape, range_shape, domain_complex, range_complex) -> None:
        super().__init__(
            domain_shape, range_shape, domain_complex=domain_complex, range_complex=range_complex
        )
        self.fn = fn

    @property
    def name(self) -> str:
        return f"Operator({getattr(self.fn, '__name__', 'fn')})"

    def _forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


class LinearOperator(Operator):
    r"""A linear operator with an exact adjoint.

    Subclasses implement :meth:`_forward` and :meth:`_adjoint`, and may override
    :meth:`_normal` where ``A^H A`` has a cheaper form. The adjoint is taken with respect to the
    real inner product ``Re <x, y>`` when domain or range is real, and the complex one otherwise.

    ``nonnegative`` is True for operators whose matrix has only nonnegative entries (X-ray
    transforms, blurs with nonnegative kernels, masks); solvers may then use diagonal
    preconditioners built from ``A 1`` and ``A^T 1``.

    Notes
    -----
    The adjoint :math:`A^H` is defined by :math:`\langle A x, y \rangle = \langle x, A^H y \rangle`
    for all :math:`x, y`, with :math:`\langle a, b \rangle = \operatorname{Re} \sum \bar a b` when a
    space is real. :func:`dottest` checks it on random vectors as the relative mismatch

    .. math::

        \frac{|\langle A x, y \rangle - \langle x, A^H y \rangle|}{\|A x\| \, \|y\|},

    which is of the order of the machine precision for an exact adjoint (the "dot-product test"
    of Claerbout). :meth:`norm` estimates :math:`\|A\|_2` by power iteration on :math:`A^H A`.

    References
    ----------
    J. F. Claerbout, *Earth Soundings Analysis: Processing versus Inversion*. Blackwell, 1992.
    """

    nonnegative: bool = False

    @numpy_boundary
    def adjoint(self, y: Tensor) -> Tensor:
        """Apply the adjoint ``A^H`` to a batch ``(B, *range_shape)`` (numpy in, numpy out)."""
        return self._adjoint(self._check(y, self.range_shape, self.range_complex, "adjoint input"))

    def _adjoint(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    @numpy_boundary
    def normal(self, x: Tensor) -> Tensor:
        """Apply ``A^H A`` to a batch ``(B, *domain_shape)`` (numpy in, numpy out)."""
        return self._normal(self._check(x, self.domain_shape, self.domain_complex, "input"))

    def _normal(self, x: Tensor) -> Tensor:
        return self._adjoint(self._forward(x))

    #: True where :meth:`normal_solve` has a closed form (operators diagonal in a fast
    #: transform: circular blurs, masks, single-coil Cartesian MRI).
    exact_normal_solve: bool = False

    def normal_solve(self, b: Tensor, shift: float) -> Tensor:
        """Solve ``(A^H A + shift I) x = b`` exactly (only where :attr:`exact_normal_solve`).

        Parameters
        ----------
        b : Tensor
            Right-hand sides ``(B, *domain_shape)``.
        shift : float
            ``> 0``.

        Returns
        -------
        Tensor
            ``x``, shaped like ``b``.
        """
        if not self.exact_normal_solve:
            raise InputError(f"{self.name} has no closed-form (A^H A + s I)^-1: solve it iteratively (cg)")
        if not (isinstance(shift, (int, float)) and math.isfinite(shift) and shift > 0):
            raise InputError(f"shift must be a finite number > 0, got {shift!r}")
        b = self._check(b, self.domain_shape, self.domain_complex, "right-hand side")
        return self._normal_solve(b, float(shift))

    def _normal_solve(self, b: Tensor, shift: float) -> Tensor:
        raise NotImplementedError

    @property
    def H(self) -> LinearOperator:
        """The adjoint as an operator."""
        return _Adjoint(self)

    @property
    def T(self) -> LinearOperator:
        """The transpose; equal to the adjoint for real operators."""
        if self.domain_complex or self.range_complex:
            raise InputError(f"{self.name} is complex: use .H for its adjoint")
        return _Adjoint(self)

    def norm(
        self,
        iters: int = 200,
        tol: float = 1e-6,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> float:
        """Operator 2-norm ``||A||`` by power iteration on ``A^H A`` (seeded, cached).

        Parameters
        ----------
        iters : int
            Maximum number of power iterations.
        tol : float
            Stop when the estimate changes by less than this relative amount.
        dtype, device
            Where the iteration runs (defaults: float32 on the operator's device).
        """
        cache = self.__dict__.setdefault("_norm_cache", {})
        key = (iters, tol, dtype)
        if key not in cache:
            device = torch.device(device) if device is not None else self._device()
            dt = complex_dtype(dtype) if self.domain_complex else dtype
            g = generator(0, "cpu")
            x = torch.randn((1, *self.domain_shape), generator=g, dtype=dt).to(device)
            x = x / batch_norm(x)
            estimate = 0.0
            with torch.no_grad():
                for _ in range(iters):
                    z = self._normal(x)
                    new = float(batch_norm(z)[0])
                    if new == 0.0:
                        break
                    x = z / new
                    if abs(new - estimate) <= tol * new:
                        estimate = new
                        break
                    estimate = new
            cache[key] = math.sqrt(estimate)
        return cache[key]

    # -- algebra ------------------------------------------------------------------------------
    def __add__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Sum(self, other)

    def __sub__(self, other: LinearOperator) -> LinearOperator:
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Sum(self, _Scaled(-1.0, other))

    def __neg__(self) -> LinearOperator:
        return _Scaled(-1.0, self)

    def __mul__(self, c: complex) -> LinearOperator:
        if not isinstance(c, (int, float, complex)):
            return NotImplemented
        return _Scaled(c, self)

    __rmul__ = __mul__

    @classmethod
    def from_function(
        cls,
        fn: Callable[[Tensor], Tensor],
        domain_shape: int | Sequence[int],
        range_shape: int | Sequence[int],
        *,
        domain_complex: bool = False,
        range_complex: bool = False,
    ) -> LinearOperator:
        """Wrap a batched linear function; its adjoint comes from autograd (a vector-Jacobian
        product at zero), so it is exact up to rounding and differentiable."""
        return _AutogradLinear(fn, domain_shape, range_shape, domain_complex, range_complex)


class _Adjoint(LinearOperator):
    def __init__(self, op: LinearOperator) -> None:
        super().__init__(
            op.range_shape,
            op.domain_shape,
            domain_complex=op.range_complex,
            range_complex=op.domain_complex,
        )
        self.op = op

    @property
    def name(self) -> str:
        return f"{self.op.name}.H"

    def _forward(self, x: Tensor) -> Tensor:
        return self.op._adjoint(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        return self.op._forward(y)

    @property
    def H(self) -> LinearOperator:
        return self.op


class _LinearComposed(LinearOperator):
    def __init__(self, outer: LinearOperator, inner: LinearOperator) -> None:
        super().__init__(
            inner.domain_shape,
            outer.range_shape,
            domain_complex=inner.domain_complex,
            range_complex=outer.range_complex,
        )
        self.outer, self.inner = outer, inner

    @property
    def name(self) -> str:
        return f"({self.outer.name} @ {self.inner.name})"

    def _forward(self, x: Tensor) -> Tensor:
        return self.outer._forward(_promote(self.inner._forward(x), self.outer.domain_complex))

    def _adjoint(self, y: Tensor) -> Tensor:
        z = self.outer._adjoint(y)
        if z.is_complex() and not self.inner.range_complex:
            z = z.real
        return self.inner._adjoint(_promote(z, self.inner.range_complex))


class _Sum(LinearOperator):
    def __init__(self, a: LinearOperator, b: LinearOperator) -> None:
        if a.domain_shape != b.domain_shape or a.range_shape != b.range_shape:
            raise InputError(
                f"cannot add {a.name} and {b.name}: domains {format_shape(a.domain_shape)} vs "
                f"{format_shape(b.domain_shape)}, ranges {format_shape(a.range_shape)} vs "
                f"{format_shape(b.range_shape)} must match"
            )
        super().__init__(
            a.domain_shape,
            a.range_shape,
            domain_complex=a.domain_complex or b.domain_complex,
            range_complex=a.range_complex or b.range_complex,
        )
        self.a, self.b = a, b

    @property
    def name(self) -> str:
        return f"({self.a.name} + {self.b.name})"

    def _forward(self, x: Tensor) -> Tensor:
        return self.a._forward(_to_domain(x, self.a)) + self.b._forward(_to_domain(x, self.b))

    def _adjoint(self, y: Tensor) -> Tensor:
        out = self.a._adjoint(_to_range(y, self.a)) + self.b._adjoint(_to_range(y, self.b))
        return out.real if out.is_complex() and not self.domain_complex else out


class _Scaled(LinearOperator):
    def __init__(self, c: complex, op: LinearOperator) -> None:
        is_complex = isinstance(c, complex)
        super().__init__(
            op.domain_shape,
            op.range_shape,
            domain_complex=op.domain_complex,
            range_complex=op.range_complex or is_complex,
        )
        if is_complex and not op.range_complex and not op.domain_complex:
            raise InputError("a complex scale needs a complex operator: promote the operator first")
        self.c, self.op = c, op

    @property
    def name(self) -> str:
        return f"{self.c} * {self.op.name}"

    def _forward(self, x: Tensor) -> Tensor:
        return self.c * self.op._forward(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        return self.op._adjoint(y * self.c.conjugate() if isinstance(self.c, complex) else y * self.c)

    def norm(self, *args, **kwargs) -> float:
        return abs(self.c) * self.op.norm(*args, **kwargs)

    @property
    def exact_normal_solve(self) -> bool:
        return self.op.exact_normal_solve and self.c != 0

    def _normal_solve(self, b: Tensor, shift: float) -> Tensor:
        c2 = abs(self.c) ** 2  # (|c|^2 A^H A + s I)^-1 = (A^H A + (s / |c|^2) I)^-1 / |c|^2
        return self.op._normal_solve(b, shift / c2) / c2


class _AutogradLinear(LinearOperator):
    def __init__(self, fn, domain_shape, range_shape, domain_complex, range_complex) -> None:
        super().__init__(
            domain_shape, range_shape, domain_complex=domain_complex, range_complex=range_complex
        )
        self.fn = fn

    @property
    def name(self) -> str:
        return f"LinearOperator({getattr(self.fn, '__name__', 'fn')})"

    def _forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        dt = real_dtype(y.dtype)
        dt = complex_dtype(dt) if self.domain_complex else dt
        x0 = torch.zeros((y.shape[0], *self.domain_shape), dtype=dt, device=y.device)
        _, vjp = torch.func.vjp(self.fn, x0)
        (x,) = vjp(y)
        return x


class Identity(LinearOperator):
    r"""The identity on ``shape``.

    Notes
    -----
    :math:`I x = x`; self-adjoint, :math:`\|I\| = 1`.

    References
    ----------
    J. F. Claerbout, *Earth Soundings Analysis: Processing versus Inversion*. Blackwell, 1992.
    """

    def __init__(self, shape: int | Sequence[int], *, is_complex: bool = False) -> None:
        super().__init__(shape, shape, domain_complex=is_complex, range_complex=is_complex)

    def _forward(self, x: Tensor) -> Tensor:
        return x

    def _adjoint(self, y: Tensor) -> Tensor:
        return y

    def norm(self, *args, **kwargs) -> float:
        return 1.0

    exact_normal_solve = True

    def _normal_solve(self, b: Tensor, shift: float) -> Tensor:
        return b / (1 + shift)


class Diagonal(LinearOperator):
    r"""Elementwise multiplication by fixed weights ``w`` (broadcast to ``shape``).

    Parameters
    ----------
    weights : Tensor
        Real or complex weights, broadcastable to ``shape``.
    shape : tuple of int, optional
        Domain and range shape; defaults to ``weights.shape``.

    Notes
    -----
    :math:`(D x)_i = w_i x_i`; the adjoint multiplies by :math:`\bar w_i`, the norm is
    :math:`\max_i |w_i|`, and :math:`(D^H D + s I)^{-1}` is elementwise division by
    :math:`|w_i|^2 + s`, so proximal and normal-equation steps are exact.

    References
    ----------
    P. C. Hansen, *Discrete Inverse Problems: Insight and Algorithms*. SIAM, 2010.
    """

    def __init__(self, weights: Tensor, shape: Sequence[int] | None = None) -> None:
        weights = torch.as_tensor(weights)
        if not bool(torch.isfinite(weights).all()):
            raise InputError("Diagonal weights hold NaN or infinite values: give finite weights")
        shape = tuple(weights.shape) if shape is None else tuple(shape)
        try:
            torch.broadcast_shapes(weights.shape, shape)
        except RuntimeError:
            raise InputError(
                f"Diagonal weights of shape {format_shape(weights.shape)} do not broadcast to "
                f"{format_shape(shape)}"
            ) from None
        c = weights.is_complex()
        super().__init__(shape, shape, domain_complex=c, range_complex=c)
        self.register_buffer("weights", weights.to(torch.complex128 if c else torch.float64), persistent=False)

    def _w(self, x: Tensor) -> Tensor:
        dtype = complex_dtype(x.dtype) if self.weights.is_complex() else real_dtype(x.dtype)
        return self.weights.to(device=x.device, dtype=dtype)

    def _forward(self, x: Tensor) -> Tensor:
        return x * self._w(x)

    def _adjoint(self, y: Tensor) -> Tensor:
        return y * self._w(y).conj()

    def norm(self, *args, **kwargs) -> float:
        return float(self.weights.abs().max())

    exact_normal_solve = True

    def _normal_solve(self, b: Tensor, shift: float) -> Tensor:
        return b / (self._w(b).abs().square() + shift)


class Stacked(LinearOperator):
    r"""Vertical stack ``[A_1; A_2; ...]`` of operators sharing a domain.

    The range is the concatenation of the flattened ranges, shape ``(sum_i prod(range_i),)``;
    :meth:`split` recovers the parts. Used, for example, for Tikhonov with a general
    regulariser: ``vstack([A, sqrt(lam) * L])``.

    Notes
    -----
    For :math:`K = [A_1; \dots; A_k]`, :math:`K x = (A_1 x, \dots, A_k x)` (flattened and
    concatenated) and :math:`K^H (y_1, \dots, y_k) = \sum_i A_i^H y_i`, so
    :math:`\|K x - (y, 0)\|^2 = \|A x - y\|^2 + \lambda \|L x\|^2` for
    :math:`K = [A; \sqrt\lambda L]`: Tikhonov regularisation as one least-squares problem.

    References
    ----------
    P. C. Hansen, *Discrete Inverse Problems: Insight and Algorithms*. SIAM, 2010.
    """

    def __init__(self, ops: Sequence[LinearOperator]) -> None:
        ops = list(ops)
        if not ops:
            raise InputError("vstack needs at least one operator")
        domain = ops[0].domain_shape
        for op in ops[1:]:
            if op.domain_shape != domain:
                raise InputError(
                    f"cannot stack {ops[0].name} and {op.name}: domains {format_shape(domain)} and "
                    f"{format_shape(op.domain_shape)} differ"
                )
        self.sizes = [math.prod(op.range_shape) for op in ops]
        super().__init__(
            domain,
            (sum(self.sizes),),
            domain_complex=any(op.domain_complex for op in ops),
            range_complex=any(op.range_complex for op in ops),
        )
        self.ops = nn.ModuleList(ops)

    @property
    def name(self) -> str:
        return "vstack[" + ", ".join(op.name for op in self.ops) + "]"

    def split(self, y: Tensor) -> list[Tensor]:
        """Split a stacked range batch into the parts, each ``(B, *range_shape_i)``."""
        parts = torch.split(y, self.sizes, dim=1)
        return [p.reshape(y.shape[0], *op.range_shape) for p, op in zip(parts, self.ops)]

    def _forward(self, x: Tensor) -> Tensor:
        outs = [op._forward(_to_domain(x, op)).reshape(x.shape[0], -1) for op in self.ops]
        if self.range_complex:
            outs = [_promote(o, True) for o in outs]
        return torch.cat(outs, dim=1)

    def _adjoint(self, y: Tensor) -> Tensor:
        total = None
        for part, op in zip(self.split(y), self.ops):
            z = op._adjoint(_to_range(part, op))
            total = z if total is None else total + z
        return total.real if total.is_complex() and not self.domain_complex else total


def vstack(ops: Sequence[LinearOperator]) -> Stacked:
    """Stack linear operators with a common domain vertically; see :class:`Stacked`."""
    return Stacked(ops)


def _promote(x: Tensor, to_complex: bool) -> Tensor:
    return x.to(complex_dtype(x.dtype)) if to_complex and not x.is_complex() else x


def _to_domain(x: Tensor, op: Operator) -> Tensor:
    """Adapt a (possibly complex) input to an operator's real/complex domain."""
    if x.is_complex() and not op.domain_complex:
        return x.real
    return _promote(x, op.domain_complex)


def _to_range(y: Tensor, op: LinearOperator) -> Tensor:
    if y.is_complex() and not op.range_complex:
        return y.real
    return _promote(y, op.range_complex)


def _random(shape: Shape, is_complex: bool, dtype: torch.dtype, g: torch.Generator) -> Tensor:
    if is_complex:
        return torch.randn(shape, generator=g, dtype=complex_dtype(dtype))
    return torch.randn(shape, generator=g, dtype=dtype)


def dottest(
    op: LinearOperator,
    dtype: torch.dtype = torch.float64,
    batch: int = 2,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """Relative adjoint mismatch ``|<Ax, y> - <x, A^H y>| / (||Ax|| ||y||)``.

    Random ``x`` and ``y`` (complex where the operator is) are drawn with a seeded generator.
    For an exact adjoint in float64 the result is of the order of 1e-16.

    Parameters
    ----------
    op : LinearOperator
        The operator to test.
    dtype : torch.dtype
        Real precision of the test vectors.
    batch : int
        Batch size of the test vectors.
    seed : int
        Seed of the generator.
    device : optional
        Where to run (default: the operator's device).
    """
    if not isinstance(op, LinearOperator):
        raise InputError(f"dottest needs a LinearOperator, got {type(op).__name__}")
    check_count("batch", batch)
    device = torch.device(device) if device is not None else op._device()
    g = generator(seed)
    x = _random((batch, *op.domain_shape), op.domain_complex, dtype, g).to(device)
    y = _random((batch, *op.range_shape), op.range_complex, dtype, g).to(device)
    with torch.no_grad():
        ax = op(x)
        ahy = op.adjoint(y)
    lhs = (ax.conj() * y).sum() if ax.is_complex() else (ax * y).sum()
    rhs = (x.conj() * ahy).sum() if x.is_complex() else (x * ahy).sum()
    if not (op.domain_complex and op.range_complex):
        lhs, rhs = lhs.real, rhs.real
    scale = torch.linalg.vector_norm(ax) * torch.linalg.vector_norm(y)
    return float(abs(lhs - rhs) / scale) if float(scale) > 0 else float(abs(lhs - rhs))


def gradcheck(
    op: Operator,
    x: Tensor | None = None,
    dtype: torch.dtype = torch.float64,
    batch: int = 2,
    seed: int = 0,
    eps: float = 1e-6,
) -> float:
    """Relative mismatch between autograd's gradient and a central finite difference.

    Compares ``<w, (F(x + eps v) - F(x - eps v)) / (2 eps)>`` with ``<J^T w, v>`` for random
    direction ``v`` and weights ``w``. Of the order of ``eps**2`` for a smooth operator with a
    correct gradient.

    Parameters
    ----------
    op : Operator
        The (nonlinear) operator to check.
    x : Tensor, optional
        The point; default ``1 + 0.1 * N(0, 1)`` (positive, which suits log-parametrised models).
    dtype, batch, seed, eps
        Precision, batch size, seed and finite-difference step.
    """
    g = generator(seed)
    device = x.device if x is not None else op._device()
    if x is None:
        x = 1 + 0.1 * _random((batch, *op.domain_shape), op.domain_complex, dtype, g)
    x = x.to(device=device)
    v = _random(tuple(x.shape), op.domain_complex, x.real.dtype, g).to(device)
    x = x.detach().requires_grad_(True)
    out = op(x)
    w = _random(tuple(out.shape), out.is_complex(), x.real.dtype, g).to(device)
    (grad,) = torch.autograd.grad(out, x, grad_outputs=w)
    with torch.no_grad():
        fd = batch_dot(w, (op(x + eps * v) - op(x - eps * v)) / (2 * eps)).sum()
        ad = batch_dot(grad, v).sum()
    scale = max(abs(float(fd)), abs(float(ad)), torch.finfo(x.real.dtype).tiny)
    return abs(float(fd - ad)) / scale
