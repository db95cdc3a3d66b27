"""Bad arguments to the public Python API: each raises an InputError with one line naming the
problem, never a deep error from torch or numpy, and never a silently wrong result."""

from __future__ import annotations

import signal

import numpy as np
import pytest
import torch

import inverselab as il
from inverselab import operators as ops
from inverselab import solvers
from inverselab.errors import InputError
from inverselab.metrics import psnr, relative_error, ssim
from inverselab.noise import GaussianNoise, PoissonNoise

_PROBLEMS: dict[str, il.problems.Problem] = {}


def problem(name: str, **params):
    """A small preset, built once."""
    key = f"{name}{sorted(params.items())}"
    if key not in _PROBLEMS:
        _PROBLEMS[key] = il.make_problem(name, **params)
    return _PROBLEMS[key]


def cs():
    return problem("cs", size=16)


def ct():
    return problem("ct-parallel", size=16, views=8)


def measurement(p, seed=0):
    return p.test_data(1, seed)[1]


def with_nan(t):
    t = t.clone()
    t.view(-1)[0] = float("nan")
    return t


def with_inf(t):
    t = t.clone()
    t.view(-1)[-1] = float("inf")
    return t


X8 = torch.rand(1, 1, 8, 8)

# --- problems and methods -------------------------------------------------------------------------
CASES = {
    "make_problem/unknown": lambda: il.make_problem("nonsense"),
    "make_problem/empty": lambda: il.make_problem(""),
    "make_problem/not-a-string": lambda: il.make_problem(3),
    "make_problem/unknown-param": lambda: il.make_problem("cs", width=3),
    "make_problem/size-float": lambda: il.make_problem("cs", size=16.5),
    "make_problem/size-string": lambda: il.make_problem("cs", size="big"),
    "make_problem/size-negative": lambda: il.make_problem("cs", size=-16),
    "make_problem/size-zero": lambda: il.make_problem("cs", size=0),
    "make_problem/size-bool": lambda: il.make_problem("cs", size=True),
    "make_problem/size-huge": lambda: il.make_problem("cs", size=2**40),
    "make_problem/size-memory": lambda: il.make_problem("cs", size=2**31 - 1),
    "make_problem/noise-negative": lambda: il.make_problem("cs", size=16, noise=-0.1),
    "make_problem/noise-nan": lambda: il.make_problem("cs", size=16, noise=float("nan")),
    "make_problem/noise-inf": lambda: il.make_problem("cs", size=16, noise=float("inf")),
    "make_problem/noise-list": lambda: il.make_problem("cs", size=16, noise=[0.1]),
    "make_problem/kind-unknown": lambda: il.make_problem("cs", size=16, kind="nonsense"),
    "make_problem/views-zero": lambda: il.make_problem("ct-parallel", size=16, views=0),
    "make_problem/angle-range-nan": lambda: il.make_problem("ct-parallel", size=16, angle_range=float("nan")),
    "make_problem/detectors-negative": lambda: il.make_problem("ct-parallel", size=16, detectors=-3),
    "make_problem/photons-negative": lambda: il.make_problem("ct-parallel", size=16, photons=-10.0),
    "make_problem/mri-acceleration-below-one": lambda: il.make_problem("mri", size=16, acceleration=0.5),
    "make_problem/mri-center-fraction": lambda: il.make_problem("mri", size=16, center_fraction=1.5),
    "make_problem/inpaint-fraction": lambda: il.make_problem("inpaint", size=16, fraction=1.5),
    "make_problem/superres-factor": lambda: il.make_problem("superres", size=16, factor=0),
    "make_problem/deblur-sigma": lambda: il.make_problem("deblur", size=16, sigma=-1.0),
    "make_problem/dataset-no-path": lambda: il.make_problem("lodopab"),
    "make_problem/dataset-missing-path": lambda: il.make_problem("lodopab", path="/nonexistent/lodopab"),
    "sample_truth/n-zero": lambda: cs().sample_truth(0),
    "sample_truth/n-float": lambda: cs().sample_truth(2.5),
    "sample_truth/seed-negative": lambda: cs().sample_truth(1, seed=-1),
    "sample_truth/split-unknown": lambda: cs().sample_truth(1, split="nonsense"),
    "test_data/n-negative": lambda: cs().test_data(-1),
    "simulate/wrong-shape": lambda: cs().simulate(torch.rand(1, 1, 8, 8)),
    "simulate/nan": lambda: cs().simulate(with_nan(cs().sample_truth(1))),
    "simulate/complex": lambda: cs().simulate(cs().sample_truth(1).to(torch.complex64)),
    "simulate/list": lambda: cs().simulate([[1.0, 2.0]]),
    "evaluate/shape-mismatch": lambda: cs().evaluate(torch.rand(1, 1, 16, 16), torch.rand(2, 1, 16, 16)),
    "evaluate/nan-estimate": lambda: cs().evaluate(with_nan(torch.rand(1, 1, 16, 16)), torch.rand(1, 1, 16, 16)),
    "make_method/unknown": lambda: il.make_method("nonsense", cs()),
    "make_method/empty": lambda: il.make_method("", cs()),
    "make_method/not-applicable": lambda: il.make_method("fbp", cs()),
    "make_method/unknown-param": lambda: il.make_method("tv", cs(), nonsense=1),
    "make_method/iters-float": lambda: il.make_method("tv", cs(), iters=2.5),
    "make_method/iters-zero": lambda: il.make_method("tv", cs(), iters=0),
    "make_method/iters-string": lambda: il.make_method("tv", cs(), iters="many"),
    "make_method/lam-nan": lambda: il.make_method("tv", cs(), lam=float("nan")),
    "make_method/lam-negative": lambda: il.make_method("tv", cs(), lam=-1.0),
    "make_method/lam-inf": lambda: il.make_method("tikhonov", cs(), lam=float("inf")),
    "make_method/missing-run": lambda: il.make_method("/nonexistent/run", cs()),
    "reconstruct/wrong-shape": lambda: il.reconstruct(cs(), torch.rand(1, 5), "tv"),
    "reconstruct/list": lambda: il.reconstruct(cs(), [1.0, 2.0], "tv"),
    "reconstruct/string": lambda: il.reconstruct(cs(), "y", "tv"),
    "reconstruct/empty-batch": lambda: il.reconstruct(cs(), measurement(cs())[:0], "tv"),
    "reconstruct/float16": lambda: il.reconstruct(cs(), measurement(cs()).half(), "tv"),
    "reconstruct/bfloat16": lambda: il.reconstruct(cs(), measurement(cs()).bfloat16(), "tikhonov"),
    "reconstruct/integer": lambda: il.reconstruct(cs(), measurement(cs()).long(), "tv"),
    "reconstruct/complex-for-real": lambda: il.reconstruct(ct(), measurement(ct()).to(torch.complex64), "fbp"),
    "reconstruct/truth-wrong-shape": lambda: il.reconstruct(cs(), measurement(cs()), "tv",
                                                            truth=torch.rand(1, 1, 4, 4)),
    "reconstruct/truth-nan": lambda: il.reconstruct(cs(), measurement(cs()), "tv",
                                                    truth=with_nan(cs().sample_truth(1))),
    "reconstruct/unknown-method": lambda: il.reconstruct(cs(), measurement(cs()), "nonsense"),
    "estimate/image-problem": lambda: il.estimate(cs(), "tv"),
    "load_problem/missing": lambda: il.load_problem("/nonexistent/problem.toml"),
    "load_problem/folder": lambda: il.load_problem("/tmp"),
    "load_problem/device": lambda: il.load_problem("/dev/zero"),
    "custom_problem/nothing": lambda: il.custom_problem(ops.Identity((1, 8, 8))),
    "custom_problem/not-an-operator": lambda: il.custom_problem("blur", truths=np.zeros((4, 1, 8, 8))),
    "custom_problem/bad-adjoint": lambda: il.custom_problem((lambda x: 2 * x, lambda y: y), truths=torch.rand(4, 1, 8, 8),
                                                            domain_shape=(1, 8, 8), range_shape=(1, 8, 8)),
    "custom_problem/truths-nan": lambda: il.custom_problem(ops.Identity((1, 8, 8)), truths=with_nan(torch.rand(4, 1, 8, 8))),
    "custom_problem/truths-complex": lambda: il.custom_problem(ops.Identity((1, 8, 8)),
                                                               truths=torch.rand(4, 1, 8, 8).to(torch.complex64)),
    "custom_problem/truths-shape": lambda: il.custom_problem(ops.Identity((1, 8, 8)), truths=torch.rand(4, 1, 7, 8)),
    "custom_problem/truths-strings": lambda: il.custom_problem(ops.Identity((1, 8, 8)), truths=np.array([["a"]])),
    "custom_problem/noise-negative": lambda: il.custom_problem(ops.Identity((1, 8, 8)), truths=torch.rand(4, 1, 8, 8),
                                                               noise=-0.1),
    "custom_problem/measurements-nan": lambda: il.custom_problem(ops.Identity((1, 8, 8)),
                                                                 measurements=with_nan(torch.rand(4, 1, 8, 8))),
    "custom_problem/measurements-inf": lambda: il.custom_problem(ops.Identity((1, 8, 8)),
                                                                 measurements=with_inf(torch.rand(4, 1, 8, 8))),
    "custom_problem/measurements-complex": lambda: il.custom_problem(
        ops.Identity((1, 8, 8)), measurements=torch.rand(4, 1, 8, 8).to(torch.complex64)),
    "custom_problem/splits": lambda: il.custom_problem(ops.Identity((1, 8, 8)), truths=torch.rand(4, 1, 8, 8),
                                                       splits=(0.5, 0.5)),
}

