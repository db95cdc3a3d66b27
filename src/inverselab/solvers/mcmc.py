"""Posterior sampling of a few unknowns per instance: adaptive random-walk Metropolis, many
independent problems and many chains at once.

Each of ``B`` instances runs ``C`` chains in a box prior. During burn-in the Gaussian proposal
of each instance follows the spread of its chains (the population covariance, scaled by
``2.38^2 / P`` as in Haario et al.'s adaptive Metropolis) and a step factor steered towards an
acceptance rate of 0.25; after burn-in the proposal is frozen, so the kept samples come from a
valid Markov chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._tensor import generator
from ..errors import InputError, check_count
from .history import progress_bar

Tensor = torch.Tensor

__all__ = ["MetropolisResult", "metropolis"]


@dataclass
class MetropolisResult:
    """Kept samples ``(B, C * kept, P)``, the acceptance rate after burn-in ``(B,)`` and the
    log density of the final states ``(B, C)``."""

    samples: Tensor
    acceptance: Tensor
    log_density: Tensor

    def quantiles(self, level: float = 0.9) -> tuple[Tensor, Tensor]:
        """Central ``level`` credible interval of each unknown: ``(low, high)``, each ``(B, P)``."""
        if not 0 < level < 1:
            raise InputError(f"interval level must be in (0, 1), got {level}")
        q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=self.samples.dtype, device=self.samples.device)
        low, high = torch.quantile(self.samples, q, dim=1)
        return low, high


def metropolis(log_likelihood: Callable[[Tensor], Tensor], low: Tensor, high: Tensor, batch: int,
               chains: int = 16, steps: int = 3000, burn_in: int = 1000, thin: int = 5,
               seed: int = 0, initial: Tensor | None = None) -> MetropolisResult:
    r"""Sample ``p(theta | y) ~ exp(log_likelihood(theta))`` on the box ``low <= theta <= high``.

    Parameters
    ----------
    log_likelihood : callable
        ``(B, C, P) -> (B, C)`` log likelihood of each chain's state, for all instances at once.
    low, high : Tensor
        ``(P,)`` bounds of the uniform prior.
    batch : int
        Number of instances ``B``.
    chains : int
        Chains per instance, started from prior draws (or ``initial``).
    steps, burn_in : int
        Total Metropolis steps and the adaptive burn-in among them.
    thin : int
        Keep every ``thin``-th state after burn-in.
    seed : int
        Seed of the proposals and the starting points.
    initial : Tensor, optional
        ``(B, C, P)`` starting states inside the box.

    Notes
    -----
    Random-walk Metropolis: from :math:`\theta`, propose :math:`\theta' = \theta + s\, L \xi`
    (:math:`\xi \sim N(0, I)`, :math:`L L^T = \Sigma`) and accept with probability
    :math:`\min(1, p(y \mid \theta') / p(y \mid \theta))` when :math:`\theta'` is inside the box
    (the uniform prior cancels). During burn-in, every 50 steps :math:`\Sigma` becomes the
    covariance of the chains' current states and the scale :math:`s` (starting at
    :math:`2.38/\sqrt P`) moves towards an acceptance rate of 0.25; after burn-in the proposal is
    fixed, so the kept samples come from a valid Markov chain.

    References
    ----------
    N. Metropolis, A. W. Rosenbluth, M. N. Rosenbluth, A. H. Teller and E. Teller, "Equation of
    state calculations by fast computing machines", *J. Chem. Phys.* 21(6), 1087-1092, 1953.

    H. Haario, E. Saksman and J. Tamminen, "An adaptive Metropolis algorithm", *Bernoulli* 7(2),
    223-242, 2001.

    G. O. Roberts, A. Gelman and W. R. Gilks, "Weak convergence and optimal scaling of random
    walk Metropolis algorithms", *Ann. Appl. Probab.* 7(1), 110-120, 1997.
    """
    check_count("chains", chains, minimum=2)
    check_count("steps", steps, minimum=2)
    check_count("thin", thin, minimum=1)
    if not 0 <= burn_in < steps:
        raise InputError(f"burn_in must be in [0, steps), got {burn_in} with steps={steps}")
    low, high = torch.as_tensor(low), torch.as_tensor(high)
    if low.ndim != 1 or low.shape != high.shape or not bool((high > low).all()):
        raise InputError("prior bounds low and high must be (P,) with high > low everywhere")
    P, dtype, device = low.numel(), low.dtype, low.device
    g = generator(seed, device)
    if initial is None:
        state = low + (high - low) * torch.rand(batch, chains, P, generator=g, dtype=dtype, device=device)
    else:
        state = initial.to(low)
        if state.shape != (batch, chains, P):
            raise InputError(f"initial states must have shape ({batch}, {chains}, {P}), got {tuple(state.shape)}")
    logp = log_likelihood(state)
    width = (high - low).expand(batch, P)
    cov = torch.diag_embed((0.1 * width) ** 2)
    factor = torch.ones(batch, dtype=dtype, device=device)
    accepted = torch.zeros(batch, dtype=dtype, device=device)
    window_accept = torch.zeros(batch, dtype=dtype, device=device)
    kept = []
    bar = progress_bar(steps, "mcmc")
    for k in range(steps):
        chol = torch.linalg.cholesky(cov * factor[:, None, None] ** 2 * 2.38**2 / P
                                     + 1e-12 * torch.eye(P, dtype=dtype, device=device))
        z = torch.randn(batch, chains, P, generator=g, dtype=dtype, device=device)
        proposal = state + torch.einsum("bij,bcj->bci", chol, z)
        inside = ((proposal >= low) & (proposal <= high)).all(-1)
        logq = torch.where(inside, log_likelihood(torch.where(inside[..., None], proposal, state)), -torch.inf)
        accept = torch.rand(batch, chains, generator=g, dtype=dtype, device=device).log() < logq - logp
        state = torch.where(accept[..., None], proposal, state)
        logp = torch.where(accept, logq, logp)
        rate = accept.to(dtype).mean(1)
        if k < burn_in:
            window_accept += rate
            if (k + 1) % 50 == 0:  # adapt: population covariance and the step factor
                centred = state - state.mean(1, keepdim=True)
                cov = centred.transpose(1, 2) @ centred / (chains - 1) + torch.diag_embed((1e-4 * width) ** 2)
                factor = factor * torch.exp(window_accept / 50 - 0.25)
                window_accept.zero_()
        else:
            accepted += rate
            if (k - burn_in) % thin == 0:
                kept.append(state)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    samples = torch.stack(kept, 2).reshape(batch, -1, P)
    return MetropolisResult(samples, accepted / (steps - burn_in), logp)
