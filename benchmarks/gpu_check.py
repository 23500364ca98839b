"""The GPU check: the tests that matter on an accelerator, then one table of speeds.

One command, meant to finish within 8 minutes on one GPU (not yet run on one), that
also runs on a CPU with smaller shapes. It

1. runs a short pytest selection (``GPU_TESTS``: the convolution forms, the models,
   the training step) in a subprocess, with ``JAX_DEFAULT_MATMUL_PRECISION=highest`` so
   that float32 is compared as float32 (a GPU's default may use TF32), within
   ``Mode.tests_timeout`` seconds;
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

Most of the time goes to compiling (XLA's, cuDNN's autotuning, torch.compile's), so
every figure is a median of few calls, and the phases run in ``PHASES``' order (the
most wanted first), each for every batch size. A phase starts only while less than
``--budget`` seconds have passed (its cells then read "skipped"); a phase that fails
reads "failed", prints its error and makes the exit status 1.

Modes: ``full`` (the default config, 256x256, batch 1 and 16; the default on a GPU or
TPU), ``small`` (the embedded default's models at 64x64, batch 1 and 4; the default on a
CPU) and ``tiny`` (16x16 pairs and a 2-level U-Net, batch 1, one test, without
``torch.compile`` and the command's loop: the test suite's smoke run).

    python benchmarks/gpu_check.py [--mode full|small|tiny] [--batches 1 16]
        [--no-tests] [--no-compile] [--budget 300]
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

# JAX and torch share the device: JAX takes memory as it needs it, not 75% at its start.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import bench_train_step as steps  # noqa: E402  (applies the train command's XLA CPU flags)
from bench_objective import measure as measure_objective  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from nectargan_jax.models import select_conv_impl  # noqa: E402
from nectargan_jax.train import TrainConfig, load_config  # noqa: E402
from nectargan_jax.train._config import embedded_default_overrides  # noqa: E402
from train_helpers import TINY  # noqa: E402  (bench_train_step puts tests/ on the path)

ROOT = Path(__file__).resolve().parents[1]
# The tests whose numbers depend on the backend: each convolution form against PyTorch
# (on its CPU), the two forms' models and training steps against each other, the step
# against a hand computation and its scan against single steps.
GPU_TESTS = tuple(f"tests/{name}" for name in (
    "test_cpu_conv.py",
    "test_models.py::test_transposed_convolutions_match_flax_conv_transpose",
    "test_models.py::test_reflect_conv_matches_pytorch_every_way_it_is_computed",
    "test_models.py::test_strided_shortcut_matches_pytorch",
    "test_models.py::test_both_forms_compute_the_same_model_from_the_same_weights",
    "test_conv_impl.py::test_one_training_step_is_the_same_in_both_forms",
    "test_train_step.py::test_first_step_losses_and_updates_match_a_hand_computation",
    "test_train_step.py::test_scan_equals_single_steps_and_follows_the_schedules",
    "test_train_step.py::test_a_step_makes_no_host_transfer"))
DISPATCH = 8  # --steps-per-dispatch of the command's row

# key -> (label, unit), in the table's order.
ROWS = {"jax auto": ("train step, JAX conv_impl=auto ({auto})", "ms"),
        "jax cpu": ("train step, JAX conv_impl=cpu", "ms"),
        "torch": ("train step, PyTorch eager (reference style)", "ms"),
        "compiled": ("train step, torch.compile (reference style)", "ms"),
        "manager": ("7-loss objective, LossManager (jit)", "ms"),
        "hand": ("7-loss objective, hand-written (jit)", "ms"),
        "interop": ("7-loss objective, interop LossManager (eager torch)", "ms"),
        "dispatch": (f"train(), --steps-per-dispatch {DISPATCH}", "steps/s")}
# The order phases run in, the most wanted first ("objective" fills three rows).
PHASES = ("jax auto", "torch", "objective", "jax cpu", "compiled", "dispatch")


@dataclasses.dataclass(frozen=True)
class Mode:
    """Shapes, repeats and phases of one mode."""

    description: str
    overrides: dict
    batches: tuple[int, ...]
    objective_size: tuple[int, int]  # image side, logit-map side
    step_repeats: int  # steps per variant; JAX's first and torch's first two untimed
    objective_repeats: int
    dispatches_per_epoch: int
    epochs: int
    tests: tuple[str, ...]
    tests_timeout: float
    phases: tuple[str, ...] = PHASES


MODES = {
    "full": Mode("the default config: 256x256, 64 features, n_downs 6", {}, (1, 16),
                 (256, 30), 8, 10, 2, 3, GPU_TESTS, 150.0),
    "small": Mode("the embedded default's models: 64x64, 16 features, n_downs 3",
                  embedded_default_overrides(), (1, 4), (64, 6), 8, 10, 2, 3, GPU_TESTS,
                  600.0),
    "tiny": Mode("16x16, 4 features, n_downs 2 (a smoke run)", TINY, (1,), (16, 2), 3, 3,
                 1, 2, ("tests/test_models.py::test_conv_impl_selection_by_platform",),
                 120.0, ("jax auto", "torch", "objective", "jax cpu")),
}


class Budget:
    """Seconds since the start; phases run only while within ``limit``."""

    def __init__(self, limit: float):
        self.limit, self.start = limit, time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self) -> bool:
        return self.elapsed() < self.limit


def run_tests(selection: tuple[str, ...], timeout: float) -> tuple[int, str]:
    """Runs pytest on ``selection``; returns its exit status and summary line."""
    env = {**os.environ, "JAX_DEFAULT_MATMUL_PRECISION": "highest"}
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", *selection],
                                cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        return 1, f"stopped after {timeout:.0f} s (--no-tests skips them)"
    lines = result.stdout.strip().splitlines() or ["(no output)"]
    if result.returncode:
        print(result.stdout[-4000:], result.stderr[-2000:], sep="\n", file=sys.stderr)
    return result.returncode, lines[-1]


def step_config(mode: Mode, batch: int, **overrides) -> TrainConfig:
    return load_config(overrides={**mode.overrides, **steps.QUIET,
                                  "dataloader.batch_size": batch, **overrides})


def random_batches(config: TrainConfig, count: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    """``count`` (input, target) NHWC batches in [-1, 1] of the config's shape."""
    load, batch = config.dataloader.load, config.dataloader.batch_size
    shape = (batch, load.crop_size, load.crop_size, load.input_nc)
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(-1, 1, shape).astype(np.float32) for _ in range(2))
            for _ in range(count)]


