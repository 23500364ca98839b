"""Per-call overhead of interop's ``LossManager.compute_loss_xy`` over the bare module.

Times ``torch.nn.L1Loss`` called directly and through ``compute_loss_xy`` (unscheduled,
and with a linear weight schedule whose values come from the JAX core, memoised per
epoch) on a 1x3x256x256 pair and a 1x3x8x8 pair; the prediction requires grad, as in
training. The variants are called in turn, one call each per round, so that load from
other processes hits them alike; the table shows each variant's median per-call time,
its overhead over the bare module in microseconds and the ratio, all from this one run.
The target is an overhead below 50 us per call (the reference's costs about 100 us).

Run: ``python benchmarks/bench_interop.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch

from interop import LossManager, Schedule

ROUNDS = {"1x3x256x256": 3000, "1x3x8x8": 20000}
EPOCH = 150


def bench_shape(shape: tuple[int, ...], rounds: int, experiment_dir: str) -> dict[str, float]:
    """Median per-call microseconds of each variant for inputs of ``shape``."""
    torch.manual_seed(0)
    x, y = torch.rand(shape, requires_grad=True), torch.rand(shape)
    l1 = torch.nn.L1Loss()
    manager = LossManager(None, experiment_dir, history_buffer_size=10**9)
    manager.register_loss_fn("plain", l1, loss_weight=100.0)
    manager.register_loss_fn(
        "scheduled", l1,
        schedule=Schedule(start_epoch=100, end_epoch=200, initial_value=100.0, target_value=0.0))
    variants = {
        "torch L1Loss": lambda: l1(x, y),
        "compute_loss_xy, unscheduled": lambda: manager.compute_loss_xy("plain", x, y, EPOCH),
        "compute_loss_xy, scheduled": lambda: manager.compute_loss_xy("scheduled", x, y, EPOCH),
    }
    for fn in variants.values():  # warm-up: the first scheduled call evaluates the core
        fn()
    samples: dict[str, list[int]] = {name: [] for name in variants}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, fn in variants.items():
            start = clock()
            fn()
            samples[name].append(clock() - start)
    return {name: statistics.median(t) / 1e3 for name, t in samples.items()}


def main() -> None:
    """Runs the benchmark and prints one table per input shape."""
    with tempfile.TemporaryDirectory() as experiment_dir:
        for label, rounds in ROUNDS.items():
            shape = tuple(int(n) for n in label.split("x"))
            medians = bench_shape(shape, rounds, experiment_dir)
            base = medians["torch L1Loss"]
            print(f"L1Loss on {label} (median of {rounds} interleaved calls per variant)")
            print(f"  {'variant':<30} {'us/call':>9} {'overhead us':>12} {'ratio':>7}")
            for name, us in medians.items():
                print(f"  {name:<30} {us:>9.1f} {us - base:>12.1f} {us / base:>7.2f}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          "target: overhead < 50 us per call")


if __name__ == "__main__":
    main()
