"""pix2pix training as ``nectargan-jax train`` runs it, beside the bare step and PyTorch.

Every variant trains on the same folder of PNG pairs (written here, side by side at
``load_size`` as the reference reads them), the same config and the 7 losses of the
pix2pix 'extended' spec. Per setting:

(cmd)  ``nectargan_jax.train.train`` itself, the command's code path: the epoch loop with
       its prefetch thread, log flushes and one dispatch of the compiled
       ``Pix2PixStep.step`` per step (``--steps-per-dispatch 1``, the command's default). Each epoch's loop is timed
       from outside (epoch-end images, graphs and checkpoints are not in the figure;
       compilation happens before the first epoch and is not either); seconds per step,
       median over the epochs after each run's first.
(scan) (cmd) with ``--steps-per-dispatch 4`` (``Pix2PixStep.steps``, a ``lax.scan``).
(step) the bare compiled ``Pix2PixStep.step`` (``Pix2PixStep.compile``, what (cmd)
       dispatches) on batches already on the device, one ``block_until_ready`` per step.
(t)    a PyTorch eager epoch in the reference trainer's style: the same folder read in
       the loop (the reference's default ``num_workers`` is 0), one G forward, the D
       update, then the G update, every loss through ``interop.LossManager``'s
       ``compute_loss_xy`` (the reference's API: its history on the host); per step,
       median over the epochs after the trainer's first.
(c)    (t) with both models under ``torch.compile``.

Variants run in ``--rounds`` interleaved rounds and each figure is the median of all its
rounds' samples, so that drift on a shared machine hits every variant alike. Prints
seconds per step and the ratios cmd/step (the command's overhead; the target is
<= 1.1), cmd/t and cmd/c (< 1: the command is faster; the target for cmd/t is <= 0.8)
and scan/cmd (the scanned step per step against one step per dispatch), all from this
one run. JAX runs with the XLA CPU flags the command sets (``nectargan_jax._xla_flags``)
and the process with the command's allocator settings (``nectargan_jax._cpu_memory``;
PyTorch runs under them too), both applied before JAX starts. Runs unchanged on a GPU.

    python benchmarks/bench_train_step.py [--settings embedded 128-f16 ...] [--epochs 3]
        [--rounds 2] [--no-compile] [--no-scan]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from nectargan_jax._cpu_memory import keep_freed_memory
from nectargan_jax._xla_flags import apply_cpu_flags

apply_cpu_flags()  # before JAX starts its backend, as the command does
keep_freed_memory()  # the command's allocator settings (PyTorch's variants run under them too)

import jax  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import torch  # noqa: E402

import interop  # noqa: E402
from nectargan_jax.train import TrainConfig, batches, load_config  # noqa: E402
from nectargan_jax.train import _loop  # noqa: E402
from nectargan_jax.train._config import embedded_default_overrides  # noqa: E402
from nectargan_jax.train._step import build_training  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from torch_pix2pix import TorchPatchGAN, TorchUnet  # noqa: E402  (the tests' PyTorch twin)

# 128 px needs n_downs <= 5 (the reference's U-Net takes sides of 2 ** (n_downs + 2)).
_128 = {"dataloader.batch_size": 4, "dataloader.load.load_size": 142,
        "dataloader.load.crop_size": 128, "train.generator.n_downs": 5}
# name -> (config overrides, pairs in the folder: steps per epoch = pairs // batch size)
SETTINGS = {
    "default-b1": ({}, 8),
    "default-b16": ({"dataloader.batch_size": 16}, 32),
    "128-f16": ({**_128, "train.generator.features": 16,
                 "train.discriminator.base_channels": 16,
                 "train.discriminator.max_channels": 128}, 32),
    "128-f64": (_128, 16),
    "embedded": (embedded_default_overrides(), 64),
}
DESCRIPTIONS = {
    "default-b1": "the default config: 256 px, batch 1, 64 features",
    "default-b16": "the default config at batch 16",
    "128-f16": "128 px, batch 4, 16 features, n_downs 5",
    "128-f64": "128 px, batch 4, 64 features, n_downs 5",
    "embedded": "the embedded default: 64 px, batch 4, 16 features, n_downs 3",
}
QUIET = {"save.save_model": False, "save.save_examples": False}


def write_pairs(folder: Path, count: int, load_size: int, seed: int) -> None:
    """``count`` side-by-side PNG pairs of smooth random images in ``folder/train``."""
    rng = np.random.default_rng(seed)
    (folder / "train").mkdir(parents=True)
    coarse = max(4, load_size // 16)
    for i in range(count):
        small = rng.uniform(0, 255, (coarse, 2 * coarse, 3)).astype(np.uint8)
        image = Image.fromarray(small).resize((2 * load_size, load_size), Image.BICUBIC)
        image.save(folder / "train" / f"{i:04d}.png")


@contextlib.contextmanager
def timed_epochs():
    """Times every call of the training loop's per-epoch function while open."""
    seconds: list[float] = []
    real = _loop._run_epoch

    def run_epoch(*args, **kwargs):
        start = time.perf_counter()
        state = real(*args, **kwargs)
        jax.block_until_ready(state)
        seconds.append(time.perf_counter() - start)
        return state

    _loop._run_epoch = run_epoch
    try:
        yield seconds
    finally:
        _loop._run_epoch = real


