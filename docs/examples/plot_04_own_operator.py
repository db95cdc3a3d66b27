"""
Your own operator
=================

A forward model of your own becomes a :class:`~inverselab.operators.LinearOperator` by
writing its forward and adjoint on batches. :func:`~inverselab.operators.dottest` checks the
adjoint, and then every classical solver, every preset method and the trainer accept it.

The example is horizontal motion blur: each pixel averages the ``length`` pixels to its left
(a camera moving sideways), with zeros outside the image.
"""

# %%
# The operator
# ------------
# ``_forward`` and ``_adjoint`` receive batches ``(B, *domain_shape)`` and
# ``(B, *range_shape)``; the base class checks shapes and dtypes before calling them and
# converts numpy arrays at the boundary.
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import inverselab as il
from inverselab.operators import LinearOperator, dottest
from inverselab.solvers import cg, tikhonov, tv_pdhg


class MotionBlur(LinearOperator):
    """Mean of ``length`` pixels along rows: ``(B, 1, n, n) -> (B, 1, n, n)``."""

    nonnegative = True  # lets TV use diagonal (Pock-Chambolle) steps

    def __init__(self, n: int, length: int = 9):
        super().__init__((1, n, n), (1, n, n))
        self.length = length

    def _kernel(self, like):
        return torch.full((1, 1, 1, self.length), 1.0 / self.length, dtype=like.dtype, device=like.device)

    def _forward(self, x):
        return F.conv2d(F.pad(x, (self.length - 1, 0)), self._kernel(x))

    def _adjoint(self, y):
        return F.conv_transpose2d(y, self._kernel(y))[..., self.length - 1:]


op = MotionBlur(96, length=9)
print(f"dottest {dottest(op):.1e}  (relative; float64)")
print(f"||A|| = {op.norm():.4f}")

# %%
# Solvers through it
# ------------------
# A Shepp-Logan phantom, blurred, with 1 % noise. Conjugate gradients on the normal equations,
# Tikhonov with a gradient prior, and TV by PDHG all work on any linear operator.
from inverselab.data.phantoms import shepp_logan
from inverselab.noise import GaussianNoise

x = shepp_logan(96).reshape(1, 1, 96, 96).double()
y = GaussianNoise(0.01)(op(x), seed=0)

x_cg, h_cg = cg(op.normal, op.adjoint(y), iters=30, truth=x, data_range=1.0)
x_tik, _ = tikhonov(op, y, lam=1e-3, reg="gradient", truth=x, data_range=1.0)
x_tv, h_tv = tv_pdhg(op, y, lam=2e-3, iters=300, bounds=(0.0, 1.0), truth=x, data_range=1.0)

fig, axes = plt.subplots(1, 5, figsize=(12, 2.9))
for ax, (title, img) in zip(axes, [("truth", x), ("blurred", y), ("CG, 30 its", x_cg), ("Tikhonov", x_tik),
                                   ("TV", x_tv)]):
    score = "" if title == "truth" else f"\n{float(il.metrics.psnr(img, x, data_range=1.0)):.1f} dB"
    ax.imshow(img[0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(title + score)
    ax.axis("off")
fig.tight_layout()

# %%
# A problem around it
# -------------------
# :func:`inverselab.custom_problem` turns the operator and a source of truths into a
# :class:`~inverselab.problems.Problem`, so the preset methods (with their typed parameters)
# and the trainer see it like any built-in problem. Here the truths are random ellipses.
from inverselab.data.phantoms import random_ellipses


def truths(n, seed, split):
    return random_ellipses(n, 96, seed=seed if split == "test" else 2**31 - 1 - seed)


problem = il.custom_problem(op, truths=truths, noise=0.01, name="motion-blur")
print("methods that apply:", ", ".join(il.methods.available_methods(problem)))
xs, ys = problem.test_data(4, seed=0)
for method in ("tikhonov", "tv"):
    est, _ = il.reconstruct(problem, ys, method)
    print(f"{method:9s} {float(il.metrics.psnr(est, xs, data_range=1.0)):.2f} dB")
