"""OpenFWI-like velocity model families: determinism, shapes and ranges, layer ordering,
fault offsets, bad input."""

from __future__ import annotations

import pytest
import torch

from inverselab.data.velocity import (
    FAMILIES,
    curved_faulted_layers,
    curved_layers,
    faulted_layers,
    flat_layers,
    velocity_family,
)
from inverselab.errors import InputError


N = 24  # models per family in the checks below (fast: well under a second each)


def lateral_jump(v: torch.Tensor) -> torch.Tensor:
    """Largest velocity change between horizontally adjacent cells, per model ``(B,)``."""
    return (v[:, :, 1:] - v[:, :, :-1]).abs().amax(dim=(1, 2))


@pytest.mark.parametrize("name", FAMILIES)
def test_families_are_deterministic_per_seed_and_differ_across_seeds(name):
    make = velocity_family(name)
    a, b, c = make(N, seed=3), make(N, seed=3), make(N, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # the models of one batch differ too
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(make(2, seed=g1), make(2, seed=g2))  # a generator works like a seed


@pytest.mark.parametrize("name", FAMILIES)
def test_shape_dtype_and_range(name):
    make = velocity_family(name)
    v = make(N, seed=0)
    assert v.shape == (N, 70, 70) and v.dtype == torch.float32  # OpenFWI's 70 x 70 default
    assert torch.isfinite(v).all()
    assert v.min() >= 1500 and v.max() <= 4500
    w = make(3, seed=1, shape=(30, 50), vmin=2000.0, vmax=3000.0, dtype=torch.float64)
    assert w.shape == (3, 30, 50) and w.dtype == torch.float64
    assert w.min() >= 2000 and w.max() <= 3000
    assert make(0, seed=0).shape == (0, 70, 70)


def test_flat_layers_are_laterally_constant_and_increase_with_depth():
    """What is asserted: every row is constant; with ``increasing=True`` (default) every column
    is non-decreasing downwards, increasing by at least (vmax - vmin) / 30 at each interface
    (the documented minimum contrast for 5 layers); each model has between 2 and 5 layers."""
    v = flat_layers(200, seed=1)
    assert lateral_jump(v).max() == 0
    steps = v[:, 1:, 0] - v[:, :-1, 0]
    assert (steps >= 0).all()
    assert steps[steps > 0].min() >= 3000 / 30 - 1e-3
    n_layers = torch.tensor([len(torch.unique(m[:, 0])) for m in v])
    assert n_layers.min() == 2 and n_layers.max() == 5  # both ends of layers=(2, 5) are drawn
    assert v[:, 0, 0].min() < 1700 and v[:, -1, 0].max() > 4300  # the range is used
    # "B"-style: the same kind of values in random order, so some columns decrease.
    shuffled = flat_layers(50, seed=1, increasing=False)
    assert lateral_jump(shuffled).max() == 0
    assert ((shuffled[:, 1:, 0] - shuffled[:, :-1, 0]) < 0).any()
    # The number of layers can be fixed.
    one = flat_layers(5, seed=2, layers=(3, 3))
    assert all(len(torch.unique(m)) == 3 for m in one)


def test_curved_layers_bend_but_stay_ordered():
    v = curved_layers(N, seed=2)
    assert (lateral_jump(v) > 0).all()  # interfaces are not horizontal
    assert ((v[:, 1:] - v[:, :-1]) >= 0).all()  # interfaces never cross: columns stay ordered


@pytest.mark.parametrize("make", [faulted_layers, curved_faulted_layers])
def test_faults_offset_the_layers(make):
    """Faults leave the layer velocities unchanged but put different layers side by side: every
    flat model is laterally constant, every faulted one has a lateral jump at least as large
    as the minimum layer contrast."""
    v = make(N, seed=5)
    assert (lateral_jump(v) >= 3000 / 30 - 1e-3).all()
    base = (flat_layers if make is faulted_layers else curved_layers)(N, seed=5)
    for faulted, layered in zip(v, base):
        assert set(torch.unique(faulted).tolist()) <= set(torch.unique(layered).tolist())
    # Without faults the model is the unfaulted one of the same seed.
    assert torch.equal(make(N, seed=5, faults=(0, 0)), base)


def test_fault_geometry_follows_the_options():
    """One steep fault with a large throw: the offset at the far left and far right columns is
    the throw, so their interface depths differ."""
    v = faulted_layers(8, seed=6, faults=(1, 1), dip=(80.0, 80.0), throw=(0.2, 0.2), layers=(3, 3))
    for m in v:
        left = torch.nonzero(m[1:, 0] != m[:-1, 0]).flatten()
        right = torch.nonzero(m[1:, -1] != m[:-1, -1]).flatten()
        assert not torch.equal(left, right)


def test_unknown_family_and_bad_options_raise_input_errors():
    assert FAMILIES == ("flat", "curved", "faulted", "curved-faulted")
    assert velocity_family("flat") is flat_layers
    with pytest.raises(InputError, match="unknown velocity family 'flatvel'.*curved, curved-faulted, faulted, flat"):
        velocity_family("flatvel")
    with pytest.raises(InputError, match="layers"):
        flat_layers(2, layers=(0, 3))
    with pytest.raises(InputError, match="vmin < vmax"):
        flat_layers(2, vmin=3000.0, vmax=2000.0)
    with pytest.raises(InputError, match="at least"):
        curved_layers(2, shape=(1, 70))
    with pytest.raises(InputError, match="dip"):
        faulted_layers(2, dip=(0.0, 45.0))
    with pytest.raises(InputError, match="n must be"):
        flat_layers(-1)
