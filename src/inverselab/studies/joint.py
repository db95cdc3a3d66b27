"""Joint optimisation through a network against per-instance optimisation, on one family.

Holl & Thuerey (2024), "The unreasonable effectiveness of solving inverse problems with neural
networks", report that a network ``theta_i -> x_i`` trained by minimising the summed losses
``sum_i L_i(net(theta_i))`` of many instances (no labels) often ends at lower losses than an
optimiser run on each instance alone, even on the instances it was trained on: the gradients of
many instances pool into one update of shared weights, which averages out local,
instance-specific structure. :func:`compare` runs the per-instance optimisers and the jointly
trained network and returns final losses per instance for training and held-out instances.
"""

from __future__ import annotations

import time

import torch

from ..models.joint import train_joint
from ..problems.families import Family
from ..solvers.optimizers import adam, gradient_descent, lbfgs, random_restarts

Tensor = torch.Tensor

__all__ = ["compare"]


def compare(family: Family, n_train: int = 512, n_test: int = 512, *, iters: int = 100, restarts: int = 8,
            gd_lr: float | None = None, steps: int = 3000, seed: int = 0, progress: bool | None = None) -> dict:
    """Per-instance optimisers against a jointly trained network on one family.

    Methods: gradient descent and Adam (``iters`` steps; ``gd_lr`` default 1 % of the box per
    unit gradient), L-BFGS (``iters`` iterations), L-BFGS from ``restarts`` random starts, the
    network trained on the training instances (:func:`train_joint`), and the network's output
    refined by L-BFGS. Everything but the restarts starts from :meth:`initial`.

    Returns
    -------
    dict
        ``{"train": {...}, "test": {...}}``, each mapping a method to its final losses (list,
        one per instance), plus ``seconds`` per method and the family's ``config``.
    """
    lo, hi = family.bounds()
    lr = gd_lr if gd_lr is not None else 0.01 * float((hi - lo).max())
    sets = {"train": family.sample(n_train, seed), "test": family.sample(n_test, seed + 1_000_003)}
    t0 = time.perf_counter()
    net = train_joint(family, sets["train"], steps=steps, seed=seed, progress=progress)
    seconds = {"network training": time.perf_counter() - t0}
    out: dict = {"config": {**family.config(), "n_train": n_train, "n_test": n_test, "iters": iters,
                            "restarts": restarts, "gd_lr": lr, "steps": steps, "seed": seed}}
    for split, inst in sets.items():
        n = next(iter(inst.values())).shape[0]

        def loss(x: Tensor, inst=inst) -> Tensor:
            return family.loss(x, inst)

        x0 = family.initial(inst)
        with torch.no_grad():
            x_net = net(family.features(inst).double()).double()
        methods = {
            "gradient descent": lambda: gradient_descent(loss, x0, iters, lr),
            "adam": lambda: adam(loss, x0, iters, lr),
            "l-bfgs": lambda: lbfgs(loss, x0, iters),
            "l-bfgs, random restarts": lambda: random_restarts(loss, (lo, hi), n, restarts, iters, seed=seed),
            "network": lambda: x_net,
            "network + l-bfgs": lambda: lbfgs(loss, x_net, iters),
        }
        results = {}
        for name, run in methods.items():
            t0 = time.perf_counter()
            x = run()
            seconds[f"{split}/{name}"] = time.perf_counter() - t0
            with torch.no_grad():
                results[name] = family.loss(x, inst).tolist()
        out[split] = results
    out["seconds"] = seconds
    return out
