"""Sobel + Laplacian losses: fused shifted slices vs ``lax.conv_general_dilated``.

Times one jitted call of ``sobel(x, y) + laplacian(x, y)`` on N,3,256,256 images for
batch 1 and 16, with the stencils written two ways:

- slices: ``nectargan_jax.losses`` (shifted slices of the zero-padded grayscale image);
- conv: the same formulas with every 3x3 kernel applied by ``lax.conv_general_dilated``
  (one single-channel convolution per kernel and image, as the reference does in torch).

Both compute the grayscale image the same way, so the ratio isolates the stencils. Each
is timed forward and as ``jax.value_and_grad`` with respect to x: median of several runs
after a warm-up, each ended by ``block_until_ready``, the two variants alternating.
Prints the times and the ratio conv / slices, all measured in this one run.

    python benchmarks/bench_stencils.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from nectargan_jax.losses._functions import laplacian, sobel

SOBEL_X = jnp.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
SOBEL_Y = jnp.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
LAPLACE = jnp.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
BATCHES = (1, 16)


def _gray(x):
    gray = x[:, 0:1]
    for c in range(1, x.shape[1]):
        gray = gray + x[:, c : c + 1]
    return gray / x.shape[1]


def _conv(g, kernel):
    return lax.conv_general_dilated(
        g, kernel[None, None], (1, 1), ((1, 1), (1, 1)),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
    )


def conv_losses(x, y):
    gx, gy = _gray(x), _gray(y)

    def magnitude(g):
        return jnp.sqrt(_conv(g, SOBEL_X) ** 2 + _conv(g, SOBEL_Y) ** 2 + 1e-6)

    return (jnp.mean(jnp.abs(magnitude(gx) - magnitude(gy)))
            + jnp.mean(jnp.abs(_conv(gx, LAPLACE) - _conv(gy, LAPLACE))))


def slice_losses(x, y):
    return sobel(x, y) + laplacian(x, y)


def time_pair(functions, args, repeats: int) -> list[float]:
    """Median seconds per call of each jitted function, timed alternately."""
    results = [jax.block_until_ready(f(*args)) for f in functions]  # compile + warm up
    np.testing.assert_allclose(*[np.asarray(jax.tree.leaves(r)[0]) for r in results],
                               rtol=1e-4)
    times = [[] for _ in functions]
    for _ in range(repeats):
        for f, ts in zip(functions, times):
            begin = time.perf_counter()
            jax.block_until_ready(f(*args))
            ts.append(time.perf_counter() - begin)
    return [statistics.median(ts) for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per variant")
    args = parser.parse_args()

    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
          f"jax {jax.__version__}; median of {args.repeats} runs after warm-up")
    for mode, wrap in (("loss", lambda f: f), ("value_and_grad", jax.value_and_grad)):
        for batch in BATCHES:
            key_x, key_y = jax.random.split(jax.random.key(batch))
            x = jax.random.uniform(key_x, (batch, 3, 256, 256))
            y = jax.random.uniform(key_y, (batch, 3, 256, 256))
            slices_s, conv_s = time_pair(
                [jax.jit(wrap(slice_losses)), jax.jit(wrap(conv_losses))], (x, y), args.repeats
            )
            print(f"{mode:>14}  batch {batch:2d}x3x256x256: slices {slices_s * 1e3:8.3f} ms  "
                  f"conv {conv_s * 1e3:8.3f} ms  ratio conv / slices {conv_s / slices_s:5.2f}x")


if __name__ == "__main__":
    main()
