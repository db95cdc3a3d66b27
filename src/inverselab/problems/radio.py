"""Radio-interferometric imaging preset: the sky from visibilities of a simulated array.

``radio`` observes skies of point and extended sources (or crops of the Hubble deep field) with
a random array (a dense core and a sparse outer disc, 3 km across) at 21 cm: by default one
snapshot (27 antennas: 702 visibilities for a 64 x 64 sky, under-determined), or an
Earth-rotation synthesis of ``hours`` sampled at ``snapshots`` hour angles. The pixel size puts 2.5 pixels across the finest fringe (0.4 / longest baseline).
The baseline is the naturally weighted dirty image in brightness per pixel (divided by the
clean beam's area); the classical methods are Högbom CLEAN, positive L1 in the pixel basis
(FISTA) and total variation (PDHG).
"""

from __future__ import annotations

import torch

from ..data.skies import SKY_KINDS, hubble_skies, random_skies
from ..errors import check_choice, check_count, check_nonnegative
from ..noise import GaussianNoise
from ..operators.interferometry import Interferometer, random_array, uv_coverage
from ..solvers.clean import clean_beam
from .base import Problem, Symmetry
from .registry import register

Tensor = torch.Tensor

ARRAY_RADIUS = 1500.0  # m
WAVELENGTH = 0.21  # m (the hydrogen line)


@register("radio", "radio-interferometric imaging of point/extended sources or Hubble crops; dirty-image baseline")
def radio(size: int = 64, antennas: int = 27, hours: float = 0.0, snapshots: int = 12, sky: str = "sources",
          noise: float = 0.02, seed: int = 0, method: str = "nufft") -> Problem:
    """Radio interferometry. antennas : array size; hours, snapshots : Earth-rotation track
    (hours=0: one snapshot, the default); sky : "sources" or "hubble"; noise : relative Gaussian noise of the
    visibilities; seed : of the array layout; method : "nufft" or "exact" transform."""
    check_count("size", size, minimum=8)
    check_choice("sky", sky, SKY_KINDS)
    uv = uv_coverage(random_array(antennas, ARRAY_RADIUS, seed=seed), WAVELENGTH, hours=hours, snapshots=snapshots)
    op = Interferometer(size, uv, 0.4 / float(uv.abs().max()), method=method)
    area = float(clean_beam(op.psf(2 * size), size).sum())

    def truth(n: int, seed: int, split: str) -> Tensor:
        if sky == "hubble":
            return hubble_skies(n, size, seed=seed, split=split, dtype=torch.float64)[:, None]
        return random_skies(n, size, seed=seed if split == "test" else 2**31 - 1 - seed, dtype=torch.float64)[:, None]

    return Problem(
        name="radio",
        operator=op,
        noise=GaussianNoise(check_nonnegative("noise", noise), relative=True),
        truth_sampler=truth,
        baseline_fn=lambda y: op.dirty(y) / area,
        config={},
        methods={
            "clean": {"gain": 0.1, "threshold": 0.02, "iters": 2000},
            "l1": {"lam": 1.0, "iters": 300},
            "tv": {"lam": 10.0, "iters": 300, "bounds": (0.0, None)},
        },
        default_method="clean",
        symmetries=(Symmetry("half turn", op.half_turn, lambda x: x.flip(-2, -1)),),
    )
