"""Ground truths (phantoms, natural images, layered velocity models) and readers for real data files."""

from .images import NATURAL_IMAGES, natural_image, natural_images
from .io import CTScan, read_cfl, read_htc2022, read_kspace, read_segmentation, read_velocity_model
from .phantoms import brain_phantom, ellipses, random_ellipses, shepp_logan
from .sources import read_measured
from .velocity import FAMILIES as VELOCITY_FAMILIES
from .velocity import curved_faulted_layers, curved_layers, faulted_layers, flat_layers, velocity_family
