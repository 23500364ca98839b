"""The models' layers in both convolution forms, forward pass and both gradients, timed.

Each layer of the default config's models at 256x256 (a selection covering every way the
CPU forms compute) is built with ``conv_impl='xla'`` (``lax``'s convolutions) and with
``conv_impl='cpu'`` (``nectargan_jax.models._cpu_conv``), holding the same weights; one
jitted call computes the forward pass and the gradients with respect to the input and
the parameters (a vjp of a fixed cotangent). The two forms' results are checked to agree
first. On a CPU the U-Net's output layer is also timed with its kernel taps sliced out
of one product instead of split (``tap_responses``' reason), its transposed
convolutions from 8x8 to 64x64 pixels with their four output-pixel parities computed by
four convolutions and by one (``PARITIES_AS_ONE``' reason), and stride-1 convolutions
of the models' sizes (the PatchGAN's 4x4 one, the 2x2 ones the U-Net's strided and
transposed convolutions become) as one convolution and by Winograd's F(3x3, 4x4) or
F(3x3, 2x2) (``WINOGRAD_PIXELS``' and ``WINOGRAD_WIDTH``' reason; "taken" marks those
``conv_method`` gives to it).

Every timed call gets inputs of its own (made before timing), the forms alternating;
prints median milliseconds and xla / cpu (> 1: the CPU forms are faster) from this one
run, on whatever backend JAX runs. On a CPU it applies the XLA flags of the
``nectargan-jax train`` command first (``--xla-defaults`` leaves XLA_FLAGS alone).

    python benchmarks/bench_layers.py [--batch 1] [--repeats 7] [--xla-defaults]
        [--sections forms taps parities winograd]
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
from nectargan_jax.models._cpu_conv import conv_method, conv_nhwc, conv_winograd, interleave
from nectargan_jax.models._cpu_conv import parities_as_four, parities_as_one
from nectargan_jax.models._layers import ReflectConv, StridedConv1x1, TransposedConv4x4
from nectargan_jax.models._layers import ZeroInterleave1x1

# (label, make(conv_impl, rngs), input side, input channels): layers of the default
# models (U-Net: features 64, n_downs 6; PatchGAN: 3 layers, 64-512 channels); "s2^T" is
# a stride-2 transposed convolution.
LAYERS = [
    ("U-Net initial_down 4x4 s2 3->64 at 256", lambda i, r: ReflectConv(
        3, 64, 4, 2, 1, use_bias=True, rngs=r, conv_impl=i), 256, 3),
    ("U-Net downs[0] 4x4 s2 64->128 at 128", lambda i, r: ReflectConv(
        64, 128, 4, 2, 1, use_bias=False, rngs=r, conv_impl=i), 128, 64),
    ("U-Net downs[2] 4x4 s2 256->512 at 32", lambda i, r: ReflectConv(
        256, 512, 4, 2, 1, use_bias=False, rngs=r, conv_impl=i), 32, 256),
    ("U-Net downs[4] 4x4 s2 512->512 at 8", lambda i, r: ReflectConv(
        512, 512, 4, 2, 1, use_bias=False, rngs=r, conv_impl=i), 8, 512),
    ("U-Net ups[3] 4x4 s2^T 1024->512 at 8", lambda i, r: TransposedConv4x4(
        1024, 512, use_bias=False, rngs=r, conv_impl=i), 8, 1024),
    ("U-Net ups[6] 4x4 s2^T 256->64 at 64", lambda i, r: TransposedConv4x4(
        256, 64, use_bias=False, rngs=r, conv_impl=i), 64, 256),
    ("U-Net final_up 4x4 s2^T 128->3 at 128", lambda i, r: TransposedConv4x4(
        128, 3, use_bias=True, rngs=r, conv_impl=i), 128, 128),
    ("residual downs[0] 1x1 s2 64->128 at 128", lambda i, r: StridedConv1x1(
        64, 128, rngs=r, conv_impl=i), 128, 64),
    ("residual ups[6] 1x1 s2^T 256->64 at 64", lambda i, r: ZeroInterleave1x1(
        256, 64, rngs=r, conv_impl=i), 64, 256),
    ("PatchGAN first 4x4 s2 6->64 at 256", lambda i, r: ReflectConv(
        6, 64, 4, 2, 1, use_bias=True, rngs=r, torch_init=True, conv_impl=i), 256, 6),
    ("PatchGAN blocks[1] 4x4 s1 128->256 at 64", lambda i, r: ReflectConv(
        128, 256, 4, 1, 1, use_bias=False, rngs=r, torch_init=True, conv_impl=i), 64, 128),
    ("PatchGAN last 4x4 s1 256->1 at 63", lambda i, r: ReflectConv(
        256, 1, 4, 1, 1, use_bias=True, rngs=r, torch_init=True, conv_impl=i), 63, 256),
]


def transposed_sliced(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The 4x4 stride-2 transposed convolution with its taps sliced out of one product
    (what ``tap_responses`` splits instead)."""
    n, h, w, c = x.shape
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    z = jnp.einsum("nhwc,cq->nhwq", padded, kernel.transpose(2, 0, 1, 3).reshape(c, -1))
    z = z.reshape(*padded.shape[:3], 4, 4, kernel.shape[-1])
    return interleave([[sum(z[:, ry + ty:ry + ty + h, rx + tx:rx + tx + w, ry + 2 * ty,
                               rx + 2 * tx] for ty in (0, 1) for tx in (0, 1))
                        for rx in (0, 1)] for ry in (0, 1)])


