"""X-ray transforms and FBP: analytic projections of a disc, geometry conventions, FBP accuracy."""

from __future__ import annotations

import math
import multiprocessing
import subprocess
import sys

import pytest
import torch

from inverselab.errors import InputError
from inverselab.operators import FBP_FILTERS, FanBeam2D, ParallelBeam2D, dottest, fbp


def disc(n: int, radius: float, cx: float = 0.0, cy: float = 0.0) -> torch.Tensor:
    """Anti-aliased disc (pixel units, centre offset in pixels; +y is up), (1, 1, n, n)."""
    o = 4
    c = (torch.arange(n * o, dtype=torch.float64) + 0.5) / o - n / 2
    x, y = c[None, :], -c[:, None]
    inside = ((x - cx) ** 2 + (y - cy) ** 2 <= radius**2).double()
    return torch.nn.functional.avg_pool2d(inside[None, None], o)


def chord(radius: float, distance: torch.Tensor) -> torch.Tensor:
    return 2 * torch.sqrt((radius**2 - distance**2).clamp(min=0))


def test_parallel_projection_of_disc_matches_chord_lengths():
    n, r = 96, 30.0
    op = ParallelBeam2D(n, 16, pixel_size=0.5)
    y = op(disc(n, r))[0, 0]
    u = torch.as_tensor(op._detector_positions())
    expected = chord(r * 0.5, u)
    # the residual comes from the pixelated disc edge
    assert torch.linalg.vector_norm(y - expected) / torch.linalg.vector_norm(expected) < 0.03
    assert (y[0] - y[5]).abs().max() < 0.02 * y.max()  # rotation invariance of a centred disc


def test_parallel_geometry_orientation():
    """An off-centre disc at +x projects to detector +u at angle 0 and to -u at 90 degrees
    (detector axis (cos, sin))."""
    n = 64
    x = disc(n, 4, cx=15.0)
    op = ParallelBeam2D(n, torch.tensor([0.0, math.pi / 2]))
    y = op(x)[0, 0]
    u = torch.as_tensor(op._detector_positions())
    centre = (y * u).sum(1) / y.sum(1)
    assert centre[0].item() == pytest.approx(15.0, abs=0.3)
    assert centre[1].item() == pytest.approx(0.0, abs=0.3)
    op = ParallelBeam2D(n, torch.tensor([math.pi / 2]))
    top = disc(n, 4, cy=12.0)  # +y disc: detector axis at 90 degrees is +y
    y = op(top)[0, 0]
    assert ((y * u).sum() / y.sum()).item() == pytest.approx(12.0, abs=0.3)


def test_fan_projection_of_disc_matches_chords_with_magnification():
    n, r = 96, 30.0
    op = FanBeam2D(n, 12, source_origin=200.0, source_detector=300.0)
    y = op(disc(n, r))[0, 0]
    u = torch.as_tensor(op._detector_positions()) * 200.0 / 300.0  # at the rotation axis
    dist = 200.0 * u / torch.sqrt(200.0**2 + u**2)  # distance of each ray from the origin
    expected = chord(r, dist)
    assert torch.linalg.vector_norm(y - expected) / torch.linalg.vector_norm(expected) < 0.02


def test_fan_follows_htc2022_source_convention():
    """Source at DSO (sin t, -cos t): at t = 0 the source is below the object, so an object at
    +x projects to +u magnified by DSD/DSO."""
    n = 64
    op = FanBeam2D(n, torch.tensor([0.0]), source_origin=100.0, source_detector=150.0)
    y = op(disc(n, 3, cx=10.0))[0, 0]
    u = torch.as_tensor(op._detector_positions())
    centre = ((y * u).sum() / y.sum()).item()
    assert centre == pytest.approx(10.0 * 150.0 / 100.0, rel=0.03)
    # the magnification depends on depth: closer to the source (-y) magnifies more
    y_low = op(disc(n, 3, cx=10.0, cy=-20.0))[0, 0]
    centre_low = ((y_low * u).sum() / y_low.sum()).item()
    assert centre_low == pytest.approx(10.0 * 150.0 / 80.0, rel=0.03)


def test_fan_tends_to_parallel_for_distant_source():
    n = 48
    x = disc(n, 10, cx=5, cy=-3)
    par = ParallelBeam2D(n, 10, n_detectors=70)
    fan = FanBeam2D(n, par.angles.clone(), 70, source_origin=1e5, source_detector=2e5, detector_spacing=2.0)
    torch.testing.assert_close(fan(x), par(x), atol=2e-3 * par(x).max().item(), rtol=0)


