"""Paired image data: the reference's side-by-side folders, a procedural task, batching.

A dataset has ``len(dataset)`` and ``dataset.load(index, rng) -> (input, target)``, two
float32 HWC arrays in [-1, 1]; ``rng`` (a NumPy Generator) drives the random crop and
flip (the training job's other augmentations run in ``_augment``). ``batches`` derives
that rng from ``(seed, epoch, index)``, so an epoch's batches are a pure function of the
seed and the epoch: a resumed run sees the same data.
"""

from __future__ import annotations

import functools
import os
import queue
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import jax
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DIRECTIONS = ("AtoB", "BtoA")


class PairedDataset(Protocol):
    """What ``batches`` reads: a length and a deterministic ``load``."""

    def __len__(self) -> int: ...

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


# Pillow's modes of 16-bit pixels (a 16-bit grayscale PNG opens as 'I;16').
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
# Modes whose pixels have no fixed full scale (32-bit integers or floats).
_UNSCALED = ("I", "F")


def _check_mode(path: Path, mode: str) -> None:
    if mode in _UNSCALED:
        raise ValueError(f"{path.name!r} has Pillow mode {mode!r} (32-bit pixels with no "
                         "fixed range); store the dataset's images with 8 or 16 bits per "
                         "channel.")


def _decoded(image: Image.Image, channels: int) -> tuple[Image.Image, float]:
    """The pixels in a mode Pillow resizes bicubically, and their full-scale value:
    8-bit images as 'RGB' or 'L' (full scale 255), 16-bit ones as 'F' (65535)."""
    if image.mode in _SIXTEEN_BIT:
        return image.convert("F"), 65535.0
    return image.convert("RGB" if channels == 3 else "L"), 255.0


def _to_unit_range(image: Image.Image, full_scale: float, channels: int) -> np.ndarray:
    """A Pillow image -> float32 HWC in [-1, 1] (0 -> -1, ``full_scale`` -> 1); one
    channel repeated to ``channels``."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], channels, axis=2)
    return array / np.float32(full_scale / 2) - 1.0


class PairedImageFolder:
    """The reference's paired layout: ``dataroot/<split>/*.png``, each image A | B side by side.

    As the reference's dataset does, each image is resized (bicubic) to ``2 * load_size``
    x ``load_size``, whatever its size, and cut into its two halves; a random
    ``crop_size`` square is cut at the same place from both, and both are flipped
    left-right with probability ``flip_chance``. With ``train=False`` (the reference's
    validation images) each image is resized to ``2 * crop_size`` x ``crop_size`` instead,
    neither cropped nor flipped. ``direction='AtoB'`` makes the left half the input;
    ``'BtoA'`` the right half.

    Args:
      dataroot: the dataset folder.
      split: the subfolder (``'train'``, ``'val'``, ...).
      direction: ``'AtoB'`` or ``'BtoA'``.
      load_size: side of each half after resizing.
      crop_size: side of the random crop (<= ``load_size``).
      flip_chance: probability of a horizontal flip (0 disables it; the training job
        flips on the device instead, with ``h_flip_chance``).
      channels: 3 (RGB) or 1 (grayscale), the config's ``input_nc``.
      train: resize to ``load_size`` and crop (True), or resize to ``crop_size`` (False).

    Every image's header is read (and checked, ``Image.verify``) when the folder is
    opened, so a damaged file is refused before training starts; 8-bit images are
    scaled from 0..255 and 16-bit ones from 0..65535 to [-1, 1].

    Raises:
      FileNotFoundError: ``dataroot/split`` is not a folder.
      ValueError: no images there, an image that cannot be read or holds 32-bit pixels
        (named), or bad sizes, direction or channels. ``load`` raises it too, naming
        the file, when an image cannot be decoded.
    """

    def __init__(self, dataroot: str | os.PathLike, split: str = "train",
                 direction: str = "AtoB", *, load_size: int = 286, crop_size: int = 256,
                 flip_chance: float = 0.5, channels: int = 3, train: bool = True):
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}.")
        if not 1 <= crop_size <= load_size:
            raise ValueError(f"crop_size must be in [1, load_size={load_size}], got "
                             f"crop_size={crop_size}.")
        if not 0 <= flip_chance <= 1:
            raise ValueError(f"flip_chance must be in [0, 1], got {flip_chance!r}.")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
        folder = Path(dataroot) / split
        if not folder.is_dir():
            raise FileNotFoundError(
                f"dataroot {str(dataroot)!r} has no {split!r} folder (looked for {str(folder)!r}).")
        self.paths = tuple(sorted(p for p in folder.iterdir()
                                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        if not self.paths:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}.")
        for path in self.paths:
            _check_readable(path)
        self.direction, self.load_size, self.crop_size = direction, load_size, crop_size
        self.flip_chance, self.channels, self.train = flip_chance, channels, train

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The pair at ``index``, cropped and flipped as ``rng`` draws (if ``train``)."""
        size = self.load_size if self.train else self.crop_size
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                _check_mode(path, image.mode)
                image, full_scale = _decoded(image, self.channels)
                pixels = _to_unit_range(image.resize((2 * size, size),
                                                     Image.Resampling.BICUBIC),
                                        full_scale, self.channels)
        except (OSError, SyntaxError) as error:
            raise ValueError(f"cannot decode the image {str(path)!r}: {error}; replace or "
                             "remove it, then resume with --resume.") from None
        halves = pixels[:, :size], pixels[:, size:]
        if self.train:
            top, lft = rng.integers(0, self.load_size - self.crop_size + 1, size=2)
            flip = rng.random() < self.flip_chance
            halves = [h[top:top + self.crop_size, lft:lft + self.crop_size] for h in halves]
            halves = [h[:, ::-1] if flip else h for h in halves]
        out = [np.ascontiguousarray(h).clip(-1.0, 1.0) for h in halves]
        a, b = out
        return (a, b) if self.direction == "AtoB" else (b, a)


