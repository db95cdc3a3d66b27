"""The loss contract and the loss registry: ``make_loss(name, **params)``.

A loss is an object called as ``loss(estimate, truth, y, problem) -> scalar``; one that drives
parts of the model itself (adversarial games, autoencoders) runs its own steps instead. The
built-in losses are in :mod:`~inverselab.training.losses` and
:mod:`~inverselab.training.adversarial`; add one with :func:`register_loss`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch

from ..errors import InputError
from ..problems.base import Problem
from ..registry import Registry, parameters_of

Tensor = torch.Tensor

__all__ = ["LOSSES", "Loss", "make_loss", "register_loss", "update_part"]


def _discover() -> None:
    for module in ("losses", "adversarial"):
        importlib.import_module(f"{__package__}.{module}")


#: Every loss, by name.
LOSSES = Registry("loss", _discover, noun="option")


class Loss:
    """Base class. ``needs_truth`` tells the trainer whether batches must carry ground truth;
    ``model_kwargs`` are passed to the network's forward (e.g. ``return_std=True``).

    A loss that drives parts of the model itself (adversarial games, autoencoders) sets
    ``own_step`` and defines ``step(model, y, truth, optimizer, clip) -> loss``,
    ``param_groups(model)`` and ``check_model(model)``; the trainer then calls ``step`` in
    place of ``loss(model(y), ...)`` and a backward pass.
    """

    needs_truth: bool = True
    model_kwargs: dict = {}
    own_step: bool = False

    def __call__(self, estimate: Tensor, truth: Tensor | None, y: Tensor, problem: Problem) -> Tensor:
        raise NotImplementedError

    def config(self) -> dict:
        """Plain description for run configs."""
        return {"name": type(self).__name__, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


def register_loss(name: str, description: str) -> Callable[[type], type]:
    """Class decorator registering a :class:`Loss` subclass as loss ``name``; its constructor's
    keyword parameters are the loss options (``--loss-option key=value``)."""

    def wrap(cls: type) -> type:
        LOSSES.add(name, cls, description, parameters_of(cls))
        return cls

    return wrap


def make_loss(name: str, **params) -> Loss:
    """A registered loss by name with its parameters (strings are converted to their types)."""
    checked = LOSSES.options(name, params)
    try:
        return LOSSES.get(name).obj(**checked)
    except TypeError as exc:
        raise InputError(f"loss {name!r}: {exc}") from None


def update_part(loss: Tensor, part: torch.nn.Module, optimizer: torch.optim.Optimizer, clip: float, label: str) -> None:
    """Backpropagate ``loss`` and update only ``part`` (other parameters' gradients are dropped):
    one update of a loss that runs its own steps (``label`` names it in the error on a
    non-finite loss)."""
    if not torch.isfinite(loss):
        raise InputError(f"{label} training loss became {float(loss.detach())}: lower the learning rate (--lr)")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    owned = {id(q) for q in part.parameters()}
    for group in optimizer.param_groups:
        for q in group["params"]:
            if id(q) not in owned:
                q.grad = None
    if clip:
        torch.nn.utils.clip_grad_norm_(part.parameters(), clip)
    optimizer.step()
