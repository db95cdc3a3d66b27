"""
Where was it released? A posterior by MCMC
==========================================

An instantaneous release of 1 to 10 kg at an unknown point of a 1 km square drifts with the
wind and spreads by eddy diffusion; eight sensors record the column concentration every 30 s
for 15 minutes. The transport is ``AdvectionDiffusion2D`` (explicit upwind finite volumes with
an exact adjoint), and a release's readings are a few columns of its response matrix, so a
likelihood costs a gather: adaptive random-walk Metropolis runs all chains of all releases at
once. The unknowns are the position (km) and ``log10`` of the mass, under a uniform prior box
upwind of the sensors; the posterior gives an estimate *and* a credible interval, whose
coverage over many releases tells whether it can be trusted.
"""

# %%
import matplotlib.pyplot as plt
import torch

import inverselab as il
from inverselab.problems.source import sample_posterior

problem = il.make_problem("pollutant-source")
theta, y = problem.test_data(24, seed=0)
estimate, history = il.reconstruct(problem, y, "mcmc", steps=2000, burn_in=700)
scores = problem.evaluate(estimate, theta, interval=history.interval)
errors = torch.tensor(scores["location_error"])
print(f"median localisation error {errors.median():.1f} m; "
      f"90 % intervals cover {torch.tensor(scores['coverage']).mean():.1%} of the unknowns")

# %%
# The posterior of one release
# ----------------------------
posterior = sample_posterior(problem, y[:1], steps=2000, burn_in=700)
samples = posterior.samples[0]
sensors = problem.operator.transport.sensors.cpu() / 1000
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
a.plot(sensors[:, 0], sensors[:, 1], "k^", label="sensors")
a.plot(samples[:, 0], samples[:, 1], ".", ms=1, alpha=0.3, label="posterior samples")
a.plot(theta[0, 0], theta[0, 1], "r*", ms=14, label="true release")
box = problem.bounds
a.add_patch(plt.Rectangle((box[0, 0], box[1, 0]), box[0, 1] - box[0, 0], box[1, 1] - box[1, 0], fill=False, ls="--"))
a.set(xlim=(0, 1), ylim=(0, 1), xlabel="x (km)", ylabel="y (km)", aspect="equal", title="position")
a.legend(fontsize=8, loc="lower right")
b.hist(10 ** samples[:, 2], bins=40)
b.axvline(10 ** float(theta[0, 2]), color="r")
b.set(xlabel="mass (kg)", title="mass")
fig.tight_layout()

# %%
# Sensor readings and the fit of the posterior mean
# -------------------------------------------------
fit = problem.operator(estimate[:1])
times = torch.arange(y.shape[-1]) * 0.5
fig, ax = plt.subplots(figsize=(7, 3))
for s in range(y.shape[1]):
    ax.plot(times, y[0, s], ".", ms=3, color=f"C{s}")
    ax.plot(times, fit[0, s], color=f"C{s}")
ax.set(xlabel="minutes", ylabel="column concentration (mg/m²)")
fig.tight_layout()