def torch_step(config: TrainConfig, data: list, device: str, compiled: bool) -> float:
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


def objective(mode: Mode, batch: int) -> dict[str, float]:
    """Seconds per call of the LossManager, the hand-written sum and interop's manager."""
    side, patch = mode.objective_size
    with tempfile.TemporaryDirectory() as log_dir:
        t, _ = measure_objective(batch, mode.objective_repeats, DISPATCH, log_dir,
                                 size=side, patch=patch)
    return {"manager": t["a"], "hand": t["b"], "interop": t["d"]}


def dispatch_rate(mode: Mode, batch: int) -> float:
    """Steps per second of ``train()`` with ``--steps-per-dispatch 8``, after its first
    epoch, on a folder of PNG pairs."""
    with tempfile.TemporaryDirectory() as data:
        config = step_config(mode, batch, **{"dataloader.dataroot": data})
        steps_per_epoch = DISPATCH * mode.dispatches_per_epoch
        steps.write_pairs(Path(data), batch * steps_per_epoch,
                          config.dataloader.load.load_size, seed=batch)
        return 1.0 / statistics.median(
            steps.command(config, mode.epochs, steps_per_epoch, DISPATCH))


def phase_figures(phase: str, mode: Mode, batch: int, device: str) -> dict[str, float]:
    """The figures of one phase at one batch size, by row key."""
    if phase == "objective":
        return objective(mode, batch)
    if phase == "dispatch":
        return {phase: dispatch_rate(mode, batch)}
    data = random_batches(step_config(mode, batch), mode.step_repeats, seed=batch)
    if phase.startswith("jax "):
        config = step_config(mode, batch, **{"train.generator.conv_impl": phase[4:]})
        return {phase: statistics.median(steps.bare_step(config, data, len(data)))}
    return {phase: torch_step(step_config(mode, batch), data, device,
                              compiled=phase == "compiled")}