def command(config: TrainConfig, epochs: int, steps_per_epoch: int, per_dispatch: int
            ) -> list[float]:
    """(cmd) / (scan): seconds per step of each of ``train``'s epochs after its first."""
    with tempfile.TemporaryDirectory() as out, timed_epochs() as seconds:
        _loop.train(config.with_overrides({"common.output_directory": out}),
                    epochs=epochs, steps_per_dispatch=per_dispatch, progress=False,
                    echo=lambda _: None)
    return [s / steps_per_epoch for s in seconds[1:]]


def bare_step(config: TrainConfig, data: list, steps_per_epoch: int) -> list[float]:
    """(step): seconds of each call of the compiled step the command dispatches (all
    but the first)."""
    capacity = min(steps_per_epoch, 512)  # as ``train`` sizes the manager
    fns, state = build_training(config, steps_per_epoch=steps_per_epoch, capacity=capacity)
    device_batches = [tuple(jax.device_put(a) for a in batch) for batch in data]
    step = fns.compile(state, device_batches[0])  # what ``train`` dispatches
    times = []
    for i, batch in enumerate(device_batches):
        if i and i % capacity == 0:
            _, manager = state.manager.drain()
            state = state._replace(manager=manager)
        start = time.perf_counter()
        state = jax.block_until_ready(step(state, batch))
        times.append(time.perf_counter() - start)
    return times[1:]


