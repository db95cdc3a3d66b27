"""Networks: shapes, complex data, starting points, gradients, re-binding, bad input."""

from __future__ import annotations

import pytest
import torch

import inverselab as il
from inverselab.errors import InputError
from inverselab.models import LearnedPrimalDual, UNet, build_model, from_channels, model_options, to_channels


@pytest.fixture(scope="module")
def ct():
    p = il.make_problem("ct-parallel", size=32, views=12)
    x = p.sample_truth(2, seed=0)
    return p, x, p.simulate(x, seed=1)


@pytest.fixture(scope="module")
def mri():
    p = il.make_problem("mri", size=32, coils=3)
    x = p.sample_truth(2, seed=0, dtype=torch.float32)
    return p, x, p.simulate(x, seed=1)


def test_channel_views_round_trip():
    z = torch.randn(2, 3, 5, 4, dtype=torch.complex64)
    h = to_channels(z)
    assert h.shape == (2, 6, 5, 4) and not h.is_complex()
    assert torch.equal(from_channels(h, True), z)
    r = torch.randn(2, 1, 4, 4)
    assert to_channels(r) is r


@pytest.mark.parametrize("name", ["unet", "lgd", "lpd", "unrolled"])
def test_models_map_measurements_to_images(ct, mri, name):
    for problem, x, y in (ct, mri):
        torch.manual_seed(0)
        model = build_model(name, problem, **({"width": 8} if name != "unet" else {"width": 4, "depth": 2}))
        out = model(y)
        assert out.shape == x.shape
        assert out.is_complex() == x.is_complex()
        loss = (out - x).abs().square().mean()
        loss.backward()
        grads = [q.grad for q in model.parameters() if q.requires_grad]
        assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("name", ["unet", "lpd", "lgd"])
def test_untrained_networks_start_from_the_baseline(ct, name):
    """Zero-initialised last layers: before training the output equals the baseline."""
    problem, _, y = ct
    model = build_model(name, problem, **({"width": 8} if name != "unet" else {"width": 4, "depth": 2}))
    with torch.no_grad():
        torch.testing.assert_close(model(y), problem.baseline(y), rtol=1e-5, atol=1e-5)


def test_unet_handles_sizes_not_divisible_by_its_depth():
    net = UNet(channels=1, depth=3, width=4)
    x = torch.randn(2, 1, 37, 29)
    assert net(x).shape == x.shape
    with pytest.raises(InputError, match="UNet expects"):
        net(torch.randn(2, 3, 16, 16))


def test_lpd_follows_the_paper_defaults(ct):
    problem = ct[0]
    lpd = LearnedPrimalDual(problem.operator)
    assert lpd.iterations == 10 and lpd.primal_channels == 5 and lpd.dual_channels == 5
    conv = lpd.primal_blocks[0][0]
    assert conv.out_channels == 32 and len([m for m in lpd.primal_blocks[0] if isinstance(m, torch.nn.Conv2d)]) == 3
    assert any(isinstance(m, torch.nn.PReLU) for m in lpd.primal_blocks[0])
    assert lpd.scale == pytest.approx(1 / problem.operator.norm())


def test_unrolled_data_consistency_fits_the_measured_samples(mri):
    """With a large learned weight on the data term the single-coil DC step reproduces the
    measured k-space samples."""
    problem = il.make_problem("mri", size=32)
    x = problem.sample_truth(1, seed=0, dtype=torch.float32)
    y = problem.operator(x)
    model = build_model("unrolled", problem, width=8, iterations=2)
    with torch.no_grad():
        model.log_mu.fill_(-8.0)
        out = model(y)
    rel = float((problem.operator(out) - y).abs().norm() / y.abs().norm())
    assert rel < 1e-3


