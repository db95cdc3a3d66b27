"""A trained network bound to its problem, obeying the method contract
``reconstruct(y, truth=None) -> (x, History)``, and loaded back from a run directory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from ..problems.files import problem_from_config
from ..problems.base import Problem
from ..solvers.history import History
from ..uq.predictive import z_score
from .registry import build_model
from .weights import load_weights

Tensor = torch.Tensor

__all__ = ["TrainedModel", "load_run"]


@dataclass
class TrainedModel:
    """A network with the problem it reconstructs for.

    Attributes
    ----------
    name : str
        Architecture name (see :data:`~inverselab.models.MODELS`).
    problem : Problem
        The problem whose measurements it takes.
    network : nn.Module
        The network ``y -> x``.
    options : dict
        Architecture options it was built with.
    """

    name: str
    problem: Problem
    network: nn.Module
    options: dict = field(default_factory=dict)

    def reconstruct(self, y: Tensor, truth: Tensor | None = None, batch_size: int = 1) -> tuple[Tensor, History]:
        """Reconstruct a batch in evaluation mode, ``batch_size`` measurements at a time.

        ``history.seconds`` holds the cumulative time after each chunk (PSNR too if ``truth``
        is given), so seconds per image at any batch size can be read off it. Networks that
        predict a standard deviation (``predicts_std``) also fill ``history.interval`` with
        their central 90 % Gaussian interval.
        """
        from ..metrics import psnr

        op = self.problem.operator
        y = op._check(y, op.range_shape, op.range_complex, "measurement")
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        param = next(self.network.parameters())
        self.network.eval()
        spread = getattr(self.network, "predicts_std", False)
        parts, stds, history, start = [], [], History(stop_reason="direct"), time.perf_counter()
        with torch.no_grad():
            for i in range(0, y.shape[0], batch_size):
                chunk = y[i : i + batch_size].to(device=param.device)
                if not chunk.is_complex():
                    chunk = chunk.to(param.dtype)
                if spread:
                    mean, std = self.network(chunk, return_std=True)
                    parts.append(mean.to(y.device))
                    stds.append(std.to(y.device))
                else:
                    parts.append(self.network(chunk).to(y.device))
                history.seconds.append(time.perf_counter() - start)
        x = torch.cat(parts)
        if spread:  # the network's Gaussian: central 90 % interval
            half = z_score(0.9) * torch.cat(stds)
            history.interval = (x - half, x + half)
        history.iterations = len(parts)
        if truth is not None:
            est, ref = (x.abs(), truth.abs()) if x.is_complex() else (x, truth)
            history.psnr.append(float(psnr(est.to(ref.dtype), ref, self.problem.data_range)))
        return x, history


def load_run(run: str | Path, overrides: dict | None = None, device: str | torch.device = "cpu",
             problem: Problem | None = None) -> TrainedModel:
    """Load the network trained in run directory ``run`` (``config.toml`` + ``model.safetensors``).

    Parameters
    ----------
    run : str or Path
        Run directory written by ``inverselab train``.
    overrides : dict, optional
        Problem parameters to change (e.g. a different noise level); the network is re-bound
        to the new problem, which must keep the image shape.
    device : str or torch.device
        Where to put the network.
    problem : Problem, optional
        The problem to reconstruct for, instead of the one the run's config describes (a
        problem built in Python, or the same forward model with other data); it must have the
        shapes the network was trained with.
    """
    from ..records import TRAINED_CONFIG, read_toml

    run = Path(run)
    config_path, weights = run / "config.toml", run / "model.safetensors"
    if not run.is_dir():
        raise InputError(f"{run} is not a training run (no such folder): give the folder 'inverselab train' wrote")
    if not config_path.exists():
        raise InputError(f"{run} is not a training run (no config.toml); train one with 'inverselab train'")
    config = read_toml(config_path, TRAINED_CONFIG, "train the run again, or restore the file it wrote")
    if not weights.exists():
        raise InputError(f"{run} has no model.safetensors yet; finish training with 'inverselab train ... --resume'")
    problem_cfg = dict(config["problem"])
    model_cfg = dict(config["model"])
    given = problem is not None
    trained_on = problem if given else problem_from_config(problem_cfg)
    options = dict(model_cfg.get("options", {}))
    network = build_model(model_cfg["name"], trained_on, **options)
    load_weights(weights, network)
    network.to(device)
    problem = trained_on
    if overrides and not given:
        problem = problem_from_config(problem_cfg, **overrides)
        if hasattr(network, "bind"):
            network.bind(problem)
    return TrainedModel(model_cfg["name"], problem, network, options)