class ReferenceStyleTrainer:
    """The reference trainer's step in PyTorch: G forward, D update, G update, every loss
    through ``interop.LossManager.compute_loss_xy`` (the reference's host-side history)."""

    def __init__(self, config: TrainConfig, log_dir: str, device: str, compiled: bool):
        gen, disc = config.train.generator, config.train.discriminator
        channels = config.dataloader.load.input_nc
        self.g = TorchUnet(channels, channels, gen.features, gen.n_downs).to(device)
        self.d = TorchPatchGAN(2 * channels, disc.n_layers, disc.base_channels,
                               disc.max_channels).to(device)
        lr = gen.learning_rate.initial
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr,
                                      betas=(gen.optimizer.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr,
                                      betas=(disc.optimizer.beta1, 0.999))
        reference_config = interop.ConfigManager().data
        reference_config.common.device = device
        self.losses = interop.LossManager(reference_config, log_dir)
        self.losses.init_from_spec(interop.pix2pix, reference_config, "extended")
        self.g_fn = torch.compile(self.g) if compiled else self.g
        self.d_fn = torch.compile(self.d) if compiled else self.d
        self.device = device

    def step(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> None:
        loss = self.losses.compute_loss_xy
        fake = self.g_fn(x)
        real_logits = self.d_fn(torch.cat([x, y], 1))
        fake_logits = self.d_fn(torch.cat([x, fake.detach()], 1))
        d_loss = 0.5 * (loss("D_real", real_logits, torch.ones_like(real_logits), epoch)
                        + loss("D_fake", fake_logits, torch.zeros_like(fake_logits), epoch))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        logits = self.d_fn(torch.cat([x, fake], 1))
        g_loss = (loss("G_GAN", logits, torch.ones_like(logits), epoch)
                  + loss("G_L1", fake, y, epoch) + loss("G_L2", fake, y, epoch)
                  + loss("G_SOBEL", fake, y, epoch) + loss("G_LAP", fake, y, epoch))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()

    def epoch(self, dataset, batch_size: int, epoch: int) -> float:
        """Seconds of one epoch, the batches read in the loop."""
        start = time.perf_counter()
        for x, y in batches(dataset, batch_size, seed=0, epoch=epoch):
            self.step(*(torch.from_numpy(a.transpose(0, 3, 1, 2).copy()).to(self.device)
                        for a in (x, y)), epoch + 1)
        if self.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def reference_style(config: TrainConfig, device: str, compiled: bool):
    """(t) / (c): a function of ``epochs`` that runs that many reference-style epochs on
    one trainer (built once, so torch.compile compiles once) and returns seconds per
    step of each; the caller drops the first epoch it ever runs."""
    dataset = _loop.make_dataset(config, seed=0)
    log_dir = tempfile.TemporaryDirectory()  # removed with ``run``
    trainer = ReferenceStyleTrainer(config, log_dir.name, device, compiled)
    batch_size = config.dataloader.batch_size
    steps = len(dataset) // batch_size
    done = []

    def run(epochs: int) -> list[float]:
        seconds = [trainer.epoch(dataset, batch_size, len(done) + e) / steps
                   for e in range(epochs)]
        done.extend(seconds)
        return seconds

    run.log_dir = log_dir
    return run


def run_setting(name: str, args: argparse.Namespace, device: str) -> None:
    overrides, pairs = SETTINGS[name]
    with tempfile.TemporaryDirectory() as data:
        config = load_config(overrides={**overrides, **QUIET, "dataloader.dataroot": data})
        write_pairs(Path(data), pairs, config.dataloader.load.load_size, seed=len(name))
        batch_size = config.dataloader.batch_size
        steps_per_epoch = pairs // batch_size
        dataset = _loop.make_dataset(config, seed=0)
        data_batches = [tuple(a for a in b) for e in range(2)
                        for b in batches(dataset, batch_size, seed=0, epoch=e)]
        print(f"{name}: {DESCRIPTIONS[name]}; {steps_per_epoch} steps per epoch, "
              f"{args.rounds} rounds of {args.epochs} epochs", flush=True)
        torch_runs = {"t": reference_style(config, device, False)}
        if not args.no_compile:
            torch_runs["c"] = reference_style(config, device, True)
        samples: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
            # Variants interleaved by rounds: drift on a shared machine hits all alike.
            samples.setdefault("cmd", []).extend(
                command(config, args.epochs, steps_per_epoch, 1))
            samples.setdefault("step", []).extend(
                bare_step(config, data_batches, steps_per_epoch))
            if not args.no_scan and steps_per_epoch >= 4:
                samples.setdefault("scan", []).extend(
                    command(config, args.epochs, steps_per_epoch, 4))
            for key, run in list(torch_runs.items()):
                try:
                    seconds = run(args.epochs + (round_ == 0))
                except Exception as err:  # noqa: BLE001  (any failure: report and go on)
                    print(f"  torch.compile skipped: {type(err).__name__}: {err}"[:300])
                    del torch_runs[key]
                    continue
                samples.setdefault(key, []).extend(seconds[1:] if round_ == 0 else seconds)
    seconds = {key: statistics.median(values) for key, values in samples.items()}
    names = {"cmd": "(cmd) train(), one step per dispatch", "scan": "(scan) train(), 4 "
             "steps per dispatch", "step": "(step) bare Pix2PixStep.step",
             "t": "(t) PyTorch eager, reference style", "c": "(c) (t) under torch.compile"}
    for key, value in seconds.items():
        print(f"  {names[key]:<42} {value * 1e3:10.1f} ms/step")
    ratios = [f"cmd/step = {seconds['cmd'] / seconds['step']:.2f}",
              f"cmd/t = {seconds['cmd'] / seconds['t']:.2f}"]
    if "c" in seconds:
        ratios.append(f"cmd/c = {seconds['cmd'] / seconds['c']:.2f}")
    if "scan" in seconds:
        ratios.append(f"scan/cmd = {seconds['scan'] / seconds['cmd']:.2f}")
    print("  ratios: " + "   ".join(ratios), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS),
                        default=list(SETTINGS))
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per variant and round (train's first is not timed)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of all variants, interleaved")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--no-scan", action="store_true", help="skip --steps-per-dispatch 4")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is not timed)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}, torch {torch.__version__} "
          f"on {device} ({torch.get_num_threads()} threads); "
          f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    for name in args.settings:
        run_setting(name, args, device)
    print("scan/cmd > 1 means one step per dispatch (the default) is the faster path.\n"
          "Why the scanned step was several times slower on XLA CPU: its convolution-layout\n"
          "pass (ConvCanonicalization) visits only the entry computation, so the gradient\n"
          "convolutions inside the scan's while body kept non-canonical layouts and ran\n"
          "through a generic loop emitter; the models' convolutions now give their\n"
          "gradients as canonical NHWC/HWIO convolutions (conv_nhwc in models/_cpu_conv.py).")


if __name__ == "__main__":
    main()