@pytest.mark.parametrize("geometry", ["parallel", "parallel-360", "fan"])
def test_fbp_reconstructs_disc_density(geometry):
    n = 128
    if geometry == "parallel":
        op = ParallelBeam2D(n, 180)
    elif geometry == "parallel-360":
        op = ParallelBeam2D(n, torch.arange(360) * 2 * math.pi / 360)
    else:
        op = FanBeam2D(n, 360)
    x = 0.7 * disc(n, 0.35 * n)
    rec = op.fbp(op(x), filter="hann")[0, 0]
    c = torch.arange(n) - (n - 1) / 2
    r2 = c[None, :] ** 2 + c[:, None] ** 2
    inside = rec[r2 < (0.3 * n) ** 2]
    assert inside.mean().item() == pytest.approx(0.7, rel=0.01)
    assert inside.std().item() < 0.01
    assert rec[r2 > (0.42 * n) ** 2].abs().mean().item() < 0.01


def test_fbp_filters_and_validation():
    op = ParallelBeam2D(32, 30)
    y = op(disc(32, 10))
    outs = {f: fbp(op, y, f) for f in FBP_FILTERS}
    assert all(torch.isfinite(o).all() for o in outs.values())
    # smoother windows lower the high-frequency noise: total variation decreases
    tv = {f: (o[..., 1:, :] - o[..., :-1, :]).abs().sum().item() for f, o in outs.items()}
    assert tv["hann"] < tv["ramp"]
    with pytest.raises(InputError, match="unknown FBP filter"):
        fbp(op, y, "gaussian")
    with pytest.raises(InputError, match="cutoff"):
        fbp(op, y, cutoff=1.5)
    with pytest.raises(InputError, match="sinogram of shape"):
        fbp(op, y[..., :-1])


def test_batches_and_dtypes(device):
    op = ParallelBeam2D(24, 9)
    x = torch.rand(3, 1, 24, 24, dtype=torch.float64, device=device)
    y = op(x)
    assert y.shape == (3, 1, 9, op.n_detectors) and y.device.type == device
    torch.testing.assert_close(op(x[1:2]), y[1:2])
    y32 = op(x.float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), y, rtol=1e-5, atol=1e-5)


def test_geometry_validation():
    with pytest.raises(InputError, match="source_origin"):
        FanBeam2D(64, 10, source_origin=20.0)
    with pytest.raises(InputError, match="source_detector"):
        FanBeam2D(64, 10, source_origin=200.0, source_detector=100.0)
    with pytest.raises(InputError, match="angles"):
        ParallelBeam2D(32, torch.tensor([0.0, float("nan")]))
    with pytest.raises(InputError, match="pixel_size"):
        ParallelBeam2D(32, 10, pixel_size=-1.0)


def test_sparse_matrix_has_joseph_nonzeros():
    """Joseph's method touches at most two pixels per image row (or column) per ray, and the
    central ray of every view crosses all ``n`` rows or columns; the stored count is that of
    the matrix built column by column."""
    n, views = 40, 8
    op = ParallelBeam2D(n, views)
    basis = torch.eye(n * n, dtype=torch.float64).reshape(n * n, 1, n, n)
    per_ray = (op(basis).reshape(n * n, -1) != 0).sum(0).reshape(views, op.n_detectors)
    assert op.nnz == int(per_ray.sum()), f"nnz {op.nnz}, the matrix holds {int(per_ray.sum())} nonzeros"
    assert int(per_ray.max()) <= 2 * n, "a ray touches more than two pixels per image row or column"
    assert bool((per_ray.max(1).values >= n).all()), "a view's central ray misses image rows or columns"


