"""The cost of each weight rule in one pix2pix training step, relative to fixed weights.

One step of this trainer (``nectargan_jax.train._step``: D update, then G update, one
generator forward, the LossManager weighting and recording every loss, state donated)
on a small model: the embedded default's (U-Net with 16 features and 3 downsamplings,
3-layer PatchGAN with 16-64 channels), 64x64 RGB, batch 4, and all five G losses on
(lambda_gan 1, lambda_l1 100, lambda_l2 / lambda_sobel / lambda_laplacian 10). Variants:

  fixed               the lambdas alone
  adaptive            train.loss.adaptive_gan_weight (taming's recipe, start_step 0):
                      two pull-backs to the last layer, NLL and G_GAN
  uncertainty         train.loss.uncertainty_weighting over the 5 G losses (its Adam)
  dwa, softadapt,     group rules over the 5 G losses (``LossManager.with_rule``)
  relobralo
  grad_norm_balance,  group rules over the 5 G losses reading each unweighted loss's
  gradnorm            gradient at the generator's last layer (5 pull-backs)

Every variant is compiled first; then the variants take turns, one step each, each
step on a batch of its own (made on the device before timing). Prints the median
milliseconds per step and the ratio to ``fixed`` from one run; about 3 minutes on this
project's shared 2-core CPU, most of it compiling the 8 variants. Runs unchanged on a GPU.

    python benchmarks/bench_rules.py [--steps 30] [--size 64] [--batch 4] [--variants ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

from nectargan_jax.train import embedded_default_overrides, load_config
from nectargan_jax.train._config_loss import G_LOSSES
from nectargan_jax.train._step import build_training
from nectargan_jax.weighting import dwa, grad_norm_balance, gradnorm, relobralo, softadapt

ALL_G_LOSSES = {"train.loss.lambda_l2": 10.0, "train.loss.lambda_sobel": 10.0,
                "train.loss.lambda_laplacian": 10.0}
CONFIG_RULES = {
    "fixed": {},
    "adaptive": {"train.loss.adaptive_gan_weight": {"scale": 0.8}},
    "uncertainty": {"train.loss.uncertainty_weighting": {"losses": list(G_LOSSES)}},
}
GROUP_RULES = {"dwa": dwa, "softadapt": softadapt, "relobralo": relobralo}
GRADIENT_RULES = {"grad_norm_balance": grad_norm_balance, "gradnorm": gradnorm}


def build(name, size, batch, steps):
    """The step functions and initial state of variant ``name``."""
    overrides = {**embedded_default_overrides(), **ALL_G_LOSSES,
                 "dataloader.load.load_size": size, "dataloader.load.crop_size": size,
                 "dataloader.batch_size": batch, **CONFIG_RULES.get(name, {})}
    fns, state = build_training(load_config(overrides=overrides), steps_per_epoch=10,
                                capacity=steps + 2)
    rule = {**GROUP_RULES, **GRADIENT_RULES}.get(name)
    if rule is not None:
        state = state._replace(manager=state.manager.with_rule(rule(), G_LOSSES))
    return fns, state


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per variant")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    every = [*CONFIG_RULES, *GROUP_RULES, *GRADIENT_RULES]
    parser.add_argument("--variants", nargs="+", choices=every, default=every,
                        help="variants to run ('fixed' is always run)")
    args = parser.parse_args()
    names = ["fixed"] + [name for name in args.variants if name != "fixed"]
    rng = np.random.default_rng(0)
    shape = (args.batch, args.size, args.size, 3)
    runs = {}
    t0 = time.perf_counter()
    for name in names:
        fns, state = build(name, args.size, args.batch, args.steps)
        warmup = jax.device_put(tuple(rng.uniform(-1, 1, shape).astype(np.float32)
                                      for _ in range(2)))
        runs[name] = [fns, jax.block_until_ready(fns.step(state, warmup)), []]
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}; {args.size}x{args.size}, "
          f"batch {args.batch}, the embedded default's model, 5 G losses; {len(names)} variants "
          f"built and compiled in {time.perf_counter() - t0:.0f} s")
    batches = [jax.device_put(tuple(rng.uniform(-1, 1, shape).astype(np.float32)
                                    for _ in range(2))) for _ in range(args.steps * len(names))]
    jax.block_until_ready(batches)
    for i in range(args.steps):
        for k, name in enumerate(names):
            fns, state, times = runs[name]
            start = time.perf_counter()
            state = jax.block_until_ready(fns.step(state, batches[i * len(names) + k]))
            times.append(time.perf_counter() - start)
            runs[name][1] = state
    medians = {name: statistics.median(run[2]) for name, run in runs.items()}
    print(f"median of {args.steps} steps each (variants interleaved):")
    for name, seconds in medians.items():
        print(f"  {name:<18} {seconds * 1e3:8.2f} ms/step   x{seconds / medians['fixed']:.2f} "
              "of fixed")


if __name__ == "__main__":
    main()