# U-Net up-sampling layers (features 64, n_downs 8): (input side, in, out channels).
UP_LAYERS = [(8, 1024, 512), (16, 1024, 256), (32, 512, 128), (64, 256, 64)]


# Stride-1 convolutions: (input side, kernel side, in, out channels). 4x4: the PatchGAN's
# stride-1 block (256 and 128 px pairs, n_layers 3 and 4). 2x2: at 256 px, the U-Net's
# strided convolutions over 2x2 pixel blocks (down 64 -> 128 at 128 px, as the PatchGAN's
# second layer; 128 -> 256 at 64; 256 -> 512 at 32) and its transposed ones' four
# parities as one (up 256 -> 64 at 64 px, 512 -> 128 at 32, 1024 -> 256 at 16).
STRIDE_1_LAYERS = [(66, 4, 128, 256), (34, 4, 128, 256), (34, 4, 256, 512), (18, 4, 256, 512),
                   (65, 2, 256, 128), (33, 2, 512, 256), (17, 2, 1024, 512),
                   (66, 2, 256, 256), (34, 2, 512, 512), (18, 2, 1024, 1024)]
SECTIONS = ["forms", "taps", "parities", "winograd"]


def transposed_parities(parities):
    """The 4x4 stride-2 transposed convolution (no bias) with its parities computed by
    ``parities`` (``parities_as_four`` or ``parities_as_one``)."""
    def apply(x, params):
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        return interleave(parities(padded, params["kernel"][...]))
    return apply


def forward_and_gradients(apply) -> callable:
    """``(x, params, cotangent) -> (y, dx, dparams)`` of ``apply(x, params)``, jitted."""
    def run(x, params, cotangent):
        y, pull_back = jax.vjp(apply, x, params)
        return (y, *pull_back(cotangent))
    return jax.jit(run)


def forms(make, batch: int, side: int, channels: int):
    """``({form: fn}, params, input shape, output shape)`` of one layer, each form's
    ``fn`` taking ``(x, params, cotangent)``."""
    graphdefs = {}
    for impl in ("xla", "cpu"):
        graphdefs[impl], params = nnx.split(make(impl, nnx.Rngs(0)))
    x_shape = (batch, side, side, channels)
    y_shape = jax.eval_shape(lambda x, p: nnx.merge(graphdefs["cpu"], p)(x),
                             jax.ShapeDtypeStruct(x_shape, jnp.float32), params).shape
    fns = {impl: forward_and_gradients(lambda x, p, g=g: nnx.merge(g, p)(x))
           for impl, g in graphdefs.items()}
    return fns, params, x_shape, y_shape


