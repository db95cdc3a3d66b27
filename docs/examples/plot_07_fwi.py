"""
Full-waveform inversion on a small layered model
================================================

``fwi-flat`` is a 70 x 70 velocity model at 10 m (an OpenFWI-like flat-layered family) seen
by 5 surface shots and 70 receivers for one second. The operator is the 2-D acoustic wave
equation (deepwave's propagator, with the adjoint-state gradient), so the inversion fits the
recorded gathers through the physics: Adam over low-pass bands (4 Hz, 8 Hz, then the full
data), from the family's mean depth profile, with each update smoothed.

These are the settings of the benchmark on the results pages with 6 iterations per band
instead of 8; the example needs the ``seismic`` extra (``pip install inverselab[seismic]``).
"""

# %%
import matplotlib.pyplot as plt

import inverselab as il

problem = il.make_problem("fwi-flat")
v_true, d_obs = problem.test_data(1, seed=3)
op = problem.operator
print(op)
print("gathers (batch, shots, receivers, time samples):", tuple(d_obs.shape))

# %%
# One shot gather
# ---------------
fig, ax = plt.subplots(figsize=(4, 3.5))
gather = d_obs[0, 2].T
clip = float(gather.abs().quantile(0.98))
ax.imshow(gather, aspect="auto", cmap="gray", vmin=-clip, vmax=clip, extent=[0, 700, 1.0, 0])
ax.set(xlabel="receiver position (m)", ylabel="time (s)", title="shot 3 of 5")
fig.tight_layout()

# %%
# Multiscale FWI
# --------------
v_fwi, history = il.reconstruct(
    problem, d_obs, "fwi", truth=v_true,
    frequencies=(4.0, 8.0, None), iters_per_band=(6, 6, 6), optimizer="adam", lr=(0.1, 0.07, 0.05),
    smooth=(1.5, 12.0),
)
v_start = problem.baseline(d_obs)
for name, v in [("start", v_start), ("FWI", v_fwi)]:
    mae = float((v - v_true).abs().mean())
    print(f"{name:5s} mean absolute error {mae:.0f} m/s")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
for ax, (title, v) in zip(axes, [("true", v_true), ("start (mean profile)", v_start), ("FWI, 18 iterations", v_fwi)]):
    im = ax.imshow(v[0].detach(), cmap="jet", vmin=1500, vmax=4500, extent=[0, 700, 700, 0])
    ax.set_title(title)
    ax.set_xlabel("x (m)")
axes[0].set_ylabel("depth (m)")
fig.colorbar(im, ax=axes, shrink=0.8, label="m/s")

# %%
# The data misfit falls in each band
# ----------------------------------
fig, ax = plt.subplots(figsize=(5, 3))
ax.semilogy(history.objective_iters, history.objective, "o-")
ax.set(xlabel="iteration", ylabel="misfit", title="bands: 4 Hz, 8 Hz, full")
fig.tight_layout()
