"""Instance norm: the models' ``InstanceNorm`` against ``nnx.InstanceNorm``.

Times ``jax.value_and_grad`` of ``sum(tanh(norm(x)))`` (forward and gradient, as in a
training step) at the activation shapes of the default U-Net's outer levels (256 px:
128x128x64 and 64x64x128) at batch 1 and 16, and at a bottleneck-like 8x8x512. Both
norms use torch's ``InstanceNorm2d`` defaults. Prints medians and nnx / ours, the
variants alternating in one process.

    python benchmarks/bench_norm.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from nectargan_jax.models._layers import InstanceNorm

SHAPES = ((1, 128, 128, 64), (1, 64, 64, 128), (16, 128, 128, 64), (16, 8, 8, 512))


def gradient_fn(norm):
    return jax.jit(jax.value_and_grad(lambda x: jnp.sum(jnp.tanh(norm(x)))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"JAX {jax.__version__} on {jax.default_backend()}")
    for shape in SHAPES:
        x = jnp.asarray(np.random.default_rng(0).standard_normal(shape, np.float32))
        theirs = nnx.InstanceNorm(shape[-1], epsilon=1e-5, use_scale=False, use_bias=False,
                                  use_fast_variance=False, rngs=nnx.Rngs(0))
        fns = {"ours": gradient_fn(InstanceNorm()), "nnx": gradient_fn(theirs)}
        times = {name: [] for name in fns}
        for fn in fns.values():
            jax.block_until_ready(fn(x))
        for _ in range(args.repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                jax.block_until_ready(fn(x))
                times[name].append(time.perf_counter() - start)
        ours, nnx_ = (statistics.median(times[k]) * 1e3 for k in ("ours", "nnx"))
        print(f"  {str(shape):20s} ours {ours:8.2f} ms   nnx {nnx_:8.2f} ms   "
              f"nnx/ours = {nnx_ / ours:.2f}")


if __name__ == "__main__":
    main()