# NaN and infinite measurements, for every method of two problems
for _name, _factory in (("cs", cs), ("ct", ct)):
    for _method in ("baseline", "tikhonov", "tv", "wavelet", "tv-admm") + (("fbp",) if _name == "ct" else ()):
        CASES[f"reconstruct/{_name}-{_method}-nan"] = (
            lambda f=_factory, m=_method: il.reconstruct(f(), with_nan(measurement(f())), m))
        CASES[f"reconstruct/{_name}-{_method}-inf"] = (
            lambda f=_factory, m=_method: il.reconstruct(f(), with_inf(measurement(f())), m))

# --- operators --------------------------------------------------------------------------------------
CASES.update({
    "Identity/shape-zero": lambda: ops.Identity((1, 0, 8)),
    "Identity/shape-negative": lambda: ops.Identity((1, -8, 8)),
    "Identity/shape-float": lambda: ops.Identity((1, 8.5, 8)),
    "Identity/apply-wrong-shape": lambda: ops.Identity((1, 8, 8))(torch.rand(1, 1, 4, 4)),
    "Identity/apply-list": lambda: ops.Identity((1, 8, 8))([[0.0]]),
    "Identity/apply-no-batch": lambda: ops.Identity((1, 8, 8))(torch.rand(8, 8)),
    "Identity/apply-float16": lambda: ops.Identity((1, 8, 8))(X8.half()),
    "Blur/kernel-nan": lambda: ops.Blur((1, 8, 8), with_nan(torch.ones(3, 3) / 9)),
    "Blur/kernel-too-big": lambda: ops.Blur((1, 8, 8), torch.ones(31, 31)),
    "Blur/boundary-unknown": lambda: ops.Blur((1, 8, 8), torch.ones(3, 3) / 9, boundary="nonsense"),
    "Blur/apply-wrong-shape": lambda: ops.Blur((1, 8, 8), torch.ones(3, 3) / 9)(torch.rand(1, 1, 9, 9)),
    "Blur/apply-bfloat16": lambda: ops.Blur((1, 8, 8), torch.ones(3, 3) / 9)(X8.bfloat16()),
    "Inpainting/mask-nan": lambda: ops.Inpainting(with_nan(torch.ones(8, 8))),
    "Inpainting/mask-values": lambda: ops.Inpainting(torch.full((8, 8), 0.5)),
    "Inpainting/mask-empty": lambda: ops.Inpainting(torch.zeros(8, 8)),
    "Inpainting/channels-zero": lambda: ops.Inpainting(torch.ones(8, 8), channels=0),
    "Diagonal/weights-nan": lambda: ops.Diagonal(with_nan(torch.ones(1, 8, 8))),
    "Downsampling/factor-zero": lambda: ops.Downsampling((1, 8, 8), factor=0),
    "Downsampling/factor-not-dividing": lambda: ops.Downsampling((1, 8, 8), factor=3),
    "Downsampling/filter-unknown": lambda: ops.Downsampling((1, 8, 8), filter="nonsense"),
    "CompressedSensing/m-zero": lambda: ops.CompressedSensing((1, 8, 8), 0),
    "CompressedSensing/m-too-many": lambda: ops.CompressedSensing((1, 8, 8), 1000),
    "CompressedSensing/kind-unknown": lambda: ops.CompressedSensing((1, 8, 8), 8, kind="nonsense"),
    "CartesianMRI/mask-nan": lambda: ops.CartesianMRI(with_nan(torch.ones(8, 8))),
    "CartesianMRI/mask-3d": lambda: ops.CartesianMRI(torch.ones(2, 2, 2, 2, 2)),
    "ParallelBeam2D/size-zero": lambda: ops.ParallelBeam2D(0, 8),
    "ParallelBeam2D/views-zero": lambda: ops.ParallelBeam2D(16, 0),
    "ParallelBeam2D/angles-nan": lambda: ops.ParallelBeam2D(16, torch.tensor([0.0, float("nan")])),
    "ParallelBeam2D/angles-2d": lambda: ops.ParallelBeam2D(16, torch.zeros(2, 3)),
    "ParallelBeam2D/angles-empty": lambda: ops.ParallelBeam2D(16, torch.zeros(0)),
    "ParallelBeam2D/pixel-size-zero": lambda: ops.ParallelBeam2D(16, 8, pixel_size=0.0),
    "ParallelBeam2D/pixel-size-negative": lambda: ops.ParallelBeam2D(16, 8, pixel_size=-1.0),
    "ParallelBeam2D/detector-spacing-zero": lambda: ops.ParallelBeam2D(16, 8, detector_spacing=0.0),
    "ParallelBeam2D/detectors-zero": lambda: ops.ParallelBeam2D(16, 8, 0),
    "ParallelBeam2D/offset-nan": lambda: ops.ParallelBeam2D(16, 8, detector_offset=float("nan")),
    "ParallelBeam2D/storage-unknown": lambda: ops.ParallelBeam2D(16, 8, storage="nonsense"),
    "ParallelBeam2D/apply-wrong-shape": lambda: ops.ParallelBeam2D(16, 8)(torch.rand(1, 1, 8, 8)),
    "ParallelBeam2D/apply-float16": lambda: ops.ParallelBeam2D(16, 8)(torch.rand(1, 1, 16, 16).half()),
    "ParallelBeam2D/adjoint-wrong-shape": lambda: ops.ParallelBeam2D(16, 8).adjoint(torch.rand(1, 1, 3, 3)),
    "FanBeam2D/source-inside": lambda: ops.FanBeam2D(16, 8, source_origin=1.0, source_detector=2.0),
    "FanBeam2D/detector-before-source": lambda: ops.FanBeam2D(16, 8, source_origin=50.0, source_detector=20.0),
    "FanBeam2D/pixel-size-zero": lambda: ops.FanBeam2D(16, 8, pixel_size=0.0),
    "Wavelet2D/unknown": lambda: ops.Wavelet2D((1, 8, 8), wavelet="nonsense"),
    "Wavelet2D/levels-too-many": lambda: ops.Wavelet2D((1, 8, 8), levels=20),
    "Gradient/shape-bad": lambda: ops.Gradient((0, 8)),
    "dottest/batch-zero": lambda: ops.dottest(ops.Identity((1, 8, 8)), batch=0),
    "dottest/not-an-operator": lambda: ops.dottest(lambda x: x),
    "Gravity2D/edges-unsorted": lambda: ops.Gravity2D([0.0, 1.0], [2.0, 1.0, 0.0], [0.0, 1.0]),
    "Gravity2D/edges-nan": lambda: ops.Gravity2D([0.0, float("nan")], [0.0, 1.0], [0.0, 1.0]),
})

