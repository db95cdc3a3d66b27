"""Radio interferometry: the NUFFT against the exact transform, baselines, sky models, CLEAN."""

from __future__ import annotations

import math

import pytest
import torch

import inverselab as il
from inverselab.data.skies import hubble_skies, random_skies
from inverselab.errors import InputError
from inverselab.operators import Interferometer, dottest, random_array, uv_coverage
from inverselab.solvers.clean import clean_beam, hogbom_clean


@pytest.fixture(scope="module")
def uv():
    return uv_coverage(random_array(12, 1000.0, seed=0), 0.21, hours=3.0, snapshots=6)


def _pixel(uv):
    return 0.4 / float(uv.abs().max())


@pytest.mark.parametrize("size", [16, 33])
def test_nufft_matches_the_exact_sum_and_both_adjoints_are_exact(uv, size):
    fast, exact = Interferometer(size, uv, _pixel(uv)), Interferometer(size, uv, _pixel(uv), method="exact")
    x = torch.rand(2, 1, size, size, dtype=torch.float64)
    assert float((fast(x) - exact(x)).abs().norm() / exact(x).abs().norm()) < 1e-4
    v = torch.randn(2, uv.shape[0], dtype=torch.complex128)
    assert float((fast.adjoint(v) - exact.adjoint(v)).norm() / exact.adjoint(v).norm()) < 1e-4
    assert dottest(exact) < 1e-10 and dottest(fast) < 1e-10
    assert dottest(fast, dtype=torch.float32) < 1e-6


def test_exact_transform_follows_the_phase_convention(uv):
    size, pixel = 16, _pixel(uv)
    op = Interferometer(size, uv, pixel, method="exact")
    x = torch.zeros(1, 1, size, size, dtype=torch.float64)
    x[0, 0, 5, 11] = 2.0  # l = (11 - 8) pixel, m = (5 - 8) pixel
    expected = 2.0 * torch.exp(-2j * math.pi * (uv[:, 0] * 3 * pixel + uv[:, 1] * (-3) * pixel))
    assert torch.allclose(op(x)[0], expected)
    centre = torch.zeros_like(x)
    centre[0, 0, 8, 8] = 1.0
    assert float(op.dirty(op(centre)).max()) == pytest.approx(1.0)  # unit point source peaks at 1
    beam = op.psf()
    assert beam.shape == (32, 32) and float(beam[16, 16]) == pytest.approx(1.0)
    assert torch.allclose(op.dirty(op(centre))[0, 0], beam[8:24, 8:24], atol=1e-12)


def test_baselines_are_mirrored_and_rotate_with_the_earth():
    pos = random_array(5, 800.0, seed=2)
    snap = uv_coverage(pos, 0.21)
    assert snap.shape == (2 * 10, 2) and torch.allclose(snap[:10], -snap[10:])
    track = uv_coverage(pos, 0.21, hours=6.0, snapshots=7)
    assert track.shape == (2 * 10 * 7, 2)
    # rotation keeps each baseline's projected length below its physical length / wavelength
    assert float(track.norm(dim=1).max()) <= float(torch.cdist(pos, pos).max()) / 0.21 + 1e-6
    with pytest.raises(InputError, match="undersample"):
        Interferometer(16, snap, 2.0 / float(snap.abs().max()))
    with pytest.raises(InputError, match="uv must be"):
        Interferometer(16, torch.zeros(5, 3), 1e-4)
    with pytest.raises(InputError, match="positions"):
        uv_coverage(torch.zeros(1, 2), 0.21)


def test_sky_models_are_seeded_non_negative_and_split():
    a, b = random_skies(3, 32, seed=4), random_skies(3, 32, seed=4)
    assert torch.equal(a, b) and float(a.min()) >= 0 and torch.allclose(a.flatten(1).amax(1), torch.ones(3))
    train, test = hubble_skies(2, 32, seed=0, split="train"), hubble_skies(2, 32, seed=0, split="test")
    assert train.shape == (2, 32, 32) and not torch.allclose(train, test)
    with pytest.raises(InputError, match="split"):
        hubble_skies(1, 32, split="val")


