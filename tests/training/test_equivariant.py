"""Equivariant imaging: the group actions and the loss's two terms."""

from __future__ import annotations

import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.training import make_loss
from inverselab.training.losses import random_transform


@pytest.mark.parametrize("kind", ["rotate", "shift", "flip"])
def test_transforms_move_pixels_and_keep_them(kind):
    x = torch.randn(6, 1, 8, 8, dtype=torch.float64)
    moved = random_transform(x, kind, torch.Generator().manual_seed(1))
    assert moved.shape == x.shape
    for a, b in zip(x, moved):  # a permutation of each image's pixels
        torch.testing.assert_close(a.flatten().sort().values, b.flatten().sort().values)
    assert not torch.equal(moved, x)  # six draws: at least one is not the identity


def test_rotations_need_square_images_and_unknown_groups_are_refused():
    with pytest.raises(InputError, match="square"):
        random_transform(torch.zeros(1, 1, 4, 6), "rotate")
    with pytest.raises(InputError, match="unknown transformation 'scale'"):
        make_loss("equivariant", transform="scale")


def test_the_loss_is_consistency_plus_the_equivariance_of_the_network():
    p = il.make_problem("inpaint", size=16, phantom="ellipses")
    x, y = p.test_data(3, seed=0, dtype=torch.float64)
    estimate = p.baseline(y)
    plain = make_loss("equivariant", weight=0.0)(estimate, None, y, p, model=p.baseline)
    torch.testing.assert_close(plain, make_loss("consistency", lam=0.0)(estimate, None, y, p))
    # zero-filling does not commute with a shift of the image under a fixed mask: a positive term
    shifted = make_loss("equivariant", weight=1.0, transform="shift")(estimate, None, y, p, model=p.baseline)
    assert float(shifted) > float(plain) + 1e-3
    # with F = I the baseline commutes with every transformation: the term vanishes
    identity = il.custom_problem((lambda v: v, lambda v: v), truths=x.numpy(), domain_shape=(1, 16, 16))
    zero = make_loss("equivariant", weight=1.0, transform="rotate")(x, None, x, identity, model=identity.baseline)
    assert float(zero) == pytest.approx(0.0, abs=1e-12)


def test_sample_splitting_scores_held_out_samples_only():
    p = il.make_problem("mri", size=32, coils=2)
    x, y = p.test_data(2, seed=0, dtype=torch.float64)
    loss = make_loss("ssdu", fraction=0.4)
    torch.manual_seed(0)
    exact = loss(x, None, p.operator(x), p, model=lambda v: x)  # noiseless data
    assert float(exact) == pytest.approx(0.0, abs=1e-20)  # a network that returns the truth: no error anywhere
    torch.manual_seed(0)
    zero = loss(x, None, y, p, model=lambda v: torch.zeros_like(x))
    assert float(zero) == pytest.approx(1.0)  # predicting nothing: the whole held-out share
    with pytest.raises(InputError, match="fraction must be in"):
        make_loss("ssdu", fraction=1.0)
    unrolled = il.models.build_model("unrolled", p, width=4, iterations=1)
    value = loss(x, None, y, p, model=unrolled)  # data consistency on the input share, then back
    assert torch.isfinite(value) and unrolled.operator is p.operator
    ct = il.make_problem("ct-parallel", size=16, views=8)
    with pytest.raises(InputError, match="sampling mask"):
        loss(ct.sample_truth(1), None, ct.test_data(1)[1], ct, model=il.models.build_model("lpd", ct, width=4))
