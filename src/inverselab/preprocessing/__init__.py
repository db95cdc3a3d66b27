"""Measured CT data before reconstruction: transmission to line integrals, the centre of
rotation, stripe (ring) removal.

Sinograms are ``(..., n_angles, n_detectors)`` arrays or tensors (a projection stack
``(n_angles, rows, n_detectors)`` is a stack of sinograms once its rows are moved forward);
functions return the type they were given.
"""

from .rotation import centre_by_sharpness, centre_from_opposed, estimate_rotation_centre, offset_for_centre
from .stripes import remove_stripes, ring_energy
from .transmission import flat_dark_correction, line_integrals

__all__ = [
    "centre_by_sharpness",
    "centre_from_opposed",
    "estimate_rotation_centre",
    "flat_dark_correction",
    "line_integrals",
    "offset_for_centre",
    "remove_stripes",
    "ring_energy",
]