GEOMETRIES = {
    "parallel": lambda n, views, storage: ParallelBeam2D(n, views, storage=storage),
    "fan": lambda n, views, storage: FanBeam2D(n, views, storage=storage),
    "fan-offset": lambda n, views, storage: FanBeam2D((n, n + 7), views, detector_offset=1.3, storage=storage),
}


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_matrix_free_equals_stored_matrix(geometry, device):
    """Both storage modes compute the same Joseph weights (the stored ones are rounded to
    float32, hence the 1e-6 relative tolerance in float64)."""
    stored = GEOMETRIES[geometry](48, 17, "matrix").to(device)
    free = GEOMETRIES[geometry](48, 17, "matrix-free").to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, *stored.domain_shape, generator=g, dtype=torch.float64).to(device)
    y = torch.rand(3, *stored.range_shape, generator=g, dtype=torch.float64).to(device)
    for a, b in ((free(x), stored(x)), (free.adjoint(y), stored.adjoint(y)), (fbp(free, y), fbp(stored, y))):
        assert float((a - b).norm() / b.norm()) < 1e-6
    assert free.nnz == stored.nnz
    assert free._master is None and free._fbp_master is None  # nothing was stored


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_matrix_free_adjoint_is_exact(geometry, device):
    op = GEOMETRIES[geometry](40, 23, "matrix-free").to(device)
    assert dottest(op, dtype=torch.float64, device=device) < 1e-10
    # the autograd gradient of <A x, r> is A^T r, computed matrix-free too
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, *op.domain_shape, generator=g, dtype=torch.float64).to(device).requires_grad_()
    r = torch.rand(2, *op.range_shape, generator=g, dtype=torch.float64).to(device)
    (op(x) * r).sum().backward()
    torch.testing.assert_close(x.grad, op.adjoint(r))


def test_storage_auto_is_matrix_free_on_cpu_and_stores_small_matrices_elsewhere():
    """'auto' runs the compiled kernels on CPU (as fast as the stored matrix, with nothing to
    build); on other devices it stores the matrix while it fits in MATRIX_BUDGET: 512^2 with
    512 views would store ~6 GB of weights (and constructing the operator builds nothing)."""
    small, big = ParallelBeam2D(64, 30), ParallelBeam2D(512, 512)
    assert small.storage == "matrix-free" and small.config()["storage"] == "matrix-free"
    assert small._storage_on(torch.device("cuda")) == "matrix"
    assert ParallelBeam2D(64, 30, storage="matrix").storage == "matrix"
    assert big._storage_on(torch.device("cuda")) == "matrix-free" and big.fbp_storage == "matrix-free"
    assert big._master is None and not big._cache
    with pytest.raises(InputError, match="storage"):
        ParallelBeam2D(32, 10, storage="dense")


def test_matrix_free_fbp_reconstructs_a_disc():
    n = 96
    op = ParallelBeam2D(n, 120, storage="matrix-free")
    x = disc(n, 25.0, 5.0, -8.0).float()
    rec = fbp(op, op(x), "hann")
    inner = disc(n, 20.0, 5.0, -8.0) > 0.99
    assert abs(float(rec[inner].mean()) - 1.0) < 0.02


@pytest.mark.parametrize("threads", [1, 3])
def test_matrix_free_is_independent_of_the_thread_split(threads):
    """Blocks are split into runs of steps per thread; the result must not depend on it."""
    stored = FanBeam2D((36, 30), 9, storage="matrix")
    free = FanBeam2D((36, 30), 9, storage="matrix-free")
    x = torch.rand(2, *stored.domain_shape, dtype=torch.float64)
    y = torch.rand(2, *stored.range_shape, dtype=torch.float64)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        pairs = ((free(x), stored(x)), (free.adjoint(y), stored.adjoint(y)), (fbp(free, y), fbp(stored, y)))
    finally:
        torch.set_num_threads(before)
    for a, b in pairs:
        assert float((a - b).norm() / b.norm()) < 1e-6


# -- compiled CPU kernels of the matrix-free projector ----------------------------------------------
COMPILED = {
    "parallel": lambda shape, views, storage="matrix-free": ParallelBeam2D(shape, views, storage=storage),
    "fan": lambda shape, views, storage="matrix-free": FanBeam2D(shape, views, storage=storage),
    "fan-offset": lambda shape, views, storage="matrix-free": FanBeam2D(
        shape, views, detector_offset=2.7, storage=storage
    ),
    "parallel-offset": lambda shape, views, storage="matrix-free": ParallelBeam2D(
        shape, views, detector_offset=-3.1, storage=storage
    ),
}


def _pair(op, batch, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, *op.domain_shape, generator=g, dtype=torch.float64).to(dtype)
    y = torch.rand(batch, *op.range_shape, generator=g, dtype=torch.float64).to(dtype)
    return x, y


def _relative(a, b):
    return float((a - b).double().norm() / b.double().norm())


@pytest.mark.parametrize("geometry", COMPILED)
@pytest.mark.parametrize("shape", [(20, 20), (33, 26)])
def test_compiled_adjoint_is_exact(geometry, shape):
    op = COMPILED[geometry](shape, 13)
    assert dottest(op, dtype=torch.float64) < 1e-10


