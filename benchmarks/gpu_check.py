"""The GPU check: the tests that matter on an accelerator, then one table of speeds.

One command, meant to finish within 8 minutes on one GPU (not yet run on one), that
also runs on a CPU with smaller shapes. It

1. runs a short pytest selection (``GPU_TESTS``: the convolution forms, the models,
   the training step) in a subprocess, with ``JAX_DEFAULT_MATMUL_PRECISION=highest`` so
   that float32 is compared as float32 (a GPU's default may use TF32);
2. measures, for each batch size, on the default device of JAX and of torch:
   - the training step (D then G, the 7 pix2pix 'extended' losses), batches already on
     the device: JAX with ``conv_impl='auto'`` and ``'cpu'`` (``bench_train_step``'s
     ``bare_step``), and the reference-style PyTorch trainer (``bench_train_step``'s
     ``ReferenceStyleTrainer``) eager and under ``torch.compile``;
   - the 7-loss objective per call (``bench_objective``'s variants): the LossManager in
     one jitted call, the same sum written by hand and jitted, and the interop
     LossManager in eager PyTorch (the reference's style: host syncs per loss);
   - steps per second of the training command's own loop with ``--steps-per-dispatch 8``
     (``bench_train_step``'s ``command``: PNG pairs read as the command reads them);
3. prints one table (ms per step or call; steps per second).

Modes: ``full`` (the default config, 256x256, batch 1 and 16; the default on a GPU or
TPU), ``small`` (the embedded default's models at 64x64, batch 1 and 4; the default on a
CPU) and ``tiny`` (16x16 pairs and a 2-level U-Net, batch 1, no ``torch.compile``, one
test: the suite's smoke run). Phases start only while less than ``--budget`` seconds
have passed; those skipped show as "skipped".

    python benchmarks/gpu_check.py [--mode full|small|tiny] [--batches 1 16]
        [--no-tests] [--no-compile] [--budget 360]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time

import bench_train_step as steps  # applies the train command's XLA CPU flags first
from bench_objective import measure as measure_objective
import jax
import numpy as np
import torch

from nectargan_jax.models import select_conv_impl
from nectargan_jax.train import load_config
from nectargan_jax.train._config import embedded_default_overrides
from train_helpers import TINY  # the tests' tiny config (bench_train_step puts tests/ on the path)

ROOT = Path(__file__).resolve().parents[1]
GPU_TESTS = ("tests/test_cpu_conv.py", "tests/test_models.py", "tests/test_conv_impl.py",
             "tests/test_train_step.py")
DISPATCH = 8  # --steps-per-dispatch of the command's row


@dataclasses.dataclass(frozen=True)
class Mode:
    """Shapes and repeats of one mode."""

    description: str
    overrides: dict
    batches: tuple[int, ...]
    objective_size: tuple[int, int]  # image side, logit-map side
    step_repeats: int  # steps per variant; JAX's first and torch's first two untimed
    objective_repeats: int
    dispatches_per_epoch: int
    epochs: int
    tests: tuple[str, ...]
    torch_compile: bool


MODES = {
    "full": Mode("the default config: 256x256, 64 features, n_downs 6", {}, (1, 16),
                 (256, 30), 12, 20, 2, 3, GPU_TESTS, True),
    "small": Mode("the embedded default's models: 64x64, 16 features, n_downs 3",
                  embedded_default_overrides(), (1, 4), (64, 6), 8, 10, 2, 3, GPU_TESTS, True),
    "tiny": Mode("16x16, 4 features, n_downs 2 (a smoke run)", TINY, (1,), (16, 2), 3, 3,
                 1, 2, ("tests/test_models.py::test_conv_impl_selection_by_platform",), False),
}

ROWS = [("jax auto", "train step, JAX conv_impl=auto ({auto})", "ms"),
        ("jax cpu", "train step, JAX conv_impl=cpu", "ms"),
        ("torch", "train step, PyTorch eager (reference style)", "ms"),
        ("compiled", "train step, torch.compile (reference style)", "ms"),
        ("manager", "7-loss objective, LossManager (jit)", "ms"),
        ("hand", "7-loss objective, hand-written (jit)", "ms"),
        ("interop", "7-loss objective, interop LossManager (eager torch)", "ms"),
        ("dispatch", f"train(), --steps-per-dispatch {DISPATCH}", "steps/s")]


class Budget:
    """Seconds since the start; phases run only while within ``limit``."""

    def __init__(self, limit: float):
        self.limit, self.start = limit, time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self) -> bool:
        return self.elapsed() < self.limit


def run_tests(selection: tuple[str, ...]) -> tuple[int, str]:
    """Runs pytest on ``selection``; returns its exit status and summary line."""
    env = {**os.environ, "JAX_DEFAULT_MATMUL_PRECISION": "highest"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", *selection],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines() or ["(no output)"]
    if result.returncode:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
    return result.returncode, lines[-1]


def step_config(mode: Mode, batch: int, **overrides) -> dict:
    return load_config(overrides={**mode.overrides, **steps.QUIET,
                                  "dataloader.batch_size": batch, **overrides})


def random_batches(config: dict, count: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    """``count`` (input, target) NHWC batches in [-1, 1] of the config's shape."""
    load, batch = config["dataloader"]["load"], config["dataloader"]["batch_size"]
    shape = (batch, load["crop_size"], load["crop_size"], load["input_nc"])
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(2))
            for _ in range(count)]