def median_ms(fns: dict, params, x_shape, y_shape, repeats: int, rng) -> dict[str, float]:
    """Median milliseconds per call of each form, after checking that they agree."""
    inputs = [(jnp.asarray(rng.standard_normal(x_shape, np.float32)), params,
               jnp.asarray(rng.standard_normal(y_shape, np.float32)))
              for _ in range(repeats + 1)]
    results = {key: fn(*inputs[0]) for key, fn in fns.items()}
    first, *others = results.values()
    for other in others:
        for got, want in zip(jax.tree.leaves(other), jax.tree.leaves(first)):
            scale = float(jnp.abs(want).max()) or 1.0
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * scale)
    times = {key: [] for key in fns}
    for args in inputs[1:]:
        for key, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(t) * 1e3 for key, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--xla-defaults", action="store_true")
    parser.add_argument("--sections", nargs="+", default=SECTIONS, choices=SECTIONS,
                        help="forms: every layer in both forms; on a CPU also taps: the "
                        "output layer's taps sliced or split; parities: four or one "
                        "convolution; winograd: stride-1 4x4 and 2x2 layers direct or by Winograd")
    args = parser.parse_args()
    if not args.xla_defaults:
        apply_cpu_flags()  # before the backend starts: XLA reads XLA_FLAGS once
    platform = jax.default_backend()
    flags = "XLA defaults" if args.xla_defaults or platform != "cpu" else \
        "the train command's XLA CPU flags"
    print(f"jax {jax.__version__} on {platform} ({jax.devices()[0].device_kind}), "
          f"batch {args.batch}, {flags}")
    rng = np.random.default_rng(0)
    if "forms" in args.sections:
        print(f"  {'layer':<44} {'xla ms':>8} {'cpu ms':>8}  xla / cpu")
        for label, make, side, channels in LAYERS:
            fns, params, x_shape, y_shape = forms(make, args.batch, side, channels)
            ms = median_ms(fns, params, x_shape, y_shape, args.repeats, rng)
            print(f"  {label:<44} {ms['xla']:8.2f} {ms['cpu']:8.2f}  "
                  f"{ms['xla'] / ms['cpu']:9.2f}", flush=True)
    if platform != "cpu":
        return
    if "taps" in args.sections:
        [(label, make, side, channels)] = [case for case in LAYERS if "final_up" in case[0]]
        fns, params, x_shape, y_shape = forms(make, args.batch, side, channels)
        fns = {"sliced": forward_and_gradients(
            lambda x, p: transposed_sliced(x, p["kernel"][...])
            + p["bias"][...].reshape(1, 1, 1, -1)),
               "split": fns["cpu"]}
        ms = median_ms(fns, params, x_shape, y_shape, args.repeats, rng)
        print(f"  {label}, cpu form with its taps sliced: {ms['sliced']:.2f} ms, split: "
              f"{ms['split']:.2f} ms, sliced / split {ms['sliced'] / ms['split']:.2f}")
    if "parities" in args.sections:
        for side, inputs, outputs in UP_LAYERS:
            def make(impl, rngs, c=(inputs, outputs)):
                return TransposedConv4x4(*c, use_bias=False, rngs=rngs, conv_impl=impl)

            _, params, x_shape, y_shape = forms(make, args.batch, side, inputs)
            fns = {name: forward_and_gradients(transposed_parities(parities))
                   for name, parities in (("four", parities_as_four), ("one", parities_as_one))}
            ms = median_ms(fns, params, x_shape, y_shape, args.repeats, rng)
            print(f"  4x4 s2^T {inputs}->{outputs} at {side}, parities as four convolutions: "
                  f"{ms['four']:.2f} ms, as one: {ms['one']:.2f} ms, four / one "
                  f"{ms['four'] / ms['one']:.2f}", flush=True)
    if "winograd" in args.sections:
        for side, k, inputs, outputs in STRIDE_1_LAYERS:
            kernel = jnp.asarray(rng.standard_normal((k, k, inputs, outputs), np.float32)
                                 / np.sqrt(k * k * inputs))
            fns = {"direct": forward_and_gradients(lambda x, p: conv_nhwc(x, p["kernel"], 1)),
                   "winograd": forward_and_gradients(lambda x, p: conv_winograd(x, p["kernel"]))}
            ms = median_ms(fns, {"kernel": kernel}, (args.batch, side, side, inputs),
                           (args.batch, side - k + 1, side - k + 1, outputs), args.repeats, rng)
            taken = conv_method((args.batch, side, side, inputs), kernel.shape, 1) == "winograd"
            print(f"  {k}x{k} s1 {inputs}->{outputs} on {side}x{side}, direct: "
                  f"{ms['direct']:.2f} ms, Winograd: {ms['winograd']:.2f} ms, direct / "
                  f"Winograd {ms['direct'] / ms['winograd']:.2f}"
                  f"{' (taken)' if taken else ''}", flush=True)


if __name__ == "__main__":
    main()