@pytest.mark.parametrize("geometry", COMPILED)
def test_compiled_equals_stored_matrix(geometry):
    """The kernels and the stored matrix hold the same weights: they agree to the rounding of
    the input's precision (float64 inputs get float64 weights)."""
    shape = (30, 37)
    free = COMPILED[geometry](shape, 11)
    stored = COMPILED[geometry](shape, 11, "matrix")
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        x, y = _pair(free, 2, dtype)
        assert _relative(free(x), stored(x)) < tol
        assert _relative(free.adjoint(y), stored.adjoint(y)) < tol
    assert free.nnz == stored._matrix(x)[0].values().numel()


def test_compiled_equals_grid_sampler_path():
    """The compiled kernels (CPU) and the grid_sample path (CUDA) compute the same matrix."""
    op = FanBeam2D((28, 35), 9, detector_offset=1.7, storage="matrix-free")
    x, y = _pair(op, 2, torch.float64)
    assert _relative(op(x), op._grid_project(x)) < 1e-12
    assert _relative(op.adjoint(y), op._grid_backproject(y)) < 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_batch_equals_single_calls(dtype):
    op = FanBeam2D((24, 31), 7, storage="matrix-free")
    x, y = _pair(op, 3, dtype)
    ax, aty = op(x), op.adjoint(y)
    assert ax.dtype == aty.dtype == dtype
    for i in range(3):
        torch.testing.assert_close(op(x[i : i + 1]), ax[i : i + 1], rtol=0, atol=0)
        torch.testing.assert_close(op.adjoint(y[i : i + 1]), aty[i : i + 1], rtol=0, atol=0)


def test_compiled_results_do_not_depend_on_the_thread_count():
    op = FanBeam2D((26, 21), 8, detector_offset=-0.8, storage="matrix-free")
    x, y = _pair(op, 2, torch.float32)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append((op(x), op.adjoint(y)))
    finally:
        torch.set_num_threads(before)
    for ax, aty in results[1:]:
        torch.testing.assert_close(ax, results[0][0], rtol=0, atol=0)
        torch.testing.assert_close(aty, results[0][1], rtol=0, atol=0)


def test_compiled_gradients_are_the_other_direction():
    op = ParallelBeam2D((22, 27), 10, detector_offset=0.6, storage="matrix-free")
    x, y = (t.requires_grad_() for t in _pair(op, 2, torch.float64))
    up_x, up_y = _pair(op, 2, torch.float64, seed=1)  # upstream gradients of A^T y and A x
    (op(x) * up_y).sum().backward()
    (op.adjoint(y) * up_x).sum().backward()
    torch.testing.assert_close(x.grad, op.adjoint(up_y), rtol=1e-13, atol=0)
    torch.testing.assert_close(y.grad, op(up_x), rtol=1e-13, atol=0)


def test_rays_that_miss_the_image_give_zero():
    """Detector elements far off the image: their rays cross no pixel (in the forward) and
    spread nothing (in the adjoint); the others are unaffected."""
    n = 16
    op = ParallelBeam2D(n, torch.tensor([0.3, 1.2]), n_detectors=40, storage="matrix-free")
    x = torch.rand(1, *op.domain_shape, dtype=torch.float64)
    y = op(x)[0, 0]
    u = torch.as_tensor(op._detector_positions())
    missed = u.abs() > n / math.sqrt(2) + 1
    assert missed.any() and (~missed).any()
    assert (y[:, missed] == 0).all() and (y[:, ~missed] > 0).any()
    only_missed = torch.zeros_like(y)
    only_missed[:, missed] = 1.0
    assert (op.adjoint(only_missed[None, None]) == 0).all()
    far = ParallelBeam2D(n, 3, n_detectors=4, detector_offset=50.0, storage="matrix-free")
    assert (far(x) == 0).all() and far.nnz == 0


def test_compiled_kernels_are_imported_on_first_use():
    """Importing the package or building an operator does not load Numba."""
    code = (
        "import sys\n"
        "from inverselab.operators import ParallelBeam2D\n"
        "ParallelBeam2D(16, 4, storage='matrix-free')\n"
        "assert 'numba' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _project_in_child(op_and_x):
    op, x = op_and_x
    return op(x)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_compiled_kernels_run_in_forked_processes():
    """Processes forked after a projection (e.g. DataLoader workers) can project too."""
    op = ParallelBeam2D(20, 6, storage="matrix-free")
    x = torch.rand(1, *op.domain_shape, dtype=torch.float64)
    expected = op(x)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        (got,) = pool.map(_project_in_child, [(op, x)])
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
