"""Unrolled iterative networks: learned gradient descent, learned primal-dual (Adler & Öktem,
2017 and 2018) and a model-based network with exact data consistency (MoDL-like).

Each takes any :class:`~inverselab.operators.LinearOperator`. The operator is normalised by
its norm (``A / ||A||``, and the data by the same factor) so the learned blocks see O(1)
quantities whatever the physics. Complex domains and ranges enter the convolutions as
real/imaginary channel pairs.

Training memory: autograd keeps every iteration's activations, so memory grows with the number
of iterations. With gradient checkpointing each iteration keeps only its input and recomputes
its activations during the backward pass (about a third more compute), so memory grows with one
iteration. It is on by default for images or measurements of :data:`CHECKPOINT_ABOVE` pixels
and more.
"""

from __future__ import annotations

from collections.abc import Callable

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import InputError
from ..operators.base import LinearOperator
from ..solvers.linear import cg
from .layers import channels_of, conv_stack, from_channels, physics_precision, to_channels

Tensor = torch.Tensor

__all__ = ["LearnedGradientDescent", "LearnedPrimalDual", "UnrolledDataConsistency", "CHECKPOINT_ABOVE"]

#: Spatial size (pixels of the image or of the measurement) from which gradient checkpointing
#: is on by default.
CHECKPOINT_ABOVE = 256 * 256


def _check_operator(operator) -> LinearOperator:
    if not isinstance(operator, LinearOperator):
        raise InputError(f"unrolled networks need a LinearOperator, got {type(operator).__name__}")
    for shape in (operator.domain_shape, operator.range_shape):
        if not 2 <= len(shape) <= 4:
            raise InputError(f"unrolled networks need (C, *S) shapes with 1-3 spatial dims, got {shape}")
    return operator


class _Unrolled(nn.Module):
    """Shared set-up: normalised operator, channel counts, optional starting reconstruction,
    gradient checkpointing."""

    def __init__(
        self,
        operator: LinearOperator,
        iterations: int,
        initial: Callable[[Tensor], Tensor] | None,
        gradient_checkpointing: bool | None,
    ) -> None:
        super().__init__()
        if iterations < 1:
            raise InputError(f"iterations must be >= 1, got {iterations}")
        self.iterations = iterations
        self._set_operator(operator, initial)
        if gradient_checkpointing is None:
            spatial = max(math.prod(operator.domain_shape[1:]), math.prod(operator.range_shape[1:]))
            gradient_checkpointing = spatial >= CHECKPOINT_ABOVE
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self.x_channels = channels_of(operator.domain_shape, operator.domain_complex)
        self.y_channels = channels_of(operator.range_shape, operator.range_complex)
        self.x_dims = len(operator.domain_shape) - 1
        self.y_dims = len(operator.range_shape) - 1

    def _set_operator(self, operator: LinearOperator, initial: Callable[[Tensor], Tensor] | None) -> None:
        self.operator = _check_operator(operator)
        self.initial = initial
        self.scale = 1.0 / operator.norm()

    def bind(self, problem) -> None:
        """Use ``problem``'s operator (and baseline, if the network starts from one) from now on.

        The learned blocks are shape-agnostic, so one network serves several geometries (e.g.
        CT with 30, 60 or 90 views) as long as the image shape and the channel counts agree.
        """
        op = problem.operator
        same = (
            op.domain_shape == self.operator.domain_shape
            and op.domain_complex == self.operator.domain_complex
            and channels_of(op.range_shape, op.range_complex) == self.y_channels
            and len(op.range_shape) == len(self.operator.range_shape)
        )
        if not same:
            raise InputError(
                f"cannot bind {type(self).__name__} trained on {self.operator.domain_shape} -> "
                f"{self.operator.range_shape} to an operator {op.domain_shape} -> {op.range_shape}"
            )
        if op is not self.operator:
            device = next(self.parameters()).device
            self._set_operator(op.to(device), problem.baseline_fn if self.initial is not None else None)

    def _forward_op(self, h: Tensor) -> Tensor:
        """Normalised ``A`` on the first image channels of ``h``, as channels (full precision)."""
        with physics_precision(h) as h:
            x = from_channels(h[:, : self.x_channels], self.operator.domain_complex)
            return to_channels(self.operator(x)) * self.scale

    def _adjoint_op(self, g: Tensor) -> Tensor:
        """Normalised ``A^H`` on the first measurement channels of ``g``, as channels."""
        with physics_precision(g) as g:
            y = from_channels(g[:, : self.y_channels], self.operator.range_complex)
            return to_channels(self.operator.adjoint(y)) * self.scale

    def _start(self, y: Tensor, channels: int) -> Tensor:
        """Primal memory: zeros, or the initial reconstruction in the first channels."""
        b = y.shape[0]
        h = torch.zeros((b, channels, *self.operator.domain_shape[1:]), dtype=y.real.dtype, device=y.device)
        if self.initial is not None:  # differentiable in y (stability analysis); no graph in training
            with physics_precision(y) as y:
                h[:, : self.x_channels] = to_channels(self.initial(y)).to(h.dtype)
        return h

    def _iterate(self, step: Callable[..., Tensor], *state: Tensor):
        """``step(*state)``, checkpointed when training with gradient checkpointing on."""
        if self.gradient_checkpointing and torch.is_grad_enabled():
            return checkpoint(step, *state, use_reentrant=False)
        return step(*state)

    def _output(self, h: Tensor) -> Tensor:
        return from_channels(h[:, : self.x_channels], self.operator.domain_complex)