def _check_readable(path: Path) -> None:
    """Raises a ValueError naming ``path`` if Pillow cannot read its header, its chunks'
    checksums fail (``Image.verify``: a truncated or damaged file; nothing is decoded)
    or its pixels have no fixed range (32 bits)."""
    try:
        with Image.open(path) as image:
            mode = image.mode
            image.verify()
    except (OSError, SyntaxError) as error:
        raise ValueError(f"cannot read the image {str(path)!r}: {error}") from None
    _check_mode(path, mode)


class SyntheticPairs:
    """A procedural paired task made on the fly: recover an image from a degraded copy.

    The target is a smooth random colour image (a colour gradient plus soft blobs) with
    a few hard-edged discs; the input is the same image blurred, its colour channels
    rotated (R, G, B) -> (G, B, R) and inverted. A generator learns the colour mapping
    fast and the sharpening slowly, so its L1 to the target falls visibly.

    Args:
      n: pairs per epoch.
      size: side of the square images.
      seed: the task's seed (pair ``i`` is a pure function of ``(seed, i)``).
      channels: 3 (RGB) or 1 (the luminance of the same images).

    Examples:
      >>> pairs = SyntheticPairs(4, 32, seed=0)
      >>> x, y = pairs.load(0, np.random.default_rng(0))
      >>> x.shape, y.dtype, bool(np.abs(y).max() <= 1)
      ((32, 32, 3), dtype('float32'), True)
    """

    def __init__(self, n: int, size: int, seed: int = 0, *, channels: int = 3):
        for name, value, low in (("n", n, 1), ("size", size, 4)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {name}={value!r}.")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels!r}.")
        self.n, self.size, self.seed, self.channels = n, size, seed, channels

    def __len__(self) -> int:
        return self.n

    def target(self, index: int) -> np.ndarray:
        """The target image of pair ``index``: float32 HW3 in [-1, 1]."""
        rng = np.random.default_rng((self.seed, index))
        grid = (np.arange(self.size, dtype=np.float32) + 0.5) / self.size
        yy, xx = np.meshgrid(grid, grid, indexing="ij")
        corners = rng.uniform(-0.8, 0.8, size=(4, 3)).astype(np.float32)
        image = ((1 - yy)[..., None] * ((1 - xx)[..., None] * corners[0] + xx[..., None] * corners[1])
                 + yy[..., None] * ((1 - xx)[..., None] * corners[2] + xx[..., None] * corners[3]))
        for _ in range(3):
            cy, cx, radius = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.3)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius ** 2))
            image = image + blob[..., None] * rng.uniform(-0.8, 0.8, size=3).astype(np.float32)
        for _ in range(2):
            cy, cx, radius = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.2)
            disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < radius ** 2
            image = np.where(disc[..., None], rng.uniform(-1, 1, size=3).astype(np.float32), image)
        return np.clip(image, -1.0, 1.0).astype(np.float32)

    def load(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``index`` (``rng`` is unused: the task has no augmentation)."""
        del rng
        target = self.target(index)
        blurred = target
        for axis in (0, 1):  # a 5-tap binomial blur, edges repeated
            padded = np.concatenate([blurred.take([0, 0], axis), blurred,
                                     blurred.take([-1, -1], axis)], axis)
            taps = [padded.take(range(k, k + self.size), axis) for k in range(5)]
            blurred = (taps[0] + 4 * taps[1] + 6 * taps[2] + 4 * taps[3] + taps[4]) / 16
        source = -blurred[..., [1, 2, 0]]
        if self.channels == 1:
            luminance = np.array([0.299, 0.587, 0.114], dtype=np.float32)
            source, target = source @ luminance, target @ luminance
            source, target = source[..., None], target[..., None]
        return source.astype(np.float32), target.astype(np.float32)


def batches(dataset: PairedDataset, batch_size: int, *, seed: int, epoch: int,
            shuffle: bool = True, drop_last: bool = True, rows: slice | None = None
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``(inputs, targets)`` NHWC float32 batches, a pure function of the arguments.

    The order is a permutation drawn from ``(seed, epoch)``; each pair's crop and flip
    from ``(seed, epoch, index)``. So epoch ``e`` of a resumed run yields exactly what
    epoch ``e`` of an uninterrupted run yields.

    Args:
      dataset: a ``PairedDataset``.
      batch_size: pairs per batch.
      seed: the run's seed.
      epoch: the epoch (from 0).
      shuffle: permute the order (else dataset order).
      drop_last: drop a last, smaller batch (keeps one compiled shape).
      rows: load only these rows of each batch (one process's share of the global
        batch in a multi-process run); None = all.

    Raises:
      ValueError: ``batch_size`` < 1, or larger than the dataset with ``drop_last``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    if drop_last and batch_size > len(dataset):
        raise ValueError(f"batch_size={batch_size} is larger than the dataset ({len(dataset)} "
                         f"pairs): every batch would be dropped.")
    order = np.arange(len(dataset))
    if shuffle:
        order = np.random.default_rng((seed, epoch)).permutation(len(dataset))
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        pairs = [dataset.load(int(i), np.random.default_rng((seed, epoch, int(i))))
                 for i in order[start:start + batch_size][rows or slice(None)]]
        yield np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


_DONE = object()
_LOADER_NICENESS = 10  # how much lower the loading thread runs on a CPU backend


def prefetch(iterator: Iterator[Any], size: int = 2,
             sharding: jax.sharding.Sharding | None = None) -> Iterator[Any]:
    """Loads ahead in a background thread and puts each item on the device.

    The thread reads ``iterator`` and ``jax.device_put``s each item (a pytree of arrays,
    with ``sharding`` if given), keeping up to ``size`` items ready, so loading and the
    host-to-device copy overlap the training step (on the CPU an item is handed over once
    its copy is done, so the step runs on the calling thread). A ``sharding`` over
    devices of other processes too takes each item as this process's share of a global
    array (``jax.make_array_from_process_local_data``: its rows of the sharded axis). An
    exception in the iterator is raised here, at the item where it happened. Closing the
    returned generator early (``break``) stops the thread.

    Args:
      iterator: yields pytrees of arrays.
      size: items kept ready (>= 1).
      sharding: where to put each item; None = the default device.

    Raises:
      ValueError: ``size`` < 1.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an int >= 1, got {size!r}.")
    return _prefetch(iterator, size, sharding)


def _prefetch(iterator: Iterator[Any], size: int,
              sharding: jax.sharding.Sharding | None) -> Iterator[Any]:
    ready: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    place = (functools.partial(jax.tree.map, functools.partial(
        jax.make_array_from_process_local_data, sharding))
        if sharding is not None and not sharding.is_fully_addressable
        else functools.partial(jax.device_put, device=sharding))

    on_cpu = all(d.platform == "cpu" for d in (
        sharding.device_set if sharding is not None else jax.devices()[:1]))

    def work() -> None:
        if on_cpu:
            _yield_to_compute()
        try:
            for item in iterator:
                placed = place(item)
                if on_cpu:
                    # XLA's CPU runtime runs a computation whose inputs are still being
                    # copied later, on a thread of its own, where glibc maps the step's
                    # large buffers afresh each time (``_cpu_memory``): hand over copies
                    # that are done, so the step runs on the thread that dispatches it.
                    jax.block_until_ready(placed)
                if not put(placed):
                    return
        except BaseException as err:  # handed to the consumer, raised there
            put((_DONE, err))
            return
        put((_DONE, None))

    thread = threading.Thread(target=work, name="nectargan-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, tuple) and len(item) == 2 and item[0] is _DONE:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _yield_to_compute() -> None:
    """Lowers the calling thread's scheduling priority by ``_LOADER_NICENESS`` (Linux,
    where niceness is per thread). When the step runs on the CPU, its XLA threads take
    every core; a loader at the same priority preempts one of them, and the other then
    waits for it at each of the step's parallel joins: 8 ms of loading per step cost
    60 ms of step time at the default config on 2 cores (measured with
    benchmarks/bench_train_step.py). A niced loader runs in the step's idle moments and,
    when the step waits for a batch, alone."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, niceness + _LOADER_NICENESS))
    except OSError:  # a sandbox that forbids it: load at the same priority
        pass
