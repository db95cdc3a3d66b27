"""A training run as a method: the network of a run directory reconstructs, under the same
contract as every registered method (``make_method("runs/lpd", problem)``, or
``inverselab solve PROBLEM --method runs/lpd``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .._tensor import numpy_boundary
from ..errors import InputError
from ..models import Symmetrized, TrainedModel, load_run
from ..registry import Parameter, check_values
from ..solvers.history import History
from .base import Method, _check_measurements

Tensor = torch.Tensor

__all__ = ["TrainedMethod", "RUN_PARAMETERS"]

#: What a trained run takes as method parameters.
RUN_PARAMETERS = (
    Parameter("batch_size", int, 1, "measurements per network call (timing is per image)", low=1),
    Parameter("symmetrize", bool, False, "average the network over the problem's exact symmetries"),
)


class TrainedMethod(Method):
    """The network of a training run, bound to a problem of the same preset.

    Attributes
    ----------
    run : Path
        The run directory.
    trained : TrainedModel
        The loaded network and the problem it reconstructs for.
    """

    def __init__(self, run: Path, trained: TrainedModel, params: dict) -> None:
        super().__init__(trained.name, trained.problem, params, None, RUN_PARAMETERS)
        self.run = run
        self.trained = trained
        self.options = dict(trained.options)

    @classmethod
    def from_run(cls, run: str | Path, problem: Any = None, overrides: dict | None = None,
                 device: str | torch.device = "cpu", **params) -> TrainedMethod:
        """Load the run's network, re-bound to ``problem`` (the preset it was trained on, possibly
        with other parameters, e.g. a new noise level) or to its own problem changed by
        ``overrides``; ``params``: ``batch_size``, ``symmetrize``."""
        run = Path(run)
        owner = f"trained run {str(run)!r}"
        values = check_values(RUN_PARAMETERS, params, owner)
        given = None
        if problem is not None:
            from ..records import TRAINED_CONFIG, read_toml
            from ..runs import toml_view

            config_path = run / "config.toml"
            if not run.is_dir() or not config_path.exists():
                raise InputError(f"method {str(run)!r} is neither a registered method nor a training run (no config.toml); "
                                 "see 'inverselab list'")
            stored = dict(read_toml(config_path, TRAINED_CONFIG, "train the run again, or restore the file it wrote")["problem"])
            trained_on = stored.pop("problem", None)
            presets = _presets()
            if trained_on not in presets or problem.name not in presets:
                given = problem  # the user's own problem: the network must fit its shapes
            elif trained_on != problem.name:
                raise InputError(f"{run} was trained on {trained_on!r}, not {problem.name!r}: solve {trained_on} with it")
            else:
                current = {k: v for k, v in problem.config.items() if k != "problem"}
                overrides = {k: v for k, v in current.items() if stored.get(k) != toml_view(v)} or None
        trained = load_run(run, overrides, device=device, problem=given)
        if values.get("symmetrize"):
            trained.network = Symmetrized(trained.network, trained.problem.symmetries)
        return cls(run, trained, {**{p.name: p.default for p in RUN_PARAMETERS}, **values})

    def config(self) -> dict:
        """The architecture and its options, as training recorded them."""
        return {"name": self.name, **self.options}

    def to(self, device: str | torch.device) -> TrainedMethod:
        """Move the network (and the operator it holds, if any) to ``device``; measurements are
        moved to it chunk by chunk."""
        self.trained.network.to(device)
        return self

    def warm_up(self, y: Tensor) -> None:
        """One call on the first batch: the first calls build operator caches."""
        self.trained.reconstruct(y[: self.params["batch_size"]])

    @numpy_boundary
    def reconstruct(self, y: Tensor, truth: Tensor | None = None) -> tuple[Tensor, History]:
        """The network's estimates in evaluation mode, ``batch_size`` measurements at a time."""
        _check_measurements(self.problem, y)
        return self.trained.reconstruct(y, truth=truth, batch_size=self.params["batch_size"])


def _presets() -> list[str]:
    from ..problems import list_problems

    return list_problems()
