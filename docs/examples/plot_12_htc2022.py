"""
HTC2022: real limited-angle fan-beam CT
=======================================

The Helsinki Tomography Challenge 2022 scanned acrylic discs with holes in a cone-beam
micro-CT; the central slice is flat-detector fan-beam data. Here the scan ``ta_category7``
covers a 30° arc with 61 views, far too little for filtered back-projection. Total variation
with what the data themselves say about the object (the outer disc, fitted to the sinogram's
shadow, and an upper bound on the attenuation of acrylic) recovers most of the holes, as the
Matthews correlation coefficient (MCC) of the Otsu segmentation against the organisers' ground
truth shows.

The scans live in the shared real-data folder (``inverselab.data.shared_data``). Without it,
the example reconstructs a simulated disc of the ``ct-htc`` preset (the same scanner and arc)
instead. ``inverselab ct-file`` runs the full-resolution version (512², 1000 iterations).
"""

# %%
import matplotlib.pyplot as plt

import inverselab as il
from inverselab.data import io
from inverselab.errors import InputError
from inverselab.problems.real import scan_problem, score_segmentation, segment

SIZE, ITERS = 256, 300
try:
    scan = io.read_htc2022(io.shared_data("ct", "htc2022", "ta_category7.mat"), image_size=SIZE)
    truth = io.read_segmentation(io.shared_data("ct", "htc2022", "ta_groundtruth.npy"))
    problem, y = scan_problem(scan), scan.sinogram
    print(f"measured scan {scan.name}: {scan.angles_deg.size} views over "
          f"{scan.angles_deg.max() - scan.angles_deg.min():.0f}°, sinogram {tuple(y.shape)}")
except InputError as missing:
    print(f"{missing}\nSimulating a disc of the ct-htc preset instead.")
    problem = il.make_problem("ct-htc", size=SIZE, start=269.0, arc=30.0)
    x, y = problem.test_data(1, seed=0)
    truth = (x > 0.5 * x.max()).double()

x_fbp, _ = il.reconstruct(problem, y, "fbp")
x_tv, history = il.reconstruct(problem, y, "tv", iters=ITERS)
for name, est in [("FBP", x_fbp), (f"TV, {ITERS} iterations", x_tv)]:
    print(f"{name:20s} MCC {score_segmentation(est, truth):.3f}")

# %%
# Reconstructions and segmentations
# ---------------------------------
fig, axes = plt.subplots(2, 3, figsize=(9, 6))
axes[0, 0].imshow(truth[0, 0], cmap="gray")
axes[0, 0].set_title("ground truth")
axes[1, 0].axis("off")
for col, (name, est) in enumerate([("FBP", x_fbp), ("TV", x_tv)], start=1):
    axes[0, col].imshow(est[0, 0], cmap="gray")
    axes[0, col].set_title(name)
    axes[1, col].imshow(segment(est)[0, 0], cmap="gray")
    axes[1, col].set_title(f"Otsu: MCC {score_segmentation(est, truth):.2f}")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
