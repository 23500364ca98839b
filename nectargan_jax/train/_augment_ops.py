"""The image operations behind the training augmentations, as pure ``jnp`` functions.

Each takes one HWC float image in ``[0, 1]`` (the reference's 8-bit range, scaled: its
augmentation library, albumentations 2.0.8, works on ``uint8``) and the numbers drawn for
it, and returns an image of the same shape, so the same code runs vmapped inside the
compiled step and per image on the host. The formulas are albumentations', in float
arithmetic (no rounding to 8 bits between operations). Random draws live in
``_augment``; here everything is deterministic.
"""

from __future__ import annotations

import functools

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

# OpenCV's RGB -> gray weights (cv2.COLOR_RGB2GRAY), which albumentations uses.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
# sRGB -> CIE Y weights (OpenCV's RGB -> XYZ matrix, second row), for the L of L*a*b*.
LUMINANCE_WEIGHTS = (0.212671, 0.715160, 0.072169)
GRAY_METHODS = ("weighted_average", "from_lab", "desaturation", "average", "max", "pca")
_HIGHEST = jax.lax.Precision.HIGHEST


def rot90(image: jax.Array, k: jax.Array) -> jax.Array:
    """``np.rot90(image, k)`` (counter-clockwise) for a traced ``k`` in 0..3; square images."""
    return jax.lax.switch(k, [functools.partial(jnp.rot90, k=i) for i in range(4)], image)


def remap(image: jax.Array, map_x: jax.Array, map_y: jax.Array) -> jax.Array:
    """``out[i, j] = image[map_y[i, j], map_x[i, j]]``, bilinear, 0 outside the image.

    OpenCV's ``remap`` with ``INTER_LINEAR`` and ``BORDER_CONSTANT`` (value 0), the
    reference's setting for its elastic and optical distortions: each of the four
    neighbours weighs in where it lies inside the image. Pixels are gathered whole (all
    channels at once): on this project's CPU, vmapped over 256x256 RGB images, 0.3 ms per
    image against 2.6 ms for ``jax.scipy.ndimage.map_coordinates`` per channel.
    """
    height, width, channels = image.shape
    left, top = jnp.floor(map_x), jnp.floor(map_y)
    right_weight, bottom_weight = map_x - left, map_y - top
    pixels = image.reshape(height * width, channels)
    out = jnp.zeros(map_x.shape + (channels,), image.dtype)
    for row_offset, row_weight in ((0, 1 - bottom_weight), (1, bottom_weight)):
        for column_offset, column_weight in ((0, 1 - right_weight), (1, right_weight)):
            row = top.astype(jnp.int32) + row_offset
            column = left.astype(jnp.int32) + column_offset
            inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
            index = jnp.clip(row, 0, height - 1) * width + jnp.clip(column, 0, width - 1)
            weight = jnp.where(inside, row_weight * column_weight, 0.0)
            out = out + weight[..., None] * pixels[index]
    return out


def gaussian_blur_matrix(size: int, sigma: float) -> np.ndarray:
    """OpenCV's ``GaussianBlur`` along one axis of ``size`` samples, as a matrix.

    The kernel is the one OpenCV picks for float input when no size is given (``round(8
    sigma + 1)``, made odd); samples beyond the ends repeat the edge
    (``BORDER_REPLICATE``). ``matrix @ values`` blurs ``values`` along its first axis.
    """
    radius = (int(np.rint(8 * sigma + 1)) | 1) // 2
    taps = np.arange(-radius, radius + 1)
    weights = np.exp(-taps.astype(np.float64) ** 2 / (2 * sigma ** 2))
    weights /= weights.sum()
    rows = np.repeat(np.arange(size), taps.size)
    columns = np.clip(rows + np.tile(taps, size), 0, size - 1)
    matrix = np.zeros((size, size))
    np.add.at(matrix, (rows, columns), np.tile(weights, size))
    return matrix.astype(np.float32)


def elastic_maps(noise: jax.Array, alpha: float, sigma: float
                 ) -> tuple[jax.Array, jax.Array]:
    """albumentations' elastic displacement: ``(map_x, map_y)`` for ``remap``.

    ``noise`` (2, H, W) standard normal values are divided by their largest magnitude,
    blurred with a Gaussian of ``sigma`` and scaled by ``alpha``. OpenCV blurs both fields
    as one (2H, W) array, so near the rows where they meet the vertical blur mixes
    them; that is kept, as the reference computes it.
    """
    _, height, width = noise.shape
    peak = jnp.max(jnp.abs(noise))
    noise = jnp.where(peak > 1e-6, noise / peak, noise).reshape(2 * height, width)
    blur_rows = jnp.asarray(gaussian_blur_matrix(2 * height, sigma))
    blur_columns = jnp.asarray(gaussian_blur_matrix(width, sigma))
    fields = jnp.matmul(jnp.matmul(blur_rows, noise, precision=_HIGHEST), blur_columns.T,
                        precision=_HIGHEST)
    fields = alpha * fields.reshape(2, height, width)
    rows, columns = jnp.mgrid[:height, :width].astype(jnp.float32)
    return columns + fields[0], rows + fields[1]


