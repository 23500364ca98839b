"""The training augmentations' cost per pair, and filter2d's two forms.

At the default config's image size (256x256 RGB), a batch of pairs through one compiled
``Augmentations.apply_batch`` per step (chance 1, so every pair pays), then through the
whole device chain (every step of the reference's ``both`` and ``input`` sections at
chance 1). Then motion blur's ``filter2d`` with a kernel per image (vmapped): (x)
``lax.conv_general_dilated`` as a grouped convolution against (o) the row loop of shifted
slices that ``_augment_ops.filter2d`` uses, for kernels of 7 and 31 (same numbers,
checked). Every timed call gets a key or inputs of its own; prints median milliseconds
per pair and x / o from this one run. Applies the XLA CPU flags of the
``nectargan-jax train`` command first.

    python benchmarks/bench_augment.py [--batch 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax._xla_flags import apply_cpu_flags
from nectargan_jax.train import _augment_ops as ops
from nectargan_jax.train._augment import (Augmentations, CoarseDropout, ColorJitter,
                                          ElasticTransform, GaussNoise, HorizontalFlip,
                                          MotionBlur, OpticalDistortion, RandomGamma,
                                          RandomRotate90, ToGray, VerticalFlip)

SIDE = 256
# The reference's default numbers for each step.
BOTH = (HorizontalFlip(1.0), VerticalFlip(1.0), RandomRotate90(1.0),
        ElasticTransform(1.0, 1.0, 50.0), OpticalDistortion(1.0, -0.05, 0.05, "camera"),
        CoarseDropout(1.0, (1, 2), (0.1, 0.2), (0.1, 0.2)))
INPUT = (ColorJitter(1.0, (0.8, 1.2)), GaussNoise(1.0, (0.2, 0.44)), MotionBlur(1.0, 7),
         RandomGamma(1.0, (80.0, 120.0)), ToGray(1.0, "weighted_average"))


def median_ms(run, inputs) -> float:
    """Median wall time of ``run(*args)`` over ``inputs`` (compiled on the first)."""
    jax.block_until_ready(run(*inputs[0]))
    times = []
    for args in inputs[1:]:
        start = time.perf_counter()
        jax.block_until_ready(run(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def conv_filter(image, kernel):
    """filter2D as XLA's grouped convolution (the form ``filter2d`` replaced)."""
    radius, channels = kernel.shape[0] // 2, image.shape[-1]
    padded = jnp.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="reflect")
    weights = jnp.broadcast_to(kernel[:, :, None, None], (*kernel.shape, 1, channels))
    return jax.lax.conv_general_dilated(
        padded[None], weights, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=channels)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    apply_cpu_flags()
    rng = np.random.default_rng(0)
    pairs = rng.uniform(-1, 1, (2, args.batch, SIDE, SIDE, 3)).astype(np.float32)
    keys = [(jax.random.key(i), *pairs) for i in range(args.repeats + 1)]
    print(f"{jax.devices()[0].platform}, {SIDE}x{SIDE}, batch {args.batch}: ms per pair")
    for step in (*BOTH, *INPUT):
        plan = Augmentations((step,)) if step in BOTH else Augmentations((), (step,))
        ms = median_ms(jax.jit(plan.apply_batch), keys) / args.batch
        print(f"  {type(step).__name__:18s} {ms:8.2f}")
    ms = median_ms(jax.jit(Augmentations(BOTH, INPUT).apply_batch), keys) / args.batch
    print(f"  {'all of them':18s} {ms:8.2f}")
    print("filter2d, a kernel per image: x = grouped convolution, o = row loop")
    for size in (7, 31):
        inputs = [(jnp.asarray(rng.uniform(0, 1, (args.batch, SIDE, SIDE, 3)), jnp.float32),
                   jnp.asarray(rng.uniform(0, 1, (args.batch, size, size)), jnp.float32))
                  for _ in range(args.repeats + 1)]
        conv, rows = jax.jit(jax.vmap(conv_filter)), jax.jit(jax.vmap(ops.filter2d))
        np.testing.assert_allclose(conv(*inputs[0]), rows(*inputs[0]), rtol=1e-5, atol=1e-4)
        x, o = median_ms(conv, inputs), median_ms(rows, inputs)
        print(f"  kernel {size:2d}: x {x / args.batch:8.2f}  o {o / args.batch:8.2f}  "
              f"x / o {x / o:5.2f}")


if __name__ == "__main__":
    main()
