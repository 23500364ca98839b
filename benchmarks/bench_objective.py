"""The 7-loss pix2pix 'extended' objective, weighted by schedules, timed several ways.

Per call (one dispatch per step, the same inputs every call):
(a) the LossManager inside one jitted function, recording, the manager donated
    (``donate_argnums``: its history is updated in place), default settings;
(b) a hand-written jitted jnp function computing the same weighted sum, no manager;
(c) plain PyTorch computing the same sum;
(d) the interop LossManager (the reference's PyTorch API and style);
(g) (b) that also takes a manager and hands it back unchanged, donated: what carrying
    the manager's state through a call costs, without anything it computes.
Many steps per dispatch (``lax.scan`` over N steps, a different batch at every step,
stacked on a leading axis, so XLA cannot hoist any work out of the loop):
(e) the LossManager as the scan carry, the epoch on the device;
(f) the same weighted sum written by hand in the scan body.

Prints medians and the ratios a/b, g/b, e/f, e/a, a/c, a/d from one run. Variants are
timed in interleaved rounds by groups (a, b and g; e with f; c with d), so that load from
elsewhere on the machine hits both sides of a ratio alike. Runs unchanged on a GPU (JAX
and torch pick their default device).

    python benchmarks/bench_objective.py [--batches 1 16] [--repeats 60] [--scan-steps 8]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

import interop
from nectargan_jax import LossManager
from nectargan_jax.losses import bce_with_logits, l1, laplacian, mse, pix2pix, sobel
from nectargan_jax.scheduling import Schedule

EPOCH = 150.0
SIZE = 256
PATCH = 30

# (name, (start, end, initial, target)) for the scheduled generator losses.
SCHEDULED = {
    "G_L1": (100, 200, 100.0, 0.0),
    "G_L2": (50, 150, 10.0, 1.0),
    "G_SOBEL": (0, 200, 5.0, 10.0),
    "G_LAP": (0, 200, 0.0, 5.0),
}


def linear_weight(start, end, initial, target, epoch):
    """The linear schedule written out (for the variants without a manager)."""
    p = min(max((epoch - start) / (end - start), 0.0), 1.0)
    return initial + p * (target - initial)


def make_manager(capacity: int) -> LossManager:
    lambdas = {f"lambda_{k}": Schedule("linear", *SCHEDULED[n]) for k, n in
               [("l1", "G_L1"), ("l2", "G_L2"), ("sobel", "G_SOBEL"),
                ("laplacian", "G_LAP")]}
    return LossManager(capacity=capacity).with_spec(pix2pix, "extended", layout="NCHW",
                                                    **lambdas)


def manager_step(lm, fake, real, d_real, d_fake, epoch):
    ones, zeros = jnp.ones_like(d_real), jnp.zeros_like(d_real)
    out, lm = lm.compute_many({
        "G_GAN": (d_fake, ones), "G_L1": (fake, real), "G_L2": (fake, real),
        "G_SOBEL": (fake, real), "G_LAP": (fake, real),
        "D_real": (d_real, ones), "D_fake": (d_fake, zeros)}, epoch)
    return out.total, lm


def hand_written(fake, real, d_real, d_fake, epoch):
    def w(name):
        start, end, initial, target = SCHEDULED[name]
        p = jnp.clip((epoch - start) / (end - start), 0.0, 1.0)
        return initial + p * (target - initial)

    ones, zeros = jnp.ones_like(d_real), jnp.zeros_like(d_real)
    return (bce_with_logits(d_fake, ones) + w("G_L1") * l1(fake, real)
            + w("G_L2") * mse(fake, real) + w("G_SOBEL") * sobel(fake, real, layout="NCHW")
            + w("G_LAP") * laplacian(fake, real, layout="NCHW") + bce_with_logits(d_real, ones)
            + bce_with_logits(d_fake, zeros))


def carried(lm, fake, real, d_real, d_fake, epoch):
    """(g): the hand-written sum, the manager passed through unchanged."""
    return hand_written(fake, real, d_real, d_fake, epoch), lm


def manager_scan(lm, fakes, reals, d_reals, d_fakes, epoch):
    """N steps in one dispatch: step k sees batch k; the epoch is carried on the device."""
    def body(carry, batch):
        m, e = carry
        total, m = manager_step(m, *batch, e)
        return (m, e), total
    (lm, _), totals = jax.lax.scan(body, (lm, epoch), (fakes, reals, d_reals, d_fakes))
    return totals, lm


def hand_scan(fakes, reals, d_reals, d_fakes, epoch):
    """(f): the same N steps with the weighted sum written by hand."""
    def body(e, batch):
        return e, hand_written(*batch, e)
    return jax.lax.scan(body, epoch, (fakes, reals, d_reals, d_fakes))[1]


def torch_plain(fake, real, d_real, d_fake, epoch, sobel_t, lap_t):
    """The weighted sum in plain PyTorch (Sobel/Laplacian: interop's torch modules)."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_real)
    w = {n: linear_weight(*SCHEDULED[n], epoch) for n in SCHEDULED}
    return (bce(d_fake, ones) + w["G_L1"] * (fake - real).abs().mean()
            + w["G_L2"] * ((fake - real) ** 2).mean() + w["G_SOBEL"] * sobel_t(fake, real)
            + w["G_LAP"] * lap_t(fake, real) + bce(d_real, ones) + bce(d_fake, zeros))


def make_interop_manager(tmp_dir):
    config = interop.ConfigManager().data
    config.common.device = "cuda" if torch.cuda.is_available() else "cpu"
    manager = interop.LossManager(config, tmp_dir)
    manager.init_from_spec(interop.pix2pix, config, "extended")
    for name, (start, end, initial, target) in SCHEDULED.items():
        # The reference shifts by -1 (epochs count from 1): +1 gives the same numbers.
        manager.loss_fns[name].schedule = interop.Schedule(
            "linear", start + 1, end + 1, initial, target)
    return manager


def interop_step(manager, fake, real, d_real, d_fake, epoch):
    ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_real)
    c = manager.compute_loss_xy
    return (c("G_GAN", d_fake, ones, epoch) + c("G_L1", fake, real, epoch)
            + c("G_L2", fake, real, epoch) + c("G_SOBEL", fake, real, epoch)
            + c("G_LAP", fake, real, epoch) + c("D_real", d_real, ones, epoch)
            + c("D_fake", d_fake, zeros, epoch))


