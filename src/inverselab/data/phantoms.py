"""Synthetic ground truths: Shepp-Logan, random ellipses, complex brain-like MRI phantoms.

Coordinates are normalised to [-1, 1] in both directions with row 0 at y = +1, matching the
tomography convention. All generators are deterministic per seed.
"""

from __future__ import annotations

import math

import torch

from .._tensor import generator
from ..errors import InputError

Tensor = torch.Tensor

__all__ = ["shepp_logan", "random_ellipses", "brain_phantom", "ellipses", "discs_with_holes"]

# Modified Shepp-Logan (Toft): value, semi-axis a (x), semi-axis b (y), centre x, centre y,
# rotation in degrees.
_SHEPP_LOGAN = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)


def _grid(size: int, oversample: int, dtype: torch.dtype, device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """Sub-pixel sample coordinates ``(size * o, size * o)`` in [-1, 1], row 0 at the top."""
    m = size * oversample
    c = (torch.arange(m, dtype=dtype, device=device) + 0.5) / m * 2 - 1
    return c[None, :].expand(m, m), -c[:, None].expand(m, m)


def ellipses(params: Tensor, size: int, oversample: int = 2) -> Tensor:
    """Rasterise sums of filled ellipses.

    Parameters
    ----------
    params : Tensor
        ``(N, K, 6)``: per image ``K`` ellipses (value, a, b, x0, y0, angle in radians).
        Ellipses with value 0 contribute nothing (use them as padding).
    size : int
        Output side length in pixels.
    oversample : int
        Sub-samples per pixel side (anti-aliasing by averaging).

    Returns
    -------
    Tensor
        ``(N, 1, size, size)`` float64.
    """
    x, y = _grid(size, oversample, torch.float64, params.device)
    images = []
    for p in params.to(torch.float64):
        p = p[p[:, 0] != 0]  # padding ellipses contribute nothing
        value, a, b, x0, y0, ang = (p[:, i, None, None] for i in range(6))
        dx, dy = x - x0, y - y0
        c, s = torch.cos(ang), torch.sin(ang)
        u = (dx * c + dy * s) / a
        v = (-dx * s + dy * c) / b
        img = (value * (u**2 + v**2 <= 1)).sum(0)
        images.append(img)
    out = torch.stack(images)[:, None]
    if oversample > 1:
        out = torch.nn.functional.avg_pool2d(out, oversample)
    return out


def shepp_logan(size: int = 128, oversample: int = 2) -> Tensor:
    """Modified (Toft) Shepp-Logan phantom ``(1, 1, size, size)`` with values in [0, 1]."""
    if size < 2:
        raise InputError(f"phantom size must be >= 2, got {size}")
    p = torch.tensor(_SHEPP_LOGAN, dtype=torch.float64)
    p[:, 5] = torch.deg2rad(p[:, 5])
    return ellipses(p[None], size, oversample).clamp(min=0)


def random_ellipses(
    n: int, size: int = 128, seed: int | torch.Generator = 0, oversample: int = 2
) -> Tensor:
    """Random ellipse phantoms like those of Adler and Öktem's learned primal-dual experiments.

    Each image sums a Poisson(25) number (between 5 and 40) of ellipses with values in
    [-0.4, 1], semi-axes in [0.05, 0.5], centres in the disc of radius 0.7 and random
    rotations; it is then clipped below at 0 and scaled to a maximum of 1.

    Returns
    -------
    Tensor
        ``(n, 1, size, size)`` float64 in [0, 1].
    """
    if n < 0 or size < 2:
        raise InputError(f"need n >= 0 and size >= 2, got n={n}, size={size}")
    g = generator(seed)
    k_max = 40
    counts = torch.poisson(torch.full((n,), 25.0, dtype=torch.float64), generator=g).clamp(5, k_max).long()
    u = torch.rand((n, k_max, 6), generator=g, dtype=torch.float64)
    value = -0.4 + 1.4 * u[..., 0]
    a = 0.05 + 0.45 * u[..., 1]
    b = 0.05 + 0.45 * u[..., 2]
    radius = 0.7 * torch.sqrt(u[..., 3])
    phi = 2 * math.pi * u[..., 4]
    x0, y0 = radius * torch.cos(phi), radius * torch.sin(phi)
    angle = math.pi * u[..., 5]
    active = torch.arange(k_max)[None, :] < counts[:, None]
    params = torch.stack([value * active, a, b, x0, y0, angle], -1)
    img = ellipses(params, size, oversample).clamp(min=0)
    peak = img.amax(dim=(1, 2, 3), keepdim=True)
    return torch.where(peak > 0, img / peak.clamp(min=1e-12), img)


def brain_phantom(
    n: int, size: int = 128, seed: int | torch.Generator = 0, oversample: int = 2
) -> Tensor:
    """Complex brain-like MRI phantoms with smooth random phase.

    Magnitude: scalp, darker skull, brain tissue with smooth texture, two ventricles and a few
    small lesions, all jittered per sample. Phase: a random constant plus a smooth (bilinear) field
    varying by up to about 2 radians across the image. Magnitude peaks at 1.

    Returns
    -------
    Tensor
        ``(n, 1, size, size)`` complex128.
    """
    if n < 0 or size < 2:
        raise InputError(f"need n >= 0 and size >= 2, got n={n}, size={size}")
    g = generator(seed)

    def jitter(shape, scale):
        return scale * (2 * torch.rand(shape, generator=g, dtype=torch.float64) - 1)

    n_lesions = 4
    rows = []
    for _ in range(n):
        sx, sy = 1 + jitter((), 0.06), 1 + jitter((), 0.06)
        rot = float(jitter((), 0.15))
        base = torch.tensor(
            [
                (0.35, 0.80 * sx, 0.95 * sy, 0.0, 0.0, rot),  # scalp
                (-0.25, 0.74 * sx, 0.89 * sy, 0.0, 0.0, rot),  # skull (darker)
                (0.55, 0.69 * sx, 0.84 * sy, 0.0, 0.0, rot),  # brain
                (0.25, 0.10 + float(jitter((), 0.03)), 0.25 + float(jitter((), 0.05)), -0.14, 0.1, rot + 0.3),
                (0.25, 0.10 + float(jitter((), 0.03)), 0.25 + float(jitter((), 0.05)), 0.14, 0.1, rot - 0.3),
            ],
            dtype=torch.float64,
        )
        lesion_pos = jitter((n_lesions, 2), 0.45)
        lesion_size = 0.02 + 0.05 * torch.rand((n_lesions,), generator=g, dtype=torch.float64)
        lesion_val = jitter((n_lesions,), 0.3)
        lesions = torch.stack(
            [lesion_val, lesion_size, lesion_size, lesion_pos[:, 0], lesion_pos[:, 1], torch.zeros(n_lesions)], -1
        )
        rows.append(torch.cat([base, lesions]))
    magnitude = ellipses(torch.stack(rows), size, oversample) if n else torch.zeros(0, 1, size, size)
    x, y = _grid(size, 1, torch.float64)
    coeff = jitter((n, 6), 1.0)
    texture = 1 + 0.08 * torch.sin(
        4 * math.pi * (coeff[:, 0, None, None] * x + coeff[:, 1, None, None] * y)
    )
    inside_brain = magnitude > 0.5
    magnitude = torch.where(inside_brain, magnitude * texture[:, None], magnitude).clamp(min=0)
    peak = magnitude.amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12)
    magnitude = magnitude / peak
    phase = (
        coeff[:, 2, None, None] * x + coeff[:, 3, None, None] * y + 0.5 * coeff[:, 4, None, None] * x * y
    ) * (math.pi / 4) + math.pi * coeff[:, 5, None, None]
    return magnitude * torch.exp(1j * phase[:, None])


