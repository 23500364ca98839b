"""The reference's data augmentations (``dataloader.augmentations``), as a static plan.

Every key of the reference's ``both`` and ``input`` sections is honoured with its
meaning in NectarGAN v0.2.3 (which builds albumentations 2.0.8 transforms from them), in
its order, each step applied with its ``*_chance``; steps with chance 0 are left out:

- both images, the same draw for both: horizontal flip, vertical flip, a rotation by a
  random multiple of 90 degrees, the elastic transform (``alpha``, ``sigma``), the
  optical distortion (``k`` uniform in ``[min, max]``, 'camera' or 'fisheye'), coarse
  dropout (``holes`` holes of ``height`` x ``width``, fractions of the side below 1,
  pixels from 1, filled with black);
- the input only: colour jitter (brightness factor in ``[min, max]``; contrast and
  saturation in [0.8, 1.2] and hue in [-0.5, 0.5], albumentations' defaults, which the
  reference keeps, in a random order), Gaussian noise (standard deviation in ``[min,
  max]`` of the full range), motion blur (odd kernel sizes 3..``limit``), gamma
  (``[min, max]`` / 100), grayscale (``grayscale_method``), JPEG or WebP compression
  (quality in ``[min, max]``).

One difference: the reference gives coarse dropout albumentations' default chance 0.5
whatever ``coarse_dropout_chance`` says (above 0); here the chance is the key's value.

Where they run: inside the compiled training step, vmapped over the batch, keyed by
``(seed, step)`` (``apply_batch``); with compression on (Pillow's codecs run on the
host, and compression comes last), the whole chain runs per pair in the data-loading
thread on the CPU instead, keyed by ``(seed, epoch, index)`` (``HostAugmentedPairs``).
Either way a resumed run draws exactly what an uninterrupted one draws. The config's
values are checked, and the plan built, in ``_augment_config``.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from nectargan_jax.train import _augment_ops as ops

# ColorJitter's contrast, saturation and hue ranges: albumentations' defaults.
CONTRAST_RANGE = (0.8, 1.2)
SATURATION_RANGE = (0.8, 1.2)
HUE_RANGE = (-0.5, 0.5)
# Folded into the run's seed to give the augmentations a key stream of their own.
KEY_STREAM = 0x61756720

Pair = tuple[jax.Array, jax.Array]


def _between(u: jax.Array, low: float, high: float) -> jax.Array:
    """Uniform in ``[low, high)`` from ``u`` uniform in [0, 1)."""
    return low + u * (high - low)


def _integer(u: jax.Array, low: Any, high: Any) -> jax.Array:
    """A uniform int in ``[low, high]`` (inclusive) from ``u`` uniform in [0, 1)."""
    return jnp.minimum(low + jnp.floor(u * (high - low + 1)).astype(jnp.int32), high)


class Step:
    """One augmentation: ``draw`` its numbers, then ``apply`` them.

    ``draw(u, noise, shape)`` turns ``uniforms`` numbers ``u`` uniform in [0, 1) (and a
    standard normal array of ``noise_shape(shape)``, if the step takes one) into the
    step's numbers for images of ``shape`` (HWC); ``apply(drawn, images)`` is
    deterministic, on a tuple of images (``both`` steps: the same numbers for each) or on
    one image (``input`` steps). All random numbers of a batch come from two or three
    draws of ``jax.random`` (``Augmentations.apply_batch``): each call site adds XLA
    compile time on the CPU. Subclasses are frozen dataclasses whose fields are the
    config's numbers, ``chance`` first.
    """

    chance: float
    uniforms = 0

    def noise_shape(self, shape: tuple[int, ...]) -> tuple[int, ...] | None:
        return None

    def draw(self, u: jax.Array, noise: jax.Array | None, shape: tuple[int, ...]) -> Any:
        return ()


@dataclasses.dataclass(frozen=True)
class HorizontalFlip(Step):
    """Mirror left-right."""

    chance: float

    def apply(self, drawn: Any, images: Pair) -> Pair:
        return tuple(image[:, ::-1] for image in images)


@dataclasses.dataclass(frozen=True)
class VerticalFlip(Step):
    """Mirror top-bottom."""

    chance: float

    def apply(self, drawn: Any, images: Pair) -> Pair:
        return tuple(image[::-1] for image in images)


@dataclasses.dataclass(frozen=True)
class RandomRotate90(Step):
    """Rotate counter-clockwise by ``k`` quarter turns, ``k`` uniform in 0..3."""

    chance: float
    uniforms = 1

    def draw(self, u: jax.Array, noise: Any, shape: tuple[int, ...]) -> jax.Array:
        return _integer(u[0], 0, 3)

    def apply(self, k: jax.Array, images: Pair) -> Pair:
        return tuple(ops.rot90(image, k) for image in images)


@dataclasses.dataclass(frozen=True)
class ElasticTransform(Step):
    """Displace pixels by smoothed random fields (``ops.elastic_maps``) made from a
    (2, H, W) standard normal noise."""

    chance: float
    alpha: float
    sigma: float

    def noise_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (2, *shape[:2])

    def draw(self, u: jax.Array, noise: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        return noise

    def apply(self, noise: jax.Array, images: Pair) -> Pair:
        map_x, map_y = ops.elastic_maps(noise, self.alpha, self.sigma)
        return tuple(ops.remap(image, map_x, map_y) for image in images)


@dataclasses.dataclass(frozen=True)
class OpticalDistortion(Step):
    """Radial lens distortion with ``k`` uniform in ``[low, high]``."""

    chance: float
    low: float
    high: float
    mode: str
    uniforms = 1

    def draw(self, u: jax.Array, noise: Any, shape: tuple[int, ...]) -> jax.Array:
        return _between(u[0], self.low, self.high)

    def apply(self, k: jax.Array, images: Pair) -> Pair:
        height, width = images[0].shape[:2]
        maps = ops.camera_maps if self.mode == "camera" else ops.fisheye_maps
        map_x, map_y = maps(height, width, k)
        return tuple(ops.remap(image, map_x, map_y) for image in images)


@dataclasses.dataclass(frozen=True)
class CoarseDropout(Step):
    """Black out ``holes`` rectangles (albumentations' ``CoarseDropout``, fill 0).

    Draws ``(top, left, height, width, active)``, one entry per possible hole: their
    number uniform in ``holes``; sizes below 1 are fractions of the side
    (``int(side * uniform(min, max))``), with ``height[1] >= 1`` both sizes are pixel
    counts (uniform ints, capped at the side); positions uniform where the hole fits.
    """

    chance: float
    holes: tuple[int, int]
    height: tuple[float, float]
    width: tuple[float, float]

    @property
    def uniforms(self) -> int:
        return 1 + 4 * self.holes[1]

    def draw(self, u: jax.Array, noise: Any, shape: tuple[int, ...]) -> tuple[jax.Array, ...]:
        rows, columns = shape[:2]
        most = self.holes[1]
        count = _integer(u[0], *self.holes)
        u_height, u_width, u_top, u_left = u[1:].reshape(4, most)
        if self.height[1] >= 1:
            hole_height = _integer(u_height, int(self.height[0]), int(min(self.height[1], rows)))
            hole_width = _integer(u_width, int(self.width[0]), int(min(self.width[1], columns)))
        else:
            hole_height = (rows * _between(u_height, *self.height)).astype(jnp.int32)
            hole_width = (columns * _between(u_width, *self.width)).astype(jnp.int32)
        top = _integer(u_top, 0, rows - hole_height)
        left = _integer(u_left, 0, columns - hole_width)
        return top, left, hole_height, hole_width, jnp.arange(most) < count

    def apply(self, holes: tuple[jax.Array, ...], images: Pair) -> Pair:
        mask = ops.holes_mask(*images[0].shape[:2], *holes)
        return tuple(jnp.where(mask[..., None], 0.0, image) for image in images)


@dataclasses.dataclass(frozen=True)
class ColorJitter(Step):
    """Brightness factor in ``brightness``, contrast and saturation in [0.8, 1.2], hue
    shift in [-0.5, 0.5], in a random order (``ops.color_jitter``)."""

    chance: float
    brightness: tuple[float, float]
    uniforms = 8

    def draw(self, u: jax.Array, noise: Any, shape: tuple[int, ...]
             ) -> tuple[jax.Array, jax.Array]:
        factors = jnp.stack([_between(u[i], *limits) for i, limits in enumerate(
            (self.brightness, CONTRAST_RANGE, SATURATION_RANGE, HUE_RANGE))])
        return factors, jnp.argsort(u[4:])

    def apply(self, drawn: tuple[jax.Array, jax.Array], image: jax.Array) -> jax.Array:
        return ops.color_jitter(image, *drawn)


@dataclasses.dataclass(frozen=True)
class GaussNoise(Step):
    """Add per-pixel, per-channel normal noise whose std is uniform in ``std``; clip."""

    chance: float
    std: tuple[float, float]
    uniforms = 1

    def noise_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape

    def draw(self, u: jax.Array, noise: jax.Array, shape: tuple[int, ...]) -> jax.Array:
        return _between(u[0], *self.std) * noise

    def apply(self, noise: jax.Array, image: jax.Array) -> jax.Array:
        return jnp.clip(image + noise, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class MotionBlur(Step):
    """Blur along a random line: the kernel of ``ops.motion_kernel`` with an odd size
    in 3..``limit``, an angle in [0, 360), a direction in [-1, 1] and a shift of up to
    a quarter of the size each way."""

    chance: float
    limit: int
    uniforms = 5

    def draw(self, u: jax.Array, noise: Any, shape: tuple[int, ...]) -> jax.Array:
        size = 3 + 2 * _integer(u[0], 0, (self.limit - 3) // 2)
        shift = _between(u[3:5], -1.0, 1.0) * (size // 2) / 2
        return ops.motion_kernel(self.limit, size, _between(u[1], 0.0, 360.0),
                                 _between(u[2], -1.0, 1.0), shift)

    def apply(self, kernel: jax.Array, image: jax.Array) -> jax.Array:
        return ops.filter2d(image, kernel)


@dataclasses.dataclass(frozen=True)
class RandomGamma(Step):
    """``image ** gamma``, ``gamma`` uniform in ``[min, max] / 100``."""

    chance: float
    gamma: tuple[float, float]
    uniforms = 1

    def draw(self, u: jax.Array, noise: Any, shape: tuple[int, ...]) -> jax.Array:
        return _between(u[0], *self.gamma) / 100.0

    def apply(self, gamma: jax.Array, image: jax.Array) -> jax.Array:
        return image ** gamma


@dataclasses.dataclass(frozen=True)
class ToGray(Step):
    """Grayscale by ``method`` (``ops.to_gray``), three channels."""

    chance: float
    method: str

    def apply(self, drawn: Any, image: jax.Array) -> jax.Array:
        return ops.to_gray(image, self.method)


@dataclasses.dataclass(frozen=True)
class ImageCompression:
    """Encode and decode with Pillow's JPEG or WebP codec at a quality uniform in
    ``quality`` (inclusive); host only."""

    chance: float
    kind: str
    quality: tuple[int, int]

    def __call__(self, rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
        """``image`` HWC float in [-1, 1] -> the decoded image, same range."""
        quality = int(rng.integers(self.quality[0], self.quality[1] + 1))
        pixels = np.round((np.clip(image, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
        picture = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        buffer = io.BytesIO()
        picture.save(buffer, format=self.kind.upper(), quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out = np.asarray(decoded.convert(picture.mode), dtype=np.float32)
        return (out.reshape(image.shape) / 127.5 - 1.0).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Augmentations:
    """The augmentations a config turns on, in the reference's order (static, hashable).

    Attributes:
      both: steps applied to input and target alike (same draws).
      input: steps applied to the input only, on the device.
      compression: the last input step, on the host; None when off.
    """

    both: tuple = ()
    input: tuple = ()
    compression: ImageCompression | None = None

    @property
    def empty(self) -> bool:
        """No step is on."""
        return not (self.both or self.input or self.compression)

    @property
    def on_host(self) -> bool:
        """The chain runs on the host (compression is on)."""
        return self.compression is not None

    def apply_batch(self, key: jax.Array, xs: jax.Array, ys: jax.Array) -> Pair:
        """A batch of pairs (NHWC in [-1, 1]) through the device steps, in order.

        Each step runs on a pair with probability ``chance``. Every number is drawn
        from ``key`` by one ``jax.random.uniform`` call (each call site costs XLA seconds
        of compile time on a CPU): per pair and step a gate, the step's ``uniforms``, and
        two per element of its noise, which Box-Muller turns into standard normals.
        """
        steps = self.both + self.input
        shape = xs.shape[1:]
        sizes = [1 + s.uniforms + 2 * math.prod(s.noise_shape(shape) or (0,)) for s in steps]
        u = jax.random.uniform(key, (xs.shape[0], sum(sizes)),
                               minval=jnp.finfo(jnp.float32).tiny)
        return jax.vmap(self._apply_pair)(u, xs, ys)

    def _apply_pair(self, u: jax.Array, x: jax.Array, y: jax.Array) -> Pair:
        """One pair through the steps, with its uniforms ``u`` (see ``apply_batch``)."""
        images: Any = ((x + 1.0) / 2.0, (y + 1.0) / 2.0)
        target = None
        at = 0
        for i, step in enumerate(self.both + self.input):
            if i == len(self.both):
                target, images = images[1], images[0]
            gate, at = u[at], at + 1
            scalars, at = u[at:at + step.uniforms], at + step.uniforms
            noise = None
            if step.noise_shape(x.shape) is not None:
                count = math.prod(step.noise_shape(x.shape))
                noise = _normal(u[at:at + 2 * count]).reshape(step.noise_shape(x.shape))
                at += 2 * count
            changed = step.apply(step.draw(scalars, noise, x.shape), images)
            images = jax.tree.map(lambda new, old, on=gate < step.chance:
                                  jnp.where(on, new, old), changed, images)
        if target is None:
            target, images = images[1], images[0]
        return images * 2.0 - 1.0, target * 2.0 - 1.0


def _normal(u: jax.Array) -> jax.Array:
    """``len(u) / 2`` standard normal numbers from uniforms in (0, 1) (Box-Muller)."""
    radius, angle = jnp.split(u, 2)
    return jnp.sqrt(-2.0 * jnp.log(radius)) * jnp.cos(2.0 * jnp.pi * angle)


def step_key(seed: int) -> jax.Array:
    """The key data (uint32[2]) the training step's augmentations draw from."""
    return jax.random.key_data(jax.random.fold_in(jax.random.key(seed), KEY_STREAM))


def augment_batch(plan: Augmentations, key_data: jax.Array, step: jax.Array,
                  xs: jax.Array, ys: jax.Array) -> Pair:
    """The training step's augmentation of its batch: a pure function of ``key_data``
    (``step_key(seed)``, kept in the train state), the step count and the batch."""
    key = jax.random.fold_in(jax.random.wrap_key_data(key_data), step)
    return plan.apply_batch(key, xs, ys)


@functools.partial(jax.jit, static_argnums=0)
def _apply_seeded(plan: Augmentations, seed: jax.Array, x: jax.Array, y: jax.Array) -> Pair:
    xs, ys = plan.apply_batch(jax.random.key(seed), x[None], y[None])
    return xs[0], ys[0]


class HostAugmentedPairs:
    """A dataset whose pairs go through the whole augmentation chain as they load.

    The device steps run on the CPU (compiled once), then compression with Pillow;
    every draw comes from the ``rng`` ``load`` is given, so a pair is a pure function
    of ``(seed, epoch, index)`` as ``batches`` derives it.

    Args:
      dataset: a ``PairedDataset``.
      augmentations: the plan, with compression on.
    """

    def __init__(self, dataset: Any, augmentations: Augmentations):
        self.dataset, self.augmentations = dataset, augmentations
        self._cpu = jax.devices("cpu")[0]

    def __len__(self) -> int:
        return len(self.dataset)

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``index``, loaded with ``rng`` and augmented with draws from it."""
        x, y = self.dataset.load(index, rng)
        seed = np.int32(rng.integers(2 ** 31))
        if self.augmentations.both or self.augmentations.input:
            x, y = (np.asarray(a) for a in _apply_seeded(
                self.augmentations, *jax.device_put((seed, x, y), self._cpu)))
        compression = self.augmentations.compression
        if rng.random() < compression.chance:
            x = compression(rng, x)
        return x, y
