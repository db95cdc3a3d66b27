"""
PINN: the conductivity of the heat equation
===========================================

The ``heat-conductivity`` problem asks for the conductivity field ``a(x, y)`` of

.. math::

    \\partial_t u = \\nabla \\cdot (a \\nabla u) + f \\quad \\text{on } [-1, 1]^2 \\times [0, 1]

from 2,500 noisy samples of ``u`` scattered in space and time. Two methods estimate it:

* ``pinn``: ``u`` and ``a`` are networks, trained on the data misfit plus the PDE residual at
  collocation points (Adam, then L-BFGS);
* ``adjoint``: ``a`` on a finite-volume grid, fitted by L-BFGS through the heat solver with
  adjoint-state gradients and a smoothness penalty.

The PINN runs a quarter of its default budget here; the results pages report both methods at
their defaults.
"""

# %%
import matplotlib.pyplot as plt

import inverselab as il

problem = il.make_problem("heat-conductivity")
truth = problem.sample_truth()
data = problem.observe(seed=0)
print(f"{len(data.values)} observations of u at (x, y, t), noise sigma = {data.sigma}")

estimates = {
    "PINN (short)": il.estimate(problem, "pinn", data=data, adam_steps=1000, lbfgs_steps=100, collocation=1000),
    "adjoint (FV + L-BFGS)": il.estimate(problem, "adjoint", data=data),
}
for name, est in estimates.items():
    error = problem.evaluate(est)["fields"]["a"]
    print(f"{name:22s} relative L2 error of a: {error:.1%} in {est.seconds:.1f} s")

# %%
# The recovered fields
# --------------------
grid = problem.grid
extent = [float(grid["x"].min()), float(grid["x"].max()), float(grid["y"].min()), float(grid["y"].max())]
a_true = truth.fields["a"]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
panels = [("true a", a_true)] + [(name, est.fields["a"]) for name, est in estimates.items()]
for ax, (title, field) in zip(axes, panels):
    im = ax.imshow(field.detach().cpu(), origin="lower", extent=extent, vmin=float(a_true.min()),
                   vmax=float(a_true.max()), cmap="viridis")
    ax.set_title(title)
fig.colorbar(im, ax=axes, shrink=0.8)

# %%
# The PINN's loss terms
# ---------------------
# Each named term (data, PDE residual, boundary and initial conditions) is recorded during
# training.
history = estimates["PINN (short)"].history
fig, ax = plt.subplots(figsize=(5, 3))
for term, values in history.get("terms", {}).items():
    ax.semilogy(history["step"], values, label=term)
ax.set(xlabel="step", ylabel="loss term")
ax.legend()
fig.tight_layout()
