"""
MRI: undersampled multi-coil k-space
====================================

Cartesian MRI with four receive coils and a random column mask that keeps a quarter of
k-space (4x acceleration, with the centre fully sampled). The zero-filled image (the adjoint,
coil-combined) shows the aliasing of the missing columns; total variation and L1-wavelet
regularisation remove part of it.
"""

# %%
import matplotlib.pyplot as plt

import inverselab as il

problem = il.make_problem("mri", size=96, coils=4, acceleration=4.0, noise=0.01)
x, y = problem.test_data(2, seed=0)
op = problem.operator
print(op)
print("complex images", tuple(x.shape), x.dtype, "-> k-space per coil", tuple(y.shape))

# %%
# The sampling mask and the coil sensitivities
# --------------------------------------------
# The operator holds its mask and maps as buffers; they follow the dtype and device of the
# input and never enter a network's ``state_dict``.
fig, axes = plt.subplots(1, 5, figsize=(11, 2.4))
axes[0].imshow(op.mask.cpu(), cmap="gray")
axes[0].set_title("mask (4x)")
for c, ax in enumerate(axes[1:]):
    ax.imshow(op.sensitivities[c].abs().cpu(), cmap="magma")
    ax.set_title(f"|coil {c}|")
for ax in axes:
    ax.axis("off")
fig.tight_layout()

# %%
# Reconstructions
# ---------------
# The adjoint is exact (``dottest`` checks it in float64), so the zero-filled image is
# ``A^H y``; the regularised methods use the preset's tuned weights.
from inverselab.operators import dottest

print(f"dottest: {dottest(op):.1e}")
results = {"zero-filled": problem.baseline(y)}
for method in ("wavelet", "tv"):
    results[method], _ = il.reconstruct(problem, y, method)

fig, axes = plt.subplots(1, 4, figsize=(10, 2.8))
axes[0].imshow(x[0, 0].abs(), cmap="gray", vmin=0, vmax=1)
axes[0].set_title("truth |x|")
for ax, (name, est) in zip(axes[1:], results.items()):
    score = float(il.metrics.psnr(est.abs(), x.abs(), data_range=problem.data_range))
    ax.imshow(est[0, 0].abs(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name}\n{score:.1f} dB")
for ax in axes:
    ax.axis("off")
fig.tight_layout()
