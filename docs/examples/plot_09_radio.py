"""
Radio interferometry: CLEAN, sparsity and total variation
=========================================================

A 27-antenna array observes a 64 x 64 patch of sky in one snapshot. Each antenna pair
measures one Fourier coefficient of the sky (a *visibility*) at the baseline between the two
antennas, so the data are 702 scattered Fourier samples with 2 % noise. ``Interferometer``
maps a sky to its visibilities by a Kaiser-Bessel gridding NUFFT, with its exact transpose as
adjoint.

The dirty image (the adjoint, normalised by the beam) is the sky convolved with the array's
point-spread function. Högbom's CLEAN subtracts the beam around the brightest peaks; L1 with
non-negativity (FISTA) and total variation (PDHG) solve regularised least squares instead.
"""

# %%
import matplotlib.pyplot as plt

import inverselab as il

problem = il.make_problem("radio", size=64, sky="sources")
op = problem.operator
x, y = problem.test_data(4, seed=0)
print(op)

fig, axes = plt.subplots(1, 2, figsize=(7, 3.2))
uv = op.uv.cpu()
axes[0].plot(uv[:, 0], uv[:, 1], ".", ms=2)
axes[0].plot(-uv[:, 0], -uv[:, 1], ".", ms=2, color="C0")
axes[0].set(title="uv coverage (wavelengths)", aspect="equal")
axes[1].imshow(op.psf(64), cmap="magma")
axes[1].set_title("point-spread function")
axes[1].axis("off")
fig.tight_layout()

# %%
# Reconstructions
# ---------------
results = {"dirty image": problem.baseline(y)}
for method in ("clean", "l1", "tv"):
    results[method], _ = il.reconstruct(problem, y, method)

fig, axes = plt.subplots(1, 5, figsize=(13, 2.9))
vmax = float(x[0].max())
axes[0].imshow(x[0, 0], cmap="afmhot", vmin=0, vmax=vmax)
axes[0].set_title("sky")
for ax, (name, est) in zip(axes[1:], results.items()):
    score = float(il.metrics.psnr(est, x, data_range=problem.data_range))
    ax.imshow(est[0, 0], cmap="afmhot", vmin=0, vmax=vmax)
    ax.set_title(f"{name}\n{score:.1f} dB")
for ax in axes:
    ax.axis("off")
fig.tight_layout()

# %%
# An exact symmetry
# -----------------
# Turning a real sky by half a turn conjugates its visibilities (up to the phase of a
# one-pixel shift for even sizes), and the noise keeps its law: the problem lists it among its
# ``symmetries``, and ``inverselab evaluate RUN --symmetrize`` averages a network over it.
sym = problem.symmetries[0]
exact = il.make_problem("radio", size=64, sky="sources", method="exact").operator
sky = x.double()
gap = (exact(sym.image(sky)) - sym.measurement(exact(sky))).abs().max() / exact(sky).abs().max()
print(f"{sym.name}: relative mismatch {float(gap):.1e} with the exact transform")