class LearnedGradientDescent(_Unrolled):
    """Learned gradient descent: ``h_{k+1} = h_k + G_k(h_k, A^H(A x_k - y))``.

    ``h`` is the primal memory (its first channels are the image ``x``); ``G_k`` is a small
    convolutional block per iteration.

    Parameters
    ----------
    operator : LinearOperator
        Forward model with ``(C, *S)`` domain and range shapes.
    iterations : int
        Unrolled iterations (10 in Adler & Öktem).
    memory : int
        Extra primal memory channels (5).
    width, layers : int
        Channels and depth of each block (32, 3).
    dropout : float
        Dropout in the blocks (for Monte Carlo dropout).
    initial : callable, optional
        ``y -> x0`` starting reconstruction (zero if None).
    gradient_checkpointing : bool, optional
        Recompute each iteration's activations in the backward pass instead of storing them;
        default on from :data:`CHECKPOINT_ABOVE` pixels.
    """

    def __init__(
        self,
        operator: LinearOperator,
        iterations: int = 10,
        memory: int = 5,
        width: int = 32,
        layers: int = 3,
        dropout: float = 0.0,
        initial: Callable[[Tensor], Tensor] | None = None,
        gradient_checkpointing: bool | None = None,
    ) -> None:
        super().__init__(operator, iterations, initial, gradient_checkpointing)
        self.primal_channels = self.x_channels + memory
        c = self.primal_channels
        self.blocks = nn.ModuleList(
            conv_stack(self.x_dims, c + self.x_channels, c, width, layers, dropout) for _ in range(iterations)
        )

    def forward(self, y: Tensor) -> Tensor:
        """Reconstruct a batch ``(B, *range_shape)``."""
        y_n = to_channels(y) * self.scale
        h = self._start(y, self.primal_channels)
        for block in self.blocks:

            def step(h: Tensor, block: nn.Module = block) -> Tensor:
                gradient = self._adjoint_op(self._forward_op(h) - y_n)
                return h + block(torch.cat([h, gradient], dim=1))

            h = self._iterate(step, h)
        return self._output(h)