def test_clean_finds_point_sources_and_its_beam_fits_the_main_lobe(uv):
    size = 32
    op = Interferometer(size, uv, _pixel(uv))
    x = torch.zeros(1, 1, size, size, dtype=torch.float64)
    x[0, 0, 10, 12], x[0, 0, 20, 21] = 1.0, 0.5
    model, history = hogbom_clean(op, op(x), gain=0.2, threshold=1e-3, iters=500, output="model")
    assert history.stop_reason == "tolerance"
    assert float((model - x).abs().max()) < 0.02
    beam = clean_beam(op.psf(), size)
    psf = op.psf(size)
    lobe = psf > 0.5
    assert float((beam[lobe] - psf[lobe]).abs().max()) < 0.15  # the Gaussian follows the lobe
    with pytest.raises(InputError, match="gain"):
        hogbom_clean(op, op(x), gain=1.5)


def test_radio_preset_methods_rank_as_expected():
    p = il.make_problem("radio")
    x = p.sample_truth(2, seed=0, split="test", dtype=torch.float64)
    y = p.simulate(x, seed=1)
    score = {}
    for name in ("baseline", "clean", "l1", "tv"):
        est, _ = il.make_method(name, p).reconstruct(y, truth=x)
        score[name] = float(il.metrics.psnr(est, x, 1.0))
    assert score["clean"] > score["baseline"] + 2
    assert score["l1"] > score["clean"]
    with pytest.raises(InputError, match="method .clean. does not apply to ct-parallel"):
        il.make_method("clean", il.make_problem("ct-parallel", size=16, views=8)).reconstruct(torch.zeros(1, 8, 23))


def test_training_skies_are_turned_and_flipped_test_skies_are_not(monkeypatch):
    from inverselab.data import skies

    # a field that brightens towards the bottom right: the brightest corner of a crop shows its turn
    z, x = torch.meshgrid(torch.arange(400.0), torch.arange(500.0), indexing="ij")
    monkeypatch.setattr(skies, "_hubble_field", lambda: 1.0 + z + 2.0 * x)

    def corners(split: str) -> set[int]:
        crops = hubble_skies(32, 16, seed=1, split=split)
        return set(crops[:, [0, 0, -1, -1], [0, -1, 0, -1]].argmax(1).tolist())

    assert corners("test") == {3}  # bottom right, as cropped
    assert corners("train") == {0, 1, 2, 3}  # all four turns occur


@pytest.mark.parametrize("size", [16, 17])
@pytest.mark.parametrize("method", ["exact", "nufft"])
def test_half_turn_of_the_sky_is_an_exact_symmetry_of_the_visibilities(uv, size, method):
    op = Interferometer(size, uv, _pixel(uv), method=method)
    x = torch.rand(2, 1, size, size, dtype=torch.float64)
    turned, expected = op(x.flip(-2, -1)), op.half_turn(op(x))
    tol = 1e-12 if method == "exact" else 1e-4
    assert float((turned - expected).abs().norm() / expected.abs().norm()) < tol
    assert float((x.flip(-2, -1) - x).norm()) > 1  # not a trivial identity
    y = op(x)
    assert torch.allclose(op.half_turn(op.half_turn(y)), y)  # an involution


def test_symmetrized_network_averages_over_the_half_turn():
    from inverselab.models import Symmetrized

    problem = il.make_problem("radio", size=16, antennas=8, method="exact")
    (sym,) = problem.symmetries
    y = problem.simulate(problem.sample_truth(3, seed=1), seed=2)
    # the dirty image commutes with the half turn, so averaging over it changes nothing
    dirty = lambda v: problem.baseline_fn(v).float()  # noqa: E731
    net = torch.nn.Module()
    net.forward = dirty
    torch.testing.assert_close(Symmetrized(net, problem.symmetries)(y), dirty(y), rtol=1e-5, atol=1e-6)
    # a network that is not equivariant (a fixed offset pattern) is replaced by its average
    pattern = torch.arange(256.0).reshape(1, 1, 16, 16) / 256
    biased = torch.nn.Module()
    biased.forward = lambda v: dirty(v) + pattern
    torch.testing.assert_close(Symmetrized(biased, problem.symmetries)(y),
                               dirty(y) + (pattern + pattern.flip(-2, -1)) / 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="no exact symmetries"):
        Symmetrized(net, il.make_problem("deblur").symmetries)
