"""Sobel + Laplacian losses: fused shifted slices vs ``lax.conv_general_dilated``.

Times one jitted call of ``sobel(x, y) + laplacian(x, y)`` on 3x256x256 images for
batch 1 and 16, with the stencils written three ways:

- slices NHWC: ``nectargan_jax.losses`` (shifted slices of the zero-padded grayscale
  image) on (N, 256, 256, 3) batches, the default layout;
- slices NCHW: the same functions with ``layout='NCHW'`` on the same images transposed
  to (N, 3, 256, 256);
- conv: the same formulas on the NCHW batch with every 3x3 kernel applied by
  ``lax.conv_general_dilated`` (one single-channel convolution per kernel and image, as
  the reference does in torch).

All compute the grayscale image the same way, so conv / slices isolates the stencils and
NHWC / NCHW the layout. Each is timed forward and as ``jax.value_and_grad`` with respect
to x: median of several runs after a warm-up, each ended by ``block_until_ready``, the
variants alternating in a rotating order. Prints the times and the ratios, all measured
in this one run.

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


def slice_losses_nhwc(x, y):
    return sobel(x, y) + laplacian(x, y)


def slice_losses_nchw(x, y):
    return sobel(x, y, layout="NCHW") + laplacian(x, y, layout="NCHW")


def time_variants(calls, repeats: int) -> list[float]:
    """Median seconds per call of each ``(jitted function, args)``, timed alternately, the
    order rotated every round (the call after a slow variant runs on colder caches)."""
    results = [jax.block_until_ready(f(*args)) for f, args in calls]  # compile + warm up
    first = np.asarray(jax.tree.leaves(results[0])[0])
    for result in results[1:]:
        np.testing.assert_allclose(np.asarray(jax.tree.leaves(result)[0]), first, rtol=1e-4)
    times = [[] for _ in calls]
    for round_ in range(repeats):
        for k in range(len(calls)):
            i = (k + round_) % len(calls)
            f, args = calls[i]
            begin = time.perf_counter()
            jax.block_until_ready(f(*args))
            times[i].append(time.perf_counter() - begin)
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
            x_nhwc, y_nhwc = (jnp.transpose(a, (0, 2, 3, 1)) for a in (x, y))
            nhwc_s, nchw_s, conv_s = time_variants(
                [(jax.jit(wrap(slice_losses_nhwc)), (x_nhwc, y_nhwc)),
                 (jax.jit(wrap(slice_losses_nchw)), (x, y)),
                 (jax.jit(wrap(conv_losses)), (x, y))], args.repeats)
            print(f"{mode:>14}  batch {batch:2d}x3x256x256: slices NHWC {nhwc_s * 1e3:8.3f} ms  "
                  f"NCHW {nchw_s * 1e3:8.3f} ms  conv {conv_s * 1e3:8.3f} ms  "
                  f"NHWC / NCHW {nhwc_s / nchw_s:5.2f}x  conv / NHWC {conv_s / nhwc_s:5.2f}x")


if __name__ == "__main__":
    main()
