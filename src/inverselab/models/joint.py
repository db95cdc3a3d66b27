"""A network trained jointly on many instances of a family: ``theta_i -> x_i`` by minimising
the summed per-instance losses (no labels).

Holl & Thuerey (2024), "The unreasonable effectiveness of solving inverse problems with neural
networks", report that such a network often ends at lower losses than an optimiser run on each
instance alone; :func:`inverselab.studies.joint.compare` tests it.
"""

from __future__ import annotations


import torch
from torch import nn

from ..errors import check_count
from ..problems.families import Family

Tensor = torch.Tensor

__all__ = ["JointNetwork", "JointEstimator", "train_joint"]


class JointNetwork(nn.Module):
    """MLP from instance features to unknowns inside the family's box (sigmoid output map).

    Parameters
    ----------
    inputs, outputs : int
        Feature and unknown counts.
    bounds : (Tensor, Tensor)
        Lower and upper corners of the box the outputs are mapped into.
    width, depth : int
        Hidden units per layer and hidden layers.
    """

    def __init__(self, inputs: int, outputs: int, bounds: tuple[Tensor, Tensor], width: int = 128, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = inputs
        for _ in range(depth):
            layers += [nn.Linear(c, width), nn.GELU()]
            c = width
        layers.append(nn.Linear(c, outputs))
        self.body = nn.Sequential(*layers)
        lo, hi = (torch.as_tensor(b, dtype=torch.float32) for b in bounds)
        self.register_buffer("lo", lo)
        self.register_buffer("span", hi - lo)

    def forward(self, features: Tensor) -> Tensor:
        return self.lo + self.span * torch.sigmoid(self.body(features.to(self.lo.dtype)))


class JointEstimator(nn.Module):
    """A :class:`JointNetwork` reading packed instances ``(B, K)`` (the ``joint-mlp`` model of
    the ``joint-*`` problems): ``y -> network(features(unpack(y)))``."""

    def __init__(self, family: Family, width: int = 128, depth: int = 3) -> None:
        super().__init__()
        self.family = family
        inputs = family.features(family.draw(1, 0)).shape[1]
        self.network = JointNetwork(inputs, family.dim, family.bounds(), width, depth)

    def forward(self, y: Tensor) -> Tensor:
        return self.network(self.family.features(self.family.unpack(y)))


def train_joint(family: Family, inst: dict[str, Tensor], *, steps: int = 3000, batch: int = 256, lr: float = 1e-3,
                width: int = 128, depth: int = 3, seed: int = 0, progress: bool | None = None) -> JointNetwork:
    """Train a :class:`JointNetwork` on the summed losses of ``inst`` (no labels).

    Adam with a cosine schedule on random mini-batches of instances; the loss is evaluated in
    float64 on the network's (float32) outputs.
    """
    from ..solvers.history import progress_bar

    check_count("steps", steps)
    check_count("batch", batch)
    torch.manual_seed(seed)
    features = family.features(inst).float()
    net = JointNetwork(features.shape[1], family.dim, family.bounds(), width, depth).double()
    n = features.shape[0]
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    bar = progress_bar(steps, f"joint training ({family.name})", show=progress, leave=False)
    for _ in range(steps):
        pick = torch.randint(n, (min(batch, n),), generator=g)
        part = {k: v[pick] for k, v in inst.items()}
        loss = family.loss(net(features[pick].double()), part).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return net.eval()