def test_dropout_makes_training_mode_stochastic(ct):
    problem, _, y = ct
    model = build_model("lpd", problem, width=8, dropout=0.2)
    for block in model.primal_blocks:  # non-zero output layers so dropout reaches the output
        torch.nn.init.normal_(block[-1].weight, std=0.1)
    model.train()
    assert not torch.allclose(model(y), model(y))
    model.eval()
    torch.testing.assert_close(model(y), model(y))


def test_bind_reuses_a_network_for_another_geometry(ct):
    problem = ct[0]
    model = build_model("lpd", problem, width=8)
    other = il.make_problem("ct-parallel", size=32, views=20)
    model.bind(other)
    x = other.sample_truth(1, seed=3)
    assert model(other.simulate(x)).shape == x.shape
    with pytest.raises(InputError, match="cannot bind"):
        model.bind(il.make_problem("ct-parallel", size=48))


def test_unknown_models_and_options_are_named(ct):
    with pytest.raises(InputError, match="unknown model 'vit'"):
        build_model("vit", ct[0])
    with pytest.raises(InputError, match="no option 'depth'.*valid are"):
        build_model("lpd", ct[0], depth=3)
    assert "dropout" in model_options("unet") and "start" in model_options("lpd")


def test_trained_model_reconstructs_in_chunks_with_timing(ct):
    from inverselab.models import TrainedModel

    problem, x, y = ct
    trained = TrainedModel("lpd", problem, build_model("lpd", problem, width=8, iterations=2))
    one, history = trained.reconstruct(y, truth=x, batch_size=1)
    both, _ = trained.reconstruct(y, batch_size=2)
    torch.testing.assert_close(one, both, rtol=1e-5, atol=1e-6)
    assert len(history.seconds) == 2 and history.seconds[1] >= history.seconds[0] and len(history.psnr) == 1
    with pytest.raises(InputError, match="batch size must be >= 1"):
        trained.reconstruct(y, batch_size=0)