class LearnedPrimalDual(_Unrolled):
    """Learned primal-dual (Adler & Öktem, 2018).

    Dual update ``g <- g + D_k(g, A x, y)`` in measurement space, primal update
    ``h <- h + P_k(h, A^H g)`` in image space, for ``iterations`` steps, each with its own
    blocks. Defaults follow the paper: 10 iterations, 5 primal and 5 dual memory channels,
    3-layer 32-channel blocks with PReLU.

    Parameters
    ----------
    operator : LinearOperator
        Forward model with ``(C, *S)`` domain and range shapes (1-3 spatial dims each).
    iterations, primal, dual : int
        Unrolled iterations and memory channels in each space (at least the channels of one
        image or measurement).
    width, layers, dropout
        As for :class:`LearnedGradientDescent`.
    initial : callable, optional
        ``y -> x0`` written into the primal image channels before the first step (zero if None).
    gradient_checkpointing : bool, optional
        As for :class:`LearnedGradientDescent`.
    """

    def __init__(
        self,
        operator: LinearOperator,
        iterations: int = 10,
        primal: int = 5,
        dual: int = 5,
        width: int = 32,
        layers: int = 3,
        dropout: float = 0.0,
        initial: Callable[[Tensor], Tensor] | None = None,
        gradient_checkpointing: bool | None = None,
    ) -> None:
        super().__init__(operator, iterations, initial, gradient_checkpointing)
        self.primal_channels = max(primal, self.x_channels)
        self.dual_channels = max(dual, self.y_channels)
        p, d = self.primal_channels, self.dual_channels
        self.dual_blocks = nn.ModuleList(
            conv_stack(self.y_dims, d + 2 * self.y_channels, d, width, layers, dropout) for _ in range(iterations)
        )
        self.primal_blocks = nn.ModuleList(
            conv_stack(self.x_dims, p + self.x_channels, p, width, layers, dropout) for _ in range(iterations)
        )

    def forward(self, y: Tensor) -> Tensor:
        """Reconstruct a batch ``(B, *range_shape)``."""
        y_n = to_channels(y) * self.scale
        h = self._start(y, self.primal_channels)
        g = torch.zeros((y.shape[0], self.dual_channels, *y_n.shape[2:]), dtype=h.dtype, device=y.device)
        for dual_block, primal_block in zip(self.dual_blocks, self.primal_blocks):

            def step(h: Tensor, g: Tensor, dual_block=dual_block, primal_block=primal_block):
                g = g + dual_block(torch.cat([g, self._forward_op(h), y_n], dim=1))
                return h + primal_block(torch.cat([h, self._adjoint_op(g)], dim=1)), g

            h, g = self._iterate(step, h, g)
        return self._output(h)


class UnrolledDataConsistency(_Unrolled):
    """Model-based unrolled network with exact data consistency (MoDL-like).

    Alternates a shared residual CNN denoiser ``z = x + D(x)`` with the data-consistency step
    ``x = argmin ||A x - y||^2 + mu ||x - z||^2`` solved by conjugate gradients (differentiable;
    exact in one step for single-coil Cartesian MRI, a few CG steps for multi-coil). ``mu > 0``
    is learned. Starts from ``A^H y`` (zero-filled for MRI).

    Parameters
    ----------
    operator : LinearOperator
        Forward model with 2-D ``(C, H, W)`` domain.
    iterations : int
        Alternations (MoDL uses 10).
    width, layers : int
        Channels and depth of the denoiser (shared across iterations).
    cg_iters : int
        Conjugate-gradient steps per data-consistency solve.
    dropout : float
        Dropout in the denoiser.
    gradient_checkpointing : bool, optional
        As for :class:`LearnedGradientDescent`.
    """

    def __init__(
        self,
        operator: LinearOperator,
        iterations: int = 8,
        width: int = 48,
        layers: int = 5,
        cg_iters: int = 6,
        dropout: float = 0.0,
        gradient_checkpointing: bool | None = None,
    ) -> None:
        super().__init__(operator, iterations, None, gradient_checkpointing)
        self.cg_iters = cg_iters
        self.denoiser = conv_stack(self.x_dims, self.x_channels, self.x_channels, width, layers, dropout)
        self.log_mu = nn.Parameter(torch.zeros(()))

    def forward(self, y: Tensor) -> Tensor:
        """Reconstruct a batch ``(B, *range_shape)``."""
        op, s = self.operator, self.scale**2
        complex_x = op.domain_complex
        with physics_precision(y) as y:
            rhs0 = op.adjoint(y) * s
        mu = self.log_mu.exp()

        def step(x: Tensor) -> Tensor:
            h = to_channels(x).to(self.log_mu.dtype)
            z = from_channels(h + self.denoiser(h), complex_x).to(rhs0.dtype)
            with physics_precision(z):
                return cg(lambda v: op.normal(v) * s + mu * v, rhs0 + mu * z, x0=z, iters=self.cg_iters, tol=0.0)[0]

        x = rhs0
        for _ in range(self.iterations):
            x = self._iterate(step, x)
        return x