def torch_step(config: dict, data: list, device: str, compiled: bool) -> float:
    """Median seconds of ``ReferenceStyleTrainer.step`` on batches already on the device,
    after two steps (compilation, cuDNN's algorithm search)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    tensors = [tuple(torch.from_numpy(a.transpose(0, 3, 1, 2).copy()).to(device)
                     for a in batch) for batch in data]
    times = []
    with tempfile.TemporaryDirectory() as log_dir:
        trainer = steps.ReferenceStyleTrainer(config, log_dir, device, compiled)
        for x, y in tensors:
            start = time.perf_counter()
            trainer.step(x, y, 1)
            sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def dispatch_rate(mode: Mode, batch: int) -> float:
    """Steps per second of ``train()`` with ``--steps-per-dispatch 8``, after its first
    epoch, on a folder of PNG pairs."""
    with tempfile.TemporaryDirectory() as data:
        config = step_config(mode, batch, **{"dataloader.dataroot": data})
        steps_per_epoch = DISPATCH * mode.dispatches_per_epoch
        steps.write_pairs(Path(data), batch * steps_per_epoch,
                          config["dataloader"]["load"]["load_size"], seed=batch)
        return 1.0 / steps.command(config, mode.epochs, steps_per_epoch, DISPATCH)


def measure(mode: Mode, batch: int, device: str, budget: Budget, args) -> dict[str, float]:
    """Every row's figure for one batch size (rows past the budget are left out)."""
    figures: dict[str, float] = {}

    def phase(key: str, compute) -> None:
        if budget.allows():
            figures[key] = compute()
            unit = [r[2] for r in ROWS if r[0] == key][0]
            value = figures[key] * (1e3 if unit == "ms" else 1.0)
            print(f"  [{budget.elapsed():5.0f} s] batch {batch} {key}: {value:.3f} {unit}",
                  flush=True)

    data = random_batches(step_config(mode, batch), mode.step_repeats, seed=batch)
    for impl in ("auto", "cpu"):
        config = step_config(mode, batch, **{"train.generator.conv_impl": impl})
        phase(f"jax {impl}", lambda: steps.bare_step(config, data, len(data)))
    config = step_config(mode, batch)
    phase("torch", lambda: torch_step(config, data, device, compiled=False))
    if mode.torch_compile and not args.no_compile:
        phase("compiled", lambda: torch_step(config, data, device, compiled=True))

    def objective():
        side, patch = mode.objective_size
        with tempfile.TemporaryDirectory() as log_dir:
            t, _ = measure_objective(batch, mode.objective_repeats, DISPATCH, log_dir,
                                     size=side, patch=patch)
        figures.update(manager=t["a"], hand=t["b"], interop=t["d"])
        return t["a"]

    phase("manager", objective)
    phase("dispatch", lambda: dispatch_rate(mode, batch))
    return figures


def table(columns: dict[int, dict[str, float]], auto: str) -> str:
    """The rows of ``ROWS`` against the batch sizes."""
    lines = [f"  {'':<54}" + "".join(f"{f'batch {b}':>14}" for b in columns)]
    for key, label, unit in ROWS:
        cells = []
        for figures in columns.values():
            if key not in figures:
                cells.append(f"{'skipped':>14}")
            elif unit == "ms":
                cells.append(f"{figures[key] * 1e3:>11.3f} ms")
            else:
                cells.append(f"{figures[key]:>8.1f} steps/s")
        lines.append(f"  {label.format(auto=auto):<54}" + "".join(cells))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=list(MODES),
                        help="default: full on a GPU or TPU, small on a CPU")
    parser.add_argument("--batches", type=int, nargs="+", help="default: the mode's")
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest selection")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--budget", type=float, default=360.0,
                        help="start no phase after this many seconds (default 360)")
    args = parser.parse_args()
    platform = jax.default_backend()
    mode = MODES[args.mode or ("small" if platform == "cpu" else "full")]
    batches = tuple(args.batches or mode.batches)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    budget = Budget(args.budget)
    print(f"gpu_check: jax {jax.__version__} on {platform} ({jax.devices()[0].device_kind}), "
          f"torch {torch.__version__} on {device}; {mode.description}", flush=True)
    status = 0
    if not args.no_tests:
        status, summary = run_tests(mode.tests)
        print(f"  [{budget.elapsed():5.0f} s] tests ({' '.join(mode.tests)}): {summary}",
              flush=True)
    columns = {batch: measure(mode, batch, device, budget, args) for batch in batches}
    print(f"\ngpu_check table ({platform}, {jax.devices()[0].device_kind}; torch on {device}; "
          f"{mode.description}; {budget.elapsed():.0f} s in all)")
    print(table(columns, select_conv_impl("auto", platform)))
    return status


if __name__ == "__main__":
    sys.exit(main())