def discs_with_holes(
    n: int,
    size: int = 256,
    pixel_size: float = 0.2966,
    seed: int | torch.Generator = 0,
    radius: float = 35.0,
    attenuation: float = 0.033,
    oversample: int = 2,
) -> Tensor:
    """Acrylic discs with holes, like the HTC2022 phantoms (lengths in mm).

    Each image is a disc of ``radius`` (jittered by 0.3 mm, centre within about 0.5 mm of the
    origin) with uniform ``attenuation`` (1/mm), minus 1 to 6 holes: ellipses and rotated
    rectangles with half-sizes 1.5 to 12 mm, placed inside the disc with a 3 mm rim.

    Returns
    -------
    Tensor
        ``(n, 1, size, size)`` float64 attenuation in 1/mm.
    """
    if n < 0 or size < 2:
        raise InputError(f"need n >= 0 and size >= 2, got n={n}, size={size}")
    g = generator(seed)

    def uniform(lo: float, hi: float, shape=()) -> Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)

    m = size * oversample
    c = ((torch.arange(m, dtype=torch.float64) + 0.5) / m - 0.5) * size * pixel_size
    x, y = c[None, :].expand(m, m), -c[:, None].expand(m, m)
    images = []
    for _ in range(n):
        r = radius + uniform(-0.3, 0.3)
        cx, cy = 0.5 * torch.randn(2, generator=g, dtype=torch.float64)
        img = ((x - cx) ** 2 + (y - cy) ** 2 <= r**2).to(torch.float64)
        for _ in range(int(torch.randint(1, 7, (), generator=g))):
            a, b = uniform(1.5, 12.0), uniform(1.5, 12.0)
            reach = float(r - 3.0 - max(a, b))
            rho, phi, ang = uniform(0, max(reach, 0.0)), uniform(0, 2 * math.pi), uniform(0, math.pi)
            dx, dy = x - cx - rho * torch.cos(phi), y - cy - rho * torch.sin(phi)
            u = (dx * torch.cos(ang) + dy * torch.sin(ang)) / a
            v = (-dx * torch.sin(ang) + dy * torch.cos(ang)) / b
            hole = (u**2 + v**2 <= 1) if bool(torch.rand((), generator=g) < 0.5) else (u.abs() <= 1) & (v.abs() <= 1)
            img[hole] = 0.0
        images.append(img)
    out = torch.stack(images)[:, None] * attenuation
    return torch.nn.functional.avg_pool2d(out, oversample) if oversample > 1 else out
