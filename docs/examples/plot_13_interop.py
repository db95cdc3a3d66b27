"""
Operators across libraries: scipy, numpy and matrices
=====================================================

:mod:`inverselab.interop` converts in both directions with the adjoint kept exact:
``to_scipy`` hands one of our operators to scipy's solvers (and through them to PyLops'),
and ``as_operator`` wraps a matrix, a scipy or PyLops operator, a pair of functions or
deepinv physics as one of ours, checking the adjoint with ``dottest`` on the way in.
"""

# %%
# Our CT operator in scipy's LSQR
# -------------------------------
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse.linalg as spla
import torch

import inverselab as il
from inverselab.interop import as_operator, to_scipy
from inverselab.operators import dottest

problem = il.make_problem("ct-parallel", size=64, views=60, noise=0.02)
x, y = problem.test_data(1, seed=0)
A = to_scipy(problem.operator)
print(A)
solution, stop, iterations, *_ = spla.lsqr(A, y.double().numpy().ravel(), iter_lim=20)
x_lsqr = torch.from_numpy(solution.reshape(x.shape))
print(f"scipy LSQR: {iterations} iterations, {float(il.metrics.psnr(x_lsqr, x, data_range=1.0)):.2f} dB")

# %%
# A matrix as an operator, and numpy in, numpy out
# ------------------------------------------------
# A first-difference matrix (a discrete derivative) becomes a
# :class:`~inverselab.operators.LinearOperator`; solvers then take it like any other, and
# every operator accepts numpy arrays and returns numpy arrays.
n = 200
D = np.eye(n) - np.eye(n, k=-1)
op = as_operator(D)
print(op, f"dottest {dottest(op):.1e}")

t = np.linspace(0, 1, n)
signal = np.sin(2 * np.pi * t) + (t > 0.5)
data = op(signal[None])  # numpy in, numpy out
noisy = data + np.random.default_rng(0).normal(0, 0.01, data.shape)
from inverselab.solvers import tikhonov

recovered, _ = tikhonov(op, torch.from_numpy(noisy), lam=1e-3)
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.plot(t, signal, "k", lw=3, alpha=0.3, label="signal")
ax.plot(t, recovered[0], label="Tikhonov from noisy differences")
ax.legend()
fig.tight_layout()

# %%
# A pair of functions
# -------------------
# Any batched forward/adjoint pair of torch functions works; a wrong adjoint is refused
# with the size of the mismatch.
forward = lambda v: torch.cumsum(v, dim=-1)
adjoint = lambda w: torch.flip(torch.cumsum(torch.flip(w, [-1]), -1), [-1])
S = as_operator((forward, adjoint), domain_shape=(50,), range_shape=(50,))
print(f"cumulative sum: dottest {dottest(S):.1e}")
try:
    as_operator((forward, forward), domain_shape=(50,), range_shape=(50,))
except il.InputError as error:
    print("refused:", error)
