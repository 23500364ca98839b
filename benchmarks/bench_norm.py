"""Instance norm: the models' ``InstanceNorm`` in both forms, against ``nnx.InstanceNorm``,
alone and after the convolution it follows in the PatchGAN.

1. Norm alone: ``jax.value_and_grad`` of ``sum(tanh(norm(x)))`` (forward and gradient, as
   in a training step) at the activation shapes of the default U-Net's outer levels
   (256 px: 128x128x64 and 64x64x128) at batch 1 and 16, and at a bottleneck-like
   8x8x512, for ``InstanceNorm('cpu')`` (sums as products with ones), ``InstanceNorm('xla')``
   (plain sums) and ``nnx.InstanceNorm``, all with torch's ``InstanceNorm2d`` defaults.
   Prints medians, nnx / cpu and xla / cpu.
2. After a convolution: the PatchGAN's stride-1 block (4x4 convolution 128 -> 256 in the
   CPU forms, instance norm, LeakyReLU) at 64x64, batch 1 and 16, forward pass and
   gradients, with the norm's sums as products and as plain sums; prints sums / products
   (> 1: the products are faster). XLA:CPU gives a plain sum to YNNPACK together with
   the convolution producing its input; the products keep the convolution in XLA.

The variants alternate in one process. On a CPU the XLA flags of the ``nectargan-jax
train`` command are applied first (``--xla-defaults`` leaves XLA_FLAGS alone).

    python benchmarks/bench_norm.py [--repeats 7] [--xla-defaults]
"""

from __future__ import annotations

import argparse
import statistics
import time

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax._xla_flags import apply_cpu_flags
from nectargan_jax.models._layers import InstanceNorm
from nectargan_jax.models._patchgan import PatchBlock


def median_ms(fns: dict, args: tuple, repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each of ``fns`` on ``args``, alternating."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        jax.block_until_ready(fn(*args))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def norms_alone(repeats: int) -> None:
    print("norm alone, value_and_grad of sum(tanh(norm(x))):")
    for shape in ((1, 128, 128, 64), (1, 64, 64, 128), (16, 128, 128, 64), (16, 8, 8, 512)):
        x = jnp.asarray(np.random.default_rng(0).standard_normal(shape, np.float32))
        theirs = nnx.InstanceNorm(shape[-1], epsilon=1e-5, use_scale=False, use_bias=False,
                                  use_fast_variance=False, rngs=nnx.Rngs(0))
        fns = {name: jax.jit(jax.value_and_grad(lambda v, n=norm: jnp.sum(jnp.tanh(n(v)))))
               for name, norm in (("cpu", InstanceNorm("cpu")), ("xla", InstanceNorm("xla")),
                                  ("nnx", theirs))}
        ms = median_ms(fns, (x,), repeats)
        print(f"  {str(shape):20s} cpu {ms['cpu']:8.2f} ms  xla {ms['xla']:8.2f} ms  "
              f"nnx {ms['nnx']:8.2f} ms  nnx/cpu = {ms['nnx'] / ms['cpu']:.2f}  "
              f"xla/cpu = {ms['xla'] / ms['cpu']:.2f}", flush=True)


def after_a_convolution(repeats: int) -> None:
    print("PatchGAN block (4x4 stride-1 conv 128 -> 256 at 64x64, norm, LeakyReLU), "
          "forward and gradients:")
    for batch in (1, 16):
        x = jnp.asarray(np.random.default_rng(0).standard_normal((batch, 64, 64, 128),
                                                                  np.float32))
        fns, params = {}, None
        for name, norm_impl in (("products", "cpu"), ("sums", "xla")):
            block = PatchBlock(128, 256, 1, norm="instance", rngs=nnx.Rngs(0),
                               conv_impl="cpu")
            block.norm = InstanceNorm(norm_impl)
            graph, params = nnx.split(block)
            fns[name] = jax.jit(jax.value_and_grad(
                lambda p, v, g=graph: jnp.sum(jnp.tanh(nnx.merge(g, p)(v))), argnums=(0, 1)))
        ms = median_ms(fns, (params, x), repeats)
        print(f"  batch {batch:2d}  products {ms['products']:9.2f} ms  sums {ms['sums']:9.2f} ms"
              f"  sums/products = {ms['sums'] / ms['products']:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--xla-defaults", action="store_true")
    args = parser.parse_args()
    if not args.xla_defaults:
        apply_cpu_flags()  # before the backend starts: XLA reads XLA_FLAGS once
    flags = "XLA defaults" if args.xla_defaults else "the train command's XLA CPU flags"
    print(f"JAX {jax.__version__} on {jax.default_backend()}, {flags}")
    norms_alone(args.repeats)
    after_a_convolution(args.repeats)


if __name__ == "__main__":
    main()