# --- solvers, metrics, noise ----------------------------------------------------------------------------
_OP = ops.Identity((1, 8, 8))
CASES.update({
    "tv_pdhg/lam-negative": lambda: solvers.tv_pdhg(_OP, X8, lam=-1.0),
    "tv_pdhg/lam-nan": lambda: solvers.tv_pdhg(_OP, X8, lam=float("nan")),
    "tv_pdhg/iters-zero": lambda: solvers.tv_pdhg(_OP, X8, lam=0.1, iters=0),
    "tv_pdhg/iters-float": lambda: solvers.tv_pdhg(_OP, X8, lam=0.1, iters=2.5),
    "tv_pdhg/y-nan": lambda: solvers.tv_pdhg(_OP, with_nan(X8), lam=0.1),
    "tv_pdhg/y-wrong-shape": lambda: solvers.tv_pdhg(_OP, torch.rand(1, 1, 4, 4), lam=0.1),
    "tv_pdhg/bounds-reversed": lambda: solvers.tv_pdhg(_OP, X8, lam=0.1, bounds=(1.0, 0.0)),
    "tv_pdhg/step-ratio-zero": lambda: solvers.tv_pdhg(_OP, X8, lam=0.1, step_ratio=0.0),
    "tikhonov/reg-unknown": lambda: solvers.tikhonov(_OP, X8, lam=0.1, reg="nonsense"),
    "tikhonov/method-unknown": lambda: solvers.tikhonov(_OP, X8, lam=0.1, method="nonsense"),
    "tikhonov/lam-negative": lambda: solvers.tikhonov(_OP, X8, lam=-0.1),
    "tikhonov/y-inf": lambda: solvers.tikhonov(_OP, with_inf(X8), lam=0.1),
    "cg/b-nan": lambda: solvers.cg(lambda v: v, with_nan(X8)),
    "cg/tol-negative": lambda: solvers.cg(lambda v: v, X8, tol=-1.0),
    "lsqr/damp-negative": lambda: solvers.lsqr(_OP, X8, damp=-1.0),
    "wiener/balance-negative": lambda: solvers.wiener(ops.Blur((1, 8, 8), torch.ones(3, 3) / 9), X8, balance=-1.0),
    "psnr/shape-mismatch": lambda: psnr(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 4, 4)),
    "psnr/data-range-zero": lambda: psnr(X8, X8 * 0.5, data_range=0.0),
    "psnr/reduction-unknown": lambda: psnr(X8, X8 * 0.5, reduction="nonsense"),
    "psnr/nan": lambda: psnr(with_nan(X8), X8),
    "psnr/constant-reference": lambda: psnr(X8, torch.zeros_like(X8)),
    "ssim/shape-mismatch": lambda: ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 16, 16)),
    "ssim/window-too-big": lambda: ssim(X8, X8 * 0.9, data_range=1.0, win_size=31),
    "relative_error/zero-reference": lambda: relative_error(X8, torch.zeros_like(X8)),
    "GaussianNoise/sigma-negative": lambda: GaussianNoise(-0.1),
    "GaussianNoise/sigma-nan": lambda: GaussianNoise(float("nan")),
    "GaussianNoise/sigma-string": lambda: GaussianNoise("0.1"),
    "PoissonNoise/photons-zero": lambda: PoissonNoise(0.0),
    "PoissonNoise/photons-inf": lambda: PoissonNoise(float("inf")),
    "check_device/nonsense": lambda: __import__("inverselab._tensor", fromlist=["check_device"]).check_device("nonsense"),
    "check_device/meta": lambda: __import__("inverselab._tensor", fromlist=["check_device"]).check_device("meta"),
    "check_device/cuda-missing": lambda: (torch.cuda.is_available()
                                          or __import__("inverselab._tensor", fromlist=["x"]).check_device("cuda:99")),
})


@pytest.fixture(autouse=True)
def _deadline():
    """No case may hang: 30 s each."""
    def expire(*_):
        raise TimeoutError("case took over 30 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_bad_argument_raises_one_input_error_line(case):
    with pytest.raises(InputError) as info:
        CASES[case]()
    message = str(info.value)
    assert message and "\n" not in message, message