def median_times(variants, repeats, warmup=3):
    """Median seconds per call of each ``(fn, sync)``, timed in interleaved rounds so that
    load from elsewhere on the machine hits every variant alike. The order rotates from
    round to round: a call runs measurably slower or faster depending on which variant
    ran just before it (XLA's worker threads, caches), and a fixed order turned that
    into a bias of several percent in the ratios."""
    for fn, sync in variants.values():
        for _ in range(warmup):
            sync(fn())
    times = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            fn, sync = variants[name]
            t0 = time.perf_counter()
            sync(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def images(rng, batch, *, leading=(), size=SIZE, patch=PATCH):
    """fake, real (NCHW images) and the two discriminator logit maps, as NumPy."""
    return [rng.standard_normal(leading + s).astype(np.float32) for s in
            [(batch, 3, size, size)] * 2 + [(batch, 1, patch, patch)] * 2]


def measure(batch, repeats, scan_steps, tmp_dir, *, size=SIZE, patch=PATCH):
    """Median seconds per call of (a)-(d) and (g), per step of (e) and (f), as
    ``{'a': ..., ...}``, and the totals of (a), (b) and (c), for images of ``size``
    pixels a side and logit maps of ``patch``."""
    rng = np.random.default_rng(batch)
    arrays = images(rng, batch, size=size, patch=patch)
    jx = [jnp.asarray(a) for a in arrays]
    stacked = [jnp.asarray(a) for a in images(rng, batch, leading=(scan_steps,), size=size,
                                              patch=patch)]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tx = [torch.from_numpy(a).to(device) for a in arrays]
    epoch = jnp.float32(EPOCH)
    jsync = jax.block_until_ready
    tsync = (lambda r: torch.cuda.synchronize()) if device == "cuda" else (lambda r: r)
    # Capacity for every record the run makes: warm-up and timed calls, no drain.
    calls = (repeats + 8) * max(1, scan_steps)

    state = {"a": make_manager(calls), "e": make_manager(calls), "g": make_manager(calls)}
    step_a = jax.jit(manager_step, donate_argnums=0)
    step_b = jax.jit(hand_written)
    step_e = jax.jit(manager_scan, donate_argnums=0)
    step_g = jax.jit(carried, donate_argnums=0)
    step_f = jax.jit(hand_scan)

    def a():
        total, state["a"] = step_a(state["a"], *jx, epoch)
        return total

    def g():
        total, state["g"] = step_g(state["g"], *jx, epoch)
        return total

    def e():
        totals, state["e"] = step_e(state["e"], *stacked, epoch)
        return totals

    sobel_t, lap_t = interop.Sobel().to(device), interop.Laplacian().to(device)
    im = make_interop_manager(tmp_dir)
    # JAX and torch variants are timed in separate groups: torch's OpenMP threads spin
    # for a while after each op and would slow whatever JAX call came next.
    with torch.no_grad():
        t = median_times({
            "c": (lambda: torch_plain(*tx, EPOCH, sobel_t, lap_t), tsync),
            "d": (lambda: interop_step(im, *tx, int(EPOCH)), tsync)}, repeats)
    t.update(median_times({"a": (a, jsync), "b": (lambda: step_b(*jx, epoch), jsync),
                           "g": (g, jsync)}, repeats))
    scans = median_times({"e": (e, jsync), "f": (lambda: step_f(*stacked, epoch), jsync)},
                         max(3, repeats // 2))
    t.update({k: v / scan_steps for k, v in scans.items()})
    checks = [float(a()), float(step_b(*jx, epoch)),
              float(torch_plain(*tx, EPOCH, sobel_t, lap_t))]
    np.testing.assert_allclose(e(), step_f(*stacked, epoch), rtol=1e-4)
    return t, checks


def run(batch, repeats, scan_steps, tmp_dir):
    t, checks = measure(batch, repeats, scan_steps, tmp_dir)
    print(f"batch {batch}: totals a/b/c = {checks[0]:.5f} / {checks[1]:.5f} / {checks[2]:.5f}")
    for key, label in [("a", "(a) LossManager, jitted, per call"),
                       ("b", "(b) hand-written jnp, jitted, per call"),
                       ("c", "(c) plain PyTorch, per call"),
                       ("d", "(d) interop LossManager (PyTorch), per call"),
                       ("g", "(g) (b) carrying a manager through, per call"),
                       ("e", f"(e) LossManager, lax.scan of {scan_steps}, per step"),
                       ("f", f"(f) hand-written, lax.scan of {scan_steps}, per step")]:
        print(f"  {label:<52} {t[key] * 1e3:9.3f} ms")
    print(f"  ratios: a/b = {t['a'] / t['b']:.3f}   g/b = {t['g'] / t['b']:.3f}"
          f"   e/f = {t['e'] / t['f']:.3f}   e/a = {t['e'] / t['a']:.3f}"
          f"   a/c = {t['a'] / t['c']:.3f}   a/d = {t['a'] / t['d']:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--scan-steps", type=int, default=8)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as tmp_dir:
        for batch in args.batches:
            run(batch, args.repeats, args.scan_steps, tmp_dir)


if __name__ == "__main__":
    main()
