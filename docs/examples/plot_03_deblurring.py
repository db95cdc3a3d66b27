"""
Deblurring natural images
=========================

Gaussian blur (sigma 2 pixels) and 1 % noise on crops of the natural images bundled with
scikit-image. The blur is circular, so ``A^H A + s I`` is diagonal in Fourier space: Wiener
filtering and Tikhonov are exact in one step, and total variation by PDHG takes its data step
exactly as well (``LinearOperator.normal_solve``).
"""

# %%
import matplotlib.pyplot as plt

import inverselab as il

problem = il.make_problem("deblur", size=128, sigma=2.0, noise=0.01)
x, y = problem.test_data(4, seed=0)
print(problem.operator)

# %%
# Wiener (the baseline), Tikhonov with a gradient prior, and TV
# -------------------------------------------------------------
estimates = {"blurred": y, "Wiener": problem.baseline(y)}
histories = {}
for method in ("tikhonov", "tv"):
    estimates[method], histories[method] = il.reconstruct(problem, y, method, truth=x)

fig, axes = plt.subplots(1, 5, figsize=(12, 2.9))
axes[0].imshow(x[0, 0], cmap="gray", vmin=0, vmax=1)
axes[0].set_title("truth")
for ax, (name, est) in zip(axes[1:], estimates.items()):
    score = float(il.metrics.psnr(est, x, data_range=1.0))
    ax.imshow(est[0, 0].clamp(0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name}\n{score:.1f} dB")
for ax in axes:
    ax.axis("off")
fig.tight_layout()

# %%
# How TV converges
# ----------------
# The history records time, objective and PSNR per iteration, here for the four images at once
# (the solvers are batched, with per-sample step sizes).
h = histories["tv"]
fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))
a.semilogy(h.objective_iters, h.objective)
a.set(xlabel="iteration", ylabel="objective", title="TV objective")
b.plot(h.seconds, h.psnr)
b.set(xlabel="seconds", ylabel="PSNR (dB)", title="PSNR against time")
fig.tight_layout()