def camera_maps(height: int, width: int, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    """OpenCV's ``initUndistortRectifyMap`` for albumentations' 'camera' distortion.

    Focal lengths are the image's width and height, the principal point its centre
    ``(W/2, H/2)``, the radial coefficients ``k1 = k2 = k``; OpenCV centres the new
    camera at ``((W-1)/2, (H-1)/2)``, half a pixel off, as the reference has it.
    """
    rows, columns = jnp.mgrid[:height, :width].astype(jnp.float32)
    x = (columns - (width - 1) / 2) / width
    y = (rows - (height - 1) / 2) / height
    r2 = x * x + y * y
    scale = 1 + k * r2 + k * r2 * r2
    return width * x * scale + width / 2, height * y * scale + height / 2


def fisheye_maps(height: int, width: int, k: jax.Array) -> tuple[jax.Array, jax.Array]:
    """albumentations' 'fisheye' distortion: radius ``r -> r (1 + k (r / R)^2)`` about the
    centre ``(W/2, H/2)``, ``R`` the distance from it to the farthest corner."""
    rows, columns = jnp.mgrid[:height, :width].astype(jnp.float32)
    cx, cy = width / 2, height / 2
    x, y = columns - cx, rows - cy
    reach = max(cx, width - cx) ** 2 + max(cy, height - cy) ** 2
    scale = 1 + k * (x * x + y * y) / reach
    return x * scale + cx, y * scale + cy


def holes_mask(height: int, width: int, top: jax.Array, left: jax.Array,
               hole_height: jax.Array, hole_width: jax.Array,
               active: jax.Array) -> jax.Array:
    """(H, W) bool: inside any active hole ``[top, top + h) x [left, left + w)``."""
    rows = jnp.arange(height)[None, :, None]
    columns = jnp.arange(width)[None, None, :]

    def column(v):
        return v[:, None, None]

    inside = ((rows >= column(top)) & (rows < column(top + hole_height))
              & (columns >= column(left)) & (columns < column(left + hole_width)))
    return jnp.any(inside & column(active), axis=0)


def gray(image: jax.Array) -> jax.Array:
    """(H, W) luma of an RGB image with OpenCV's weights."""
    r, g, b = GRAY_WEIGHTS
    return r * image[..., 0] + g * image[..., 1] + b * image[..., 2]


def adjust_brightness(image: jax.Array, factor: jax.Array) -> jax.Array:
    """``image * factor``, clipped (torchvision's rule, as albumentations' ColorJitter)."""
    return jnp.clip(image * factor, 0.0, 1.0)


def adjust_contrast(image: jax.Array, factor: jax.Array) -> jax.Array:
    """A blend with the image's mean luma: ``image * f + mean * (1 - f)``, clipped."""
    mean = jnp.mean(gray(image) if image.shape[-1] == 3 else image)
    return jnp.clip(image * factor + mean * (1 - factor), 0.0, 1.0)


def adjust_saturation(image: jax.Array, factor: jax.Array) -> jax.Array:
    """A blend with the image's luma: ``image * f + luma * (1 - f)``, clipped; RGB only."""
    if image.shape[-1] != 3:
        return image
    return jnp.clip(image * factor + gray(image)[..., None] * (1 - factor), 0.0, 1.0)


def adjust_hue(image: jax.Array, shift: jax.Array) -> jax.Array:
    """The hue turned by ``shift`` of a full turn (HSV, modulo 1); RGB only."""
    if image.shape[-1] != 3:
        return image
    return dm_pix.adjust_hue(image, shift)


COLOR_ADJUSTMENTS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


def color_jitter(image: jax.Array, factors: jax.Array, order: jax.Array) -> jax.Array:
    """Brightness, contrast, saturation and hue adjustments (``factors``, in that order)
    applied in the order ``order`` (a permutation of 0..3), as albumentations does.

    The hue adjustment (an HSV round trip) runs once, between a pass of the cheap
    adjustments ordered before it and one of those ordered after it: vmapped, a switch
    per position would compute all four at each of the four positions (10x the time).
    """
    hue_at = jnp.argmax(order == 3)

    def cheap_pass(image, chosen):
        for position in range(len(COLOR_ADJUSTMENTS)):
            out = image
            for i, adjust in enumerate(COLOR_ADJUSTMENTS[:3]):
                take = (order[position] == i) & chosen(position)
                out = jnp.where(take, adjust(image, factors[i]), out)
            image = out
        return image

    image = cheap_pass(image, lambda position: position < hue_at)
    image = adjust_hue(image, factors[3])
    return cheap_pass(image, lambda position: position > hue_at)


def motion_kernel(max_size: int, size: jax.Array, angle: jax.Array, direction: jax.Array,
                  shift: jax.Array) -> jax.Array:
    """albumentations' motion-blur kernel of odd ``size`` (traced) centred in a static
    ``max_size`` square: a line through the centre at ``angle`` degrees, sampled at
    ``size`` points, biased to one side by ``direction`` in [-1, 1], moved by ``shift``
    (x, y), its pixels rounded, each set once; normalised to sum 1."""
    half = (size // 2).astype(jnp.float32)
    bias = jnp.abs(direction)
    start = jnp.where(direction > 0, -half * (1 - bias), -half)
    stop = jnp.where(direction < 0, half * (1 - bias), half)
    position = jnp.arange(max_size, dtype=jnp.float32)
    t = start + position * (stop - start) / (size - 1).astype(jnp.float32)
    radians = jnp.deg2rad(angle)
    x = jnp.clip(jnp.round(half + jnp.cos(radians) * t + shift[0]), 0, size - 1)
    y = jnp.clip(jnp.round(half + jnp.sin(radians) * t + shift[1]), 0, size - 1)
    offset = (max_size - size) // 2
    cells = jnp.arange(max_size)
    hit = ((y[:, None, None] + offset == cells[None, :, None])
           & (x[:, None, None] + offset == cells[None, None, :])
           & (position < size)[:, None, None])
    kernel = jnp.any(hit, axis=0).astype(jnp.float32)
    return kernel / jnp.sum(kernel)


def filter2d(image: jax.Array, kernel: jax.Array) -> jax.Array:
    """OpenCV's ``filter2D``: correlation with an odd square ``kernel`` anchored at its
    centre, the same on every channel, borders mirrored without repeating the edge
    (``BORDER_REFLECT_101``).

    A loop over the kernel's rows, each a sum of shifted slices: with a kernel per image
    (vmapped) this runs 7-9x faster on a CPU than XLA's grouped convolution, for kernels
    of 7 and 31 (``benchmarks/bench_augment.py``).
    """
    radius = kernel.shape[0] // 2
    height, width = image.shape[:2]
    padded = jnp.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")

    def add_row(i, total):
        band = jax.lax.dynamic_slice_in_dim(padded, i, height, axis=0)
        return total + sum(kernel[i, j] * band[:, j:j + width] for j in range(kernel.shape[1]))

    return jax.lax.fori_loop(0, kernel.shape[0], add_row, jnp.zeros_like(image))


def to_gray(image: jax.Array, method: str) -> jax.Array:
    """albumentations' ``ToGray`` with 3 output channels; an image of one channel is
    returned as it is (already gray).

    ``method`` (one of ``GRAY_METHODS``): 'weighted_average' (OpenCV's luma),
    'from_lab' (the L of L*a*b*, sRGB), 'desaturation' ((max + min) / 2), 'average',
    'max', or 'pca' (the projection on the first principal component of the pixels,
    scaled to [0, 1]; a component's sign is arbitrary: ours makes its largest loading
    positive, the reference's follows OpenCV's eigen solver).
    """
    if image.shape[-1] != 3:
        return image
    if method == "weighted_average":
        value = gray(image)
    elif method == "from_lab":
        linear = jnp.where(image <= 0.04045, image / 12.92, ((image + 0.055) / 1.055) ** 2.4)
        r, g, b = LUMINANCE_WEIGHTS
        y = r * linear[..., 0] + g * linear[..., 1] + b * linear[..., 2]
        value = jnp.where(y > 0.008856, 1.16 * jnp.cbrt(y) - 0.16, 9.033 * y)
    elif method == "desaturation":
        value = (jnp.max(image, axis=-1) + jnp.min(image, axis=-1)) / 2
    elif method == "average":
        value = jnp.mean(image, axis=-1)
    elif method == "max":
        value = jnp.max(image, axis=-1)
    elif method == "pca":
        value = _first_component(image)
    else:
        raise ValueError(f"method must be one of {GRAY_METHODS}, got {method!r}.")
    return jnp.repeat(jnp.clip(value, 0.0, 1.0)[..., None], 3, axis=-1)


def _first_component(image: jax.Array) -> jax.Array:
    """The pixels' projection on their first principal component, min-max scaled."""
    pixels = image.reshape(-1, 3)
    centred = pixels - jnp.mean(pixels, axis=0, keepdims=True)
    _, vectors = jnp.linalg.eigh(jnp.matmul(centred.T, centred, precision=_HIGHEST))
    component = vectors[:, -1]
    component = component * jnp.sign(component[jnp.argmax(jnp.abs(component))])
    projected = jnp.matmul(centred, component, precision=_HIGHEST)
    low, span = jnp.min(projected), jnp.max(projected) - jnp.min(projected)
    scaled = jnp.where(span > 0, (projected - low) / jnp.where(span > 0, span, 1.0), 0.0)
    return scaled.reshape(image.shape[:2])