def measure(mode: Mode, batches: tuple[int, ...], phases: tuple[str, ...], device: str,
            budget: Budget) -> tuple[dict[int, dict[str, float | str]], int]:
    """Every phase at every batch size while the budget lasts: the figures (or
    ``'failed'``) by batch size and row key, and 1 if a phase failed, else 0."""
    columns: dict[int, dict[str, float | str]] = {batch: {} for batch in batches}
    status = 0
    for phase in phases:
        for batch in batches:
            if not budget.allows():
                continue
            try:
                figures = phase_figures(phase, mode, batch, device)
            except Exception as err:  # noqa: BLE001  (report it, go on with the next)
                status = 1
                keys = ("manager", "hand", "interop") if phase == "objective" else (phase,)
                figures = dict.fromkeys(keys, "failed")
                print(f"  batch {batch} {phase} failed: {type(err).__name__}: {err}"[:500],
                      file=sys.stderr, flush=True)
            columns[batch].update(figures)
            shown = ", ".join(f"{key} {cell(value, ROWS[key][1]).strip()}"
                              for key, value in figures.items())
            print(f"  [{budget.elapsed():5.0f} s] batch {batch}: {shown}", flush=True)
    return columns, status


def cell(value: float | str | None, unit: str) -> str:
    """One table cell: a figure in its unit, 'failed' or 'skipped' (None)."""
    if value is None:
        return f"{'skipped':>14}"
    if isinstance(value, str):
        return f"{value:>14}"
    if unit == "ms":
        return f"{value * 1e3:>11.3f} ms"
    return f"{value:>8.1f} steps/s"


def table(columns: dict[int, dict[str, float | str]], auto: str) -> str:
    """The rows of ``ROWS`` against the batch sizes."""
    lines = [f"  {'':<54}" + "".join(f"{f'batch {b}':>14}" for b in columns)]
    for key, (label, unit) in ROWS.items():
        lines.append(f"  {label.format(auto=auto):<54}"
                     + "".join(cell(figures.get(key), unit) for figures in columns.values()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=list(MODES),
                        help="default: full on a GPU or TPU, small on a CPU")
    parser.add_argument("--batches", type=int, nargs="+", help="default: the mode's")
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest selection")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--budget", type=float, default=300.0,
                        help="start no phase after this many seconds (default 300)")
    args = parser.parse_args()
    platform = jax.default_backend()
    mode = MODES[args.mode or ("small" if platform == "cpu" else "full")]
    batches = tuple(args.batches or mode.batches)
    phases = tuple(p for p in mode.phases if not (args.no_compile and p == "compiled"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    budget = Budget(args.budget)
    kind = jax.devices()[0].device_kind
    print(f"gpu_check: jax {jax.__version__} on {platform} ({kind}), torch "
          f"{torch.__version__} on {device}; {mode.description}", flush=True)
    status = 0
    if not args.no_tests:
        status, summary = run_tests(mode.tests, mode.tests_timeout)
        print(f"  [{budget.elapsed():5.0f} s] tests ({' '.join(mode.tests)}): {summary}",
              flush=True)
    columns, failed = measure(mode, batches, phases, device, budget)
    print(f"\ngpu_check table ({platform}, {kind}; torch on {device}; {mode.description}; "
          f"{budget.elapsed():.0f} s in all)")
    print(table(columns, select_conv_impl("auto", platform)))
    return status or failed


if __name__ == "__main__":
    sys.exit(main())