@pytest.mark.parametrize("name", ["unet", "lpd", "unrolled"])
def test_physics_stays_in_full_precision_under_autocast(ct, mri, name):
    """bf16 autocast (as in GPU training; CPU autocast here) leaves operators in float32."""
    problem, x, y = mri if name == "unrolled" else ct
    model = build_model(name, problem, **({"width": 8} if name != "unet" else {"width": 4, "depth": 2}))
    with torch.no_grad():
        reference = model(y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(y)
    assert low.dtype in (torch.float32, torch.complex64)
    assert float((low - reference).abs().max()) < 0.05 * float(reference.abs().max())


def _saved_bytes(fn) -> int:
    """Bytes of the tensors autograd keeps for the backward pass while ``fn()`` runs."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


@pytest.mark.parametrize("name", ["lgd", "lpd", "unrolled"])
def test_gradient_checkpointing_gives_the_same_gradients(ct, mri, name):
    """Same parameters and input, with dropout on: checkpointed recomputation replays the RNG,
    so the loss and every gradient agree with the stored-activation run."""
    problem, x, y = mri if name == "unrolled" else ct
    grads = []
    for on in (False, True):
        torch.manual_seed(0)
        model = build_model(name, problem, width=8, dropout=0.1, gradient_checkpointing=on).train()
        assert model.gradient_checkpointing is on
        torch.manual_seed(1)
        loss = (model(y) - x).abs().pow(2).mean()
        loss.backward()
        grads.append([loss.detach()] + [p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_gradient_checkpointing_memory_grows_with_one_iteration(ct):
    """Saved activations: without checkpointing they grow with every iteration; with it, only
    the iteration inputs are kept (the activations of one iteration live only during its
    recomputation in the backward pass)."""
    problem, _, y = ct
    saved = {}
    for on in (False, True):
        for iterations in (2, 8):
            model = build_model("lpd", problem, width=16, iterations=iterations, gradient_checkpointing=on)
            saved[on, iterations] = _saved_bytes(lambda: model(y).sum())
    per_iteration_plain = (saved[False, 8] - saved[False, 2]) / 6
    per_iteration_ckpt = (saved[True, 8] - saved[True, 2]) / 6
    assert per_iteration_ckpt < per_iteration_plain / 10
    assert saved[True, 8] < saved[False, 8] / 5


def test_gradient_checkpointing_is_on_by_default_for_large_images():
    small = il.make_problem("ct-parallel", size=32, views=12)
    large = il.make_problem("ct-parallel", size=256, views=8)
    assert not build_model("lpd", small, width=4).gradient_checkpointing
    assert build_model("lpd", large, width=4).gradient_checkpointing
    assert not build_model("lpd", large, width=4, gradient_checkpointing=False).gradient_checkpointing


def test_unet_dropout_is_stochastic_in_training_and_off_at_zero():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    for p in (0.2, 0.0):
        torch.manual_seed(0)
        net = UNet(width=4, depth=2, dropout=p, residual=False)
        assert any(isinstance(m, torch.nn.Dropout) for m in net.modules()) == (p > 0)
        net.train()
        assert torch.allclose(net(x), net(x)) == (p == 0)
        net.eval()
        torch.testing.assert_close(net(x), net(x))


@pytest.mark.parametrize("kwargs", [{"depth": 1}, {"width": 1}, {"channels": 1}, {"dropout": 0.0}, {"dropout": 0.99}])
def test_unet_accepts_the_smallest_valid_settings(kwargs):
    net = UNet(**{"width": 2, "depth": 1, **kwargs})
    assert net(torch.zeros(1, net.channels, 8, 8)).shape == (1, net.channels, 8, 8)


@pytest.mark.parametrize("kwargs", [{"depth": 0}, {"width": 0}, {"channels": 0}, {"dropout": 1.0}, {"dropout": -0.1}])
def test_unet_rejects_invalid_settings_with_the_range(kwargs):
    with pytest.raises(InputError, match=">= 1|in \\[0, 1\\)"):
        UNet(**kwargs)


def test_unet_normalises_in_groups_of_four_channels_at_most_eight_groups():
    """Group normalisation per block: one group per four channels, between 1 and 8 groups."""
    for width, groups in ((2, 1), (4, 1), (8, 2), (16, 4), (32, 8), (64, 8)):
        norms = [m for m in UNet(width=width, depth=1).down[0].modules() if isinstance(m, torch.nn.GroupNorm)]
        assert {m.num_groups for m in norms} == {groups}, width


def test_unet_widths_double_at_each_coarser_scale():
    net = UNet(width=3, depth=3)
    firsts = [next(m for m in block.modules() if isinstance(m, torch.nn.Conv2d)).out_channels for block in net.down]
    assert firsts == [3, 6, 12, 24]


def test_only_complex_unet_outputs_leave_the_autocast_precision():
    """Complex outputs need full precision (there is no complex bfloat16); real ones keep the
    autocast precision (without the residual's full-precision input added)."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert UNet(width=4, depth=1, residual=False)(torch.rand(1, 1, 16, 16)).dtype == torch.bfloat16
        z = torch.randn(1, 1, 16, 16, dtype=torch.complex64)
        assert UNet(channels=2, width=4, depth=1, residual=False)(z).dtype == torch.complex64


def test_lpd_sees_the_operator_normalised_to_norm_one(ct):
    """The networks' physics layers apply ``A / ||A||`` and its adjoint (power iteration)."""
    problem, _, _ = ct
    model = build_model("lpd", problem, width=8)
    h = torch.randn(1, model.x_channels, *problem.operator.domain_shape[1:], generator=torch.Generator().manual_seed(0))
    for _ in range(30):
        h = model._adjoint_op(model._forward_op(h))
        norm = float(h.norm())
        h = h / norm
    assert abs(norm - 1.0) < 1e-2


def test_unrolled_networks_have_no_dropout_unless_asked(ct):
    problem, _, _ = ct
    for name in ("lpd", "unrolled"):
        model = build_model(name, problem, width=8)
        assert not any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in model.modules()), name
