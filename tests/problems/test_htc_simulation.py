"""The ct-htc preset: synthetic discs with holes in the real HTC2022 scanner geometry."""

from __future__ import annotations

import math

import pytest
import torch

import inverselab as il
from inverselab.data.phantoms import discs_with_holes

from conftest import data_file


def test_discs_with_holes_look_like_the_challenge_phantoms():
    pixel = 76.0 / 64
    x = discs_with_holes(4, 64, pixel, seed=3)
    assert x.shape == (4, 1, 64, 64) and float(x.min()) == 0.0 and float(x.max()) <= 0.033 + 1e-12
    disc_area = math.pi * 35.0**2 / pixel**2
    filled = (x / 0.033).sum(dim=(1, 2, 3))
    assert bool(((filled > 0.5 * disc_area) & (filled < disc_area * 1.02)).all())  # holes remove material
    assert not torch.equal(x[0], x[1])
    assert torch.equal(x, discs_with_holes(4, 64, pixel, seed=3))


@pytest.mark.realdata
def test_ct_htc_matches_the_geometry_of_the_real_scan():
    from inverselab.data import read_htc2022

    scan = read_htc2022(data_file("ct", "htc2022", "tb_category7.mat"), image_size=64)
    problem = il.make_problem("ct-htc", size=64, start=299.0, arc=30.0)
    x = problem.sample_truth(1, seed=0, dtype=torch.float64)
    assert problem.operator.range_shape == scan.operator.range_shape
    torch.testing.assert_close(problem.operator(x), scan.operator(x), rtol=1e-6, atol=1e-9)
