"""The cost of the GAN health checks: the 7-loss pix2pix objective with and without them.

Two LossManagers built from the same 'extended' spec, one with
``HealthChecks(collapse=('D_real', 'D_fake'))`` (collapse, non-finite and clamped checks
all on), timed side by side:
(a) per call: one jitted, donated ``compute_many`` per step;
(b) many steps per dispatch: the manager as a ``lax.scan`` carry over N steps, a
    different batch at every step (stacked on a leading axis, so XLA hoists nothing).

Prints the medians and the ratios on/off. The two variants run in interleaved rounds,
so that load from elsewhere on the machine hits both sides of a ratio alike.

    python benchmarks/bench_health.py [--batches 1 16] [--size 64] [--repeats 20] [--scan-steps 16]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp

from nectargan_jax import LossManager
from nectargan_jax.health import HealthChecks
from nectargan_jax.losses import pix2pix
from nectargan_jax.scheduling import Schedule


def make_manager(capacity: int, health: HealthChecks | None) -> LossManager:
    return LossManager(capacity=capacity, health=health).with_spec(
        pix2pix, "extended", lambda_l1=Schedule("linear", 100, 200, 100.0, 0.0),
        lambda_sobel=5.0, lambda_laplacian=5.0, lambda_l2=10.0)


def objective(lm, batch, epoch):
    fake, real, d_real, d_fake = batch
    ones, zeros = jnp.ones_like(d_real), jnp.zeros_like(d_real)
    out, lm = lm.compute_many({
        "G_GAN": (d_fake, ones), "G_L1": (fake, real), "G_L2": (fake, real),
        "G_SOBEL": (fake, real), "G_LAP": (fake, real),
        "D_real": (d_real, ones), "D_fake": (d_fake, zeros)}, epoch)
    return out.total, lm


@functools.partial(jax.jit, donate_argnums=0)
def per_call(lm, batch, epoch):
    total, lm = objective(lm, batch, epoch)
    return lm, total


@functools.partial(jax.jit, donate_argnums=0)
def scanned(lm, batches, epoch):
    def body(lm, batch):
        total, lm = objective(lm, batch, epoch)
        return lm, total

    return jax.lax.scan(body, lm, batches)


def batches(key, steps: int, batch: int, size: int):
    """``steps`` different (fake, real, D(real), D(fake)) tuples, NHWC."""
    keys = jax.random.split(key, 4)
    image = (steps, batch, size, size, 3)
    patch = (steps, batch, size // 8, size // 8, 1)
    return (jax.random.uniform(keys[0], image), jax.random.uniform(keys[1], image),
            jax.random.normal(keys[2], patch), jax.random.normal(keys[3], patch))


def timed(fn, lm, data, epoch, calls: int):
    """Seconds for ``calls`` dispatches (the manager threaded through, donated)."""
    start = time.perf_counter()
    for k in range(calls):
        lm, out = fn(lm, jax.tree.map(lambda a: a[k], data), epoch)
    jax.block_until_ready(out)
    return time.perf_counter() - start, lm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--scan-steps", type=int, default=16)
    parser.add_argument("--calls", type=int, default=16)
    args = parser.parse_args()
    health = HealthChecks(collapse=("D_real", "D_fake"))
    epoch = jnp.float32(150.0)
    print(f"{jax.devices()[0].platform}, {args.size}x{args.size} images, medians of "
          f"{args.repeats} rounds")
    for batch in args.batches:
        n = args.scan_steps
        per_step = batches(jax.random.key(batch), args.calls, batch, args.size)
        chunks = batches(jax.random.key(batch + 1), args.calls * n, batch, args.size)
        chunks = jax.tree.map(lambda a: a.reshape(args.calls, n, *a.shape[1:]), chunks)
        managers = {name: make_manager(args.calls * (n + 1), h) for name, h in
                    (("off", None), ("on", health))}
        times = {(kind, name): [] for kind in ("call", "scan") for name in managers}
        for round_ in range(args.repeats + 1):  # round 0 compiles
            for name in managers:
                for kind, fn, data in (("call", per_call, per_step),
                                       ("scan", scanned, chunks)):
                    seconds, managers[name] = timed(fn, managers[name], data, epoch,
                                                    args.calls)
                    if round_:
                        times[kind, name].append(seconds / args.calls)
                managers[name] = managers[name].drain()[1].drain_health()[1]
        med = {key: statistics.median(values) for key, values in times.items()}
        call = {name: med["call", name] * 1e6 for name in managers}
        scan = {name: med["scan", name] / n * 1e6 for name in managers}
        print(f"batch {batch}: per call off {call['off']:.0f} us, on {call['on']:.0f} us, "
              f"on/off {call['on'] / call['off']:.3f}; scan of {n} steps, per step off "
              f"{scan['off']:.0f} us, on {scan['on']:.0f} us, on/off "
              f"{scan['on'] / scan['off']:.3f}")


if __name__ == "__main__":
    main()
