"""The models' convolution forms against the plain ones, forward and both gradients.

For layer shapes of the default config's models at 256x256, one jitted call of the
forward pass and the gradients with respect to the input and the kernel (a vjp of a
fixed cotangent), computed two ways with the same numbers (checked):

- strided: the 4x4 stride-2 convolutions of the U-Net's and the PatchGAN's first layers,
  (x) ``lax.conv_general_dilated`` with stride 2 against (o) ``conv_space_to_depth``;
- deepest: a 4x4 stride-2 512 -> 512 convolution with 4x4 output pixels, (x) XLA's
  convolution against (o) ``conv_as_matmul``;
- output: the U-Net's last layer (4x4 transposed, 128 -> 3 channels, 128 -> 256 pixels),
  (x) its taps sliced out of one product against (o) ``tap_responses``' split, what
  ``TransposedConv4x4`` uses.

Every timed call gets inputs of its own (made before timing), the two forms alternating;
prints median milliseconds and x / o from this one run. Applies the XLA CPU flags of the
``nectargan-jax train`` command first (``--xla-defaults`` leaves XLA_FLAGS alone).

    python benchmarks/bench_layers.py [--batch 1] [--repeats 7] [--xla-defaults]
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
from nectargan_jax.models._layers import TransposedConv4x4, _interleave, conv_as_matmul
from nectargan_jax.models._layers import conv_space_to_depth

# (name, input channels, output channels, input side) of 4x4 stride-2 convolutions.
STRIDED = [("U-Net initial_down", 3, 64, 256), ("U-Net downs[0]", 64, 128, 128),
           ("U-Net downs[1]", 128, 256, 64), ("U-Net downs[2]", 256, 512, 32),
           ("PatchGAN layer 0", 6, 64, 256)]
DEEPEST = ("U-Net downs[4]", 512, 512, 8)
OUTPUT = ("U-Net final_up", 128, 3, 128)


def conv_xla(x, kernel, stride):
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def transposed_sliced(x, kernel):
    """The 4x4 stride-2 transposed convolution with its taps sliced out of one product."""
    n, h, w, c = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    z = jnp.einsum("nhwc,cq->nhwq", padded, kernel.transpose(2, 0, 1, 3).reshape(c, -1))
    z = z.reshape(*padded.shape[:3], 4, 4, kernel.shape[-1])
    return _interleave([[sum(z[:, ry + ty:ry + ty + h, rx + tx:rx + tx + w, ry + 2 * ty,
                                rx + 2 * tx] for ty in (0, 1) for tx in (0, 1))
                         for rx in (0, 1)] for ry in (0, 1)])


def cases():
    """``(label, input shape, kernel shape, output shape, x_fn, o_fn)`` for each layer."""
    def strided(c, o, side, form):
        return ((side + 2, side + 2, c), (4, 4, c, o), (side // 2, side // 2, o), form)

    out = []
    for name, c, o, side in STRIDED:
        out.append((f"strided  {name} {c}->{o} at {side}",
                    *strided(c, o, side, lambda x, k: conv_xla(x, k, 2)),
                    lambda x, k: conv_space_to_depth(x, k, 2)))
    name, c, o, side = DEEPEST
    out.append((f"deepest  {name} {c}->{o} at {side}",
                *strided(c, o, side, lambda x, k: conv_xla(x, k, 2)),
                lambda x, k: conv_as_matmul(x, k, 2)))
    name, c, o, side = OUTPUT
    graph, state = nnx.split(TransposedConv4x4(c, o, use_bias=False, rngs=nnx.Rngs(0)))

    def split(x, kernel):  # the layer itself, holding ``kernel`` (its one parameter)
        return nnx.merge(graph, jax.tree.map(lambda _: kernel, state))(x)

    out.append((f"output   {name} {c}->{o} at {side}", (side, side, c), (4, 4, c, o),
                (2 * side, 2 * side, o), transposed_sliced, split))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--xla-defaults", action="store_true")
    args = parser.parse_args()
    if not args.xla_defaults:
        apply_cpu_flags()  # before the backend starts: XLA reads XLA_FLAGS once
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, batch {args.batch}, "
          f"{'XLA defaults' if args.xla_defaults else 'the train command flags'}")
    rng = np.random.default_rng(0)
    print(f"  {'layer':<46} {'x ms':>8} {'o ms':>8}   x / o")
    for label, x_shape, k_shape, y_shape, x_fn, o_fn in cases():
        inputs = [tuple(jnp.asarray(rng.standard_normal(s, np.float32) * scale)
                        for s, scale in [((args.batch, *x_shape), 1.0), (k_shape, 0.02),
                                         ((args.batch, *y_shape), 1.0)])
                  for _ in range(args.repeats + 1)]
        fns = {key: jax.jit(lambda x, k, w, fn=fn: jax.vjp(fn, x, k)[1](w))
               for key, fn in [("x", x_fn), ("o", o_fn)]}
        for got, want in zip(fns["o"](*inputs[0]), fns["x"](*inputs[0])):
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)
        times = {key: [] for key in fns}
        for args_ in inputs[1:]:
            for key, fn in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(fn(*args_))
                times[key].append(time.perf_counter() - t0)
        x_ms, o_ms = (statistics.median(times[key]) * 1e3 for key in ("x", "o"))
        print(f"  {label:<46} {x_ms:8.1f} {o_ms:8.1f}   {x_ms / o_ms:5.2f}", flush=True)


if __name__ == "__main__":
    main()
