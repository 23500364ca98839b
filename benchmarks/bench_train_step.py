"""One full pix2pix training step (D then G), this trainer against plain PyTorch.

The default config's models (U-Net: features 64, n_downs 6, BatchNorm, dropout in three
up blocks; PatchGAN: n_layers 3, 64..512 channels), 256x256 RGB pairs, Adam with the
config's beta1, and the 7 losses of the pix2pix 'extended' spec with the config's
weights (G_GAN, G_L1, G_L2, G_SOBEL, G_LAP; D_real, D_fake; D's objective halved):

(j) this trainer's jitted step (``nectargan_jax.train._step``: one generator forward,
    the LossManager weighting and recording every loss on the device, state donated),
    with XLA's default flags;
(k) (j) with the XLA CPU flags the ``nectargan-jax train`` command adds
    (``nectargan_jax._xla_flags``: convolutions off YNNPACK), as that command runs it;
(t) the same architecture and losses in plain PyTorch, eager (one generator forward,
    D update on the detached output, then G update; Sobel/Laplacian from ``interop``);
(c) (t) with both models under ``torch.compile`` (skipped with the reason printed when
    it does not work here, or with ``--no-compile``).

Every timed step gets a batch of its own (made before timing, already on the device).
Each variant is timed in its own group (torch's OpenMP threads spin after each op and
would slow a JAX call that followed); (j) and (k) each in a child process, as XLA reads
its flags once per process. Prints median seconds per step and the ratios t/j, t/k, c/j
and c/k from one run. Runs unchanged on a GPU.

    python benchmarks/bench_train_step.py [--batches 1 16] [--steps 5 2] [--no-compile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

import interop
from nectargan_jax._xla_flags import SWITCH, apply_cpu_flags
from nectargan_jax.train import load_config, loss_weights
from nectargan_jax.train._step import build_training

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from torch_pix2pix import TorchPatchGAN, TorchUnet  # noqa: E402  (the tests' PyTorch twin)

WARMUP = 1


def make_batches(batch, count, size, seed):
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32)
                  for _ in range(2)) for _ in range(count)]


def time_steps(step, batches, sync):
    """Seconds of each step after ``WARMUP`` untimed ones; ``sync`` waits for the result."""
    times = []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        sync(step(batch))
        if i >= WARMUP:
            times.append(time.perf_counter() - t0)
    return times


def jax_variant(config, batches):
    fns, state = build_training(config, steps_per_epoch=1000, capacity=len(batches) + 1)
    device_batches = [tuple(jnp.asarray(a) for a in b) for b in batches]
    holder = {"state": state}

    def step(batch):
        holder["state"] = fns.step(holder["state"], batch)
        return holder["state"]

    return time_steps(step, device_batches, jax.block_until_ready)


def jax_in_child(args, batch, steps, train_flags):
    """Seconds per step of ``jax_variant`` in a fresh process: with XLA's default flags, or
    (``train_flags``) with those ``nectargan-jax train`` adds to ``XLA_FLAGS``."""
    env = {k: v for k, v in os.environ.items() if k != SWITCH}
    if train_flags:
        apply_cpu_flags(env)
    else:
        env[SWITCH] = "0"
    command = [sys.executable, os.path.abspath(__file__), "--jax-child", "--batches", str(batch),
               "--steps", str(steps), "--size", str(args.size)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


class TorchTrainer:
    """The pix2pix step in plain PyTorch: one G forward, D update, then G update."""

    def __init__(self, config, device, compiled):
        gen, disc = config["train"]["generator"], config["train"]["discriminator"]
        self.weights = loss_weights(config)
        self.g = TorchUnet(3, 3, gen["features"], gen["n_downs"]).to(device)
        self.d = TorchPatchGAN(6, disc["n_layers"], disc["base_channels"],
                               disc["max_channels"]).to(device)
        lr = config["train"]["generator"]["learning_rate"]["initial"]
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr,
                                      betas=(gen["optimizer"]["beta1"], 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr,
                                      betas=(disc["optimizer"]["beta1"], 0.999))
        self.sobel, self.lap = interop.Sobel().to(device), interop.Laplacian().to(device)
        self.g_fn = torch.compile(self.g) if compiled else self.g
        self.d_fn = torch.compile(self.d) if compiled else self.d

    def step(self, batch):
        x, y = batch
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        w = self.weights
        fake = self.g_fn(x)
        real_logits = self.d_fn(torch.cat([x, y], 1))
        fake_logits = self.d_fn(torch.cat([x, fake.detach()], 1))
        d_loss = 0.5 * (bce(real_logits, torch.ones_like(real_logits))
                        + bce(fake_logits, torch.zeros_like(fake_logits)))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        logits = self.d_fn(torch.cat([x, fake], 1))
        g_loss = (w["lambda_gan"] * bce(logits, torch.ones_like(logits))
                  + w["lambda_l1"] * (fake - y).abs().mean()
                  + w["lambda_l2"] * ((fake - y) ** 2).mean()
                  + w["lambda_sobel"] * self.sobel(fake, y)
                  + w["lambda_laplacian"] * self.lap(fake, y))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        return g_loss


def torch_variant(config, batches, device, compiled):
    trainer = TorchTrainer(config, device, compiled)
    device_batches = [tuple(torch.from_numpy(a.transpose(0, 3, 1, 2).copy()).to(device)
                            for a in b) for b in batches]
    sync = (lambda r: torch.cuda.synchronize()) if device == "cuda" else (lambda r: r)
    return time_steps(trainer.step, device_batches, sync)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 2],
                        help="timed steps per batch size (after one warm-up step)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--jax-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if len(args.steps) != len(args.batches):
        parser.error("give one --steps value per --batches value")
    config = load_config(overrides={"dataloader.load.crop_size": args.size,
                                    "dataloader.load.load_size": args.size})
    if args.jax_child:
        data = make_batches(args.batches[0], WARMUP + args.steps[0], args.size,
                            seed=args.batches[0])
        print(json.dumps(jax_variant(config, data)))
        return
    device = "cuda" if torch.cuda.is_available() else "cpu"
    flags = {"XLA_FLAGS": os.environ.get("XLA_FLAGS", "")}
    apply_cpu_flags(flags)
    print(f"JAX {jax.__version__}, torch {torch.__version__} on {device} "
          f"({torch.get_num_threads()} threads); {args.size}x{args.size}, default model\n"
          f"(k) runs with XLA_FLAGS={flags['XLA_FLAGS']!r}")
    names = {"j": "(j) nectargan_jax step, XLA defaults", "k": "(k) (j), the train command's flags",
             "t": "(t) PyTorch eager", "c": "(c) PyTorch, torch.compile"}
    for batch, steps in zip(args.batches, args.steps):
        data = make_batches(batch, WARMUP + steps, args.size, seed=batch)
        results = {"j": jax_in_child(args, batch, steps, train_flags=False),
                   "k": jax_in_child(args, batch, steps, train_flags=True),
                   "t": torch_variant(config, data, device, compiled=False)}
        if args.no_compile:
            print("  torch.compile skipped: --no-compile")
        else:
            try:
                results["c"] = torch_variant(config, data, device, compiled=True)
            except Exception as err:  # noqa: BLE001  (any failure: report and go on)
                print(f"  torch.compile skipped: {type(err).__name__}: {err}"[:300])
        medians = {key: statistics.median(t) for key, t in results.items()}
        print(f"batch {batch} ({steps} timed steps each):")
        for key, seconds in medians.items():
            print(f"  {names[key]:<40} {seconds * 1e3:10.1f} ms/step")
        ratios = [f"{a}/{b} = {medians[a] / medians[b]:.2f}" for a in "tc" for b in "jk"
                  if a in medians]
        print("  ratios (>1: JAX faster): " + "   ".join(ratios))


if __name__ == "__main__":
    main()
