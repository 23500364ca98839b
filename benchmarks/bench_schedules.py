"""Vectorised schedule evaluation vs a Python loop of the reference formula.

For each built-in kind (linear, exponential, cosine), 1,000,000 (schedule, epoch) pairs:

- grid: 1,000 schedules, each with its own numbers, times 1,000 epochs, evaluated with
  ``jax.vmap`` over the stacked schedules and over the epochs, in one jitted call (the
  way a sweep or a schedule table is computed);
- distinct: 1,000,000 schedules with one epoch each (every pair reads its own numbers,
  so this one is bound by memory bandwidth);
- loop: the same grid pairs one at a time in plain Python floats, REFERENCE.md's formula
  (what the reference's ``schedule_map`` functions compute per call).

Times are medians of several runs after a warm-up, each ended by ``block_until_ready``.
Prints the times and the ratios loop / vectorised, all measured in this one run.

    python benchmarks/bench_schedules.py [--schedules 1000] [--epochs 1000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from nectargan_jax.scheduling import Schedule

KINDS = ("linear", "exponential", "cosine")
EPSILON = 1e-9


def _clamp(value: float, initial: float, target: float) -> float:
    lowest = max(0.0, min(initial, target))
    highest = max(initial, target)
    return min(highest, max(lowest, value))


def _sample(start: float, end: float, epoch: float) -> float:
    return min(1.0, max(0.0, (epoch - start) / (end - start)))


def reference_linear(start, end, initial, target, epoch):
    return _clamp(initial + _sample(start, end, epoch) * (target - initial), initial, target)


def reference_exponential(start, end, initial, target, epoch):
    if initial == 0 or target == 0:  # allow_zero_weights=True (the default)
        initial, target = max(initial, EPSILON), max(target, EPSILON)
    return _clamp(initial * (target / initial) ** _sample(start, end, epoch), initial, target)


def reference_cosine(start, end, initial, target, epoch):
    eased = 0.5 * (1.0 - math.cos(math.pi * _sample(start, end, epoch)))
    return _clamp(initial + eased * (target - initial), initial, target)


REFERENCE = {"linear": reference_linear, "exponential": reference_exponential,
             "cosine": reference_cosine}


def make_numbers(rng: np.random.Generator, size: int):
    """float32 (start, end, initial, target) for ``size`` schedules."""
    start = rng.integers(0, 100, size).astype(np.float32)
    end = start + rng.integers(1, 200, size).astype(np.float32)
    initial = rng.uniform(0.0, 10.0, size).astype(np.float32)
    target = rng.uniform(0.0, 10.0, size).astype(np.float32)
    target[::97] = 0.0  # some exponentials decay to 0 (the epsilon path)
    return start, end, initial, target


grid = jax.jit(jax.vmap(jax.vmap(lambda s, e: s(e), in_axes=(None, 0)), in_axes=(0, None)))
distinct = jax.jit(jax.vmap(lambda s, e: s(e)))


def median_seconds(fn, *args, repeats: int):
    out = jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - begin)
    return statistics.median(times), np.asarray(out)


def loop(kind: str, numbers, epochs):
    fn = REFERENCE[kind]
    columns = [c.tolist() for c in numbers]
    epoch_list = epochs.tolist()
    begin = time.perf_counter()
    out = [[fn(a, b, i, t, e) for e in epoch_list] for a, b, i, t in zip(*columns)]
    return time.perf_counter() - begin, np.asarray(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n = args.schedules * args.epochs
    rng = np.random.default_rng(0)
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}), "
          f"jax {jax.__version__}; {n:,} pairs per kind")
    print(f"{'kind':<12}{'grid':>11}{'distinct':>11}{'loop':>11}"
          f"{'loop/grid':>12}{'loop/distinct':>15}")
    totals = np.zeros(3)
    for kind in KINDS:
        numbers = make_numbers(rng, args.schedules)
        epochs = rng.uniform(-10.0, 320.0, args.epochs).astype(np.float32)
        t_grid, values = median_seconds(grid, Schedule(kind, *numbers), jnp.asarray(epochs),
                                        repeats=args.repeats)
        many = make_numbers(rng, n)
        many_epochs = rng.uniform(-10.0, 320.0, n).astype(np.float32)
        t_distinct, _ = median_seconds(distinct, Schedule(kind, *many),
                                       jnp.asarray(many_epochs), repeats=args.repeats)
        t_loop, looped = loop(kind, numbers, epochs)
        np.testing.assert_allclose(values, looped, rtol=1e-4, atol=1e-5, err_msg=kind)
        totals += (t_grid, t_distinct, t_loop)
        print(f"{kind:<12}{t_grid * 1e3:>9.2f}ms{t_distinct * 1e3:>9.2f}ms{t_loop:>10.2f}s"
              f"{t_loop / t_grid:>11,.0f}x{t_loop / t_distinct:>14,.0f}x")
    t_grid, t_distinct, t_loop = totals
    print(f"{'all three':<12}{t_grid * 1e3:>9.2f}ms{t_distinct * 1e3:>9.2f}ms{t_loop:>10.2f}s"
          f"{t_loop / t_grid:>11,.0f}x{t_loop / t_distinct:>14,.0f}x   (target >= 1000x)")


if __name__ == "__main__":
    main()
