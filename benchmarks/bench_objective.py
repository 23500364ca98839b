"""The 7-loss pix2pix 'extended' objective, weighted by schedules, timed several ways.

(a) the LossManager inside one jitted function, recording on, the manager donated
    (``donate_argnums``: its history buffers are updated in place), with the default
    ``overflow='spill'`` (a host callback under ``lax.cond`` in the step);
(a') the same with ``overflow='error'`` (no callback in the step);
(b) a hand-written jitted jnp function computing the same weighted sum, no manager;
(c) plain PyTorch computing the same sum;
(d) the interop LossManager (the reference's PyTorch API and style);
(e) (a) run N steps per dispatch with ``lax.scan``, the epoch carried on the device.

Prints medians and the ratios a/b, a'/b', a/c, a/d, e/a from one run. Variants are
timed in interleaved rounds by pairs: a with b, a' with b' (b again), and c with d, so
that load from elsewhere on the machine hits both sides of a ratio alike. Runs unchanged
on a GPU (JAX and torch pick their default device).

    python benchmarks/bench_objective.py [--batches 1 16] [--repeats 20] [--scan-steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch

import interop
from nectargan_jax.losses import LossManager, bce_with_logits, l1, laplacian, mse, pix2pix, sobel
from nectargan_jax.scheduling import Schedule

EPOCH = 150.0
CAPACITY = 4096
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


def make_manager(overflow: str = "spill") -> LossManager:
    lambdas = {f"lambda_{k}": Schedule("linear", *SCHEDULED[n]) for k, n in
               [("l1", "G_L1"), ("l2", "G_L2"), ("sobel", "G_SOBEL"),
                ("laplacian", "G_LAP")]}
    return LossManager(capacity=CAPACITY, overflow=overflow).with_spec(
        pix2pix, "extended", layout="NCHW", **lambdas)


def manager_step(lm, fake, real, d_real, d_fake, epoch):
    ones, zeros = jnp.ones_like(d_real), jnp.zeros_like(d_real)
    total, _, lm = lm.compute_many({
        "G_GAN": (d_fake, ones), "G_L1": (fake, real), "G_L2": (fake, real),
        "G_SOBEL": (fake, real), "G_LAP": (fake, real),
        "D_real": (d_real, ones), "D_fake": (d_fake, zeros)}, epoch)
    return total, lm


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


def torch_plain(fake, real, d_real, d_fake, epoch, sobel_t, lap_t):
    """The weighted sum in plain PyTorch (Sobel/Laplacian: interop's torch modules)."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ones, zeros = torch.ones_like(d_real), torch.zeros_like(d_real)
    w = {n: linear_weight(*SCHEDULED[n], epoch) for n in SCHEDULED}
    return (bce(d_fake, ones) + w["G_L1"] * (fake - real).abs().mean()
            + w["G_L2"] * ((fake - real) ** 2).mean() + w["G_SOBEL"] * sobel_t(fake, real)
            + w["G_LAP"] * lap_t(fake, real) + bce(d_real, ones) + bce(d_fake, zeros))


def make_interop_manager(tmp_dir):
    config = {"common": {"device": "cuda" if torch.cuda.is_available() else "cpu"}}
    manager = interop.LossManager(config, tmp_dir)
    manager.init_from_spec(interop.pix2pix, interop.ConfigManager(config).data, "extended")
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
    load from elsewhere on the machine hits every variant alike."""
    for fn, sync in variants.values():
        for _ in range(warmup):
            sync(fn())
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (fn, sync) in variants.items():
            t0 = time.perf_counter()
            sync(fn())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def run(batch, repeats, scan_steps, tmp_dir):
    rng = np.random.default_rng(batch)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in
              [(batch, 3, SIZE, SIZE)] * 2 + [(batch, 1, PATCH, PATCH)] * 2]
    jx = [jnp.asarray(a) for a in arrays]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tx = [torch.from_numpy(a).to(device) for a in arrays]
    epoch = jnp.float32(EPOCH)
    jsync = jax.block_until_ready
    tsync = (lambda r: torch.cuda.synchronize()) if device == "cuda" else (lambda r: r)

    lm = make_manager()
    state = {"lm": lm}
    step_a = jax.jit(manager_step, donate_argnums=0)

    def a():
        total, state["lm"] = step_a(state["lm"], *jx, epoch)
        return total

    state["no_callback"] = make_manager("error")

    def a_no_callback():  # CAPACITY exceeds the calls made, so nothing overflows
        total, state["no_callback"] = step_a(state["no_callback"], *jx, epoch)
        return total

    step_b = jax.jit(hand_written)
    sobel_t, lap_t = interop.Sobel().to(device), interop.Laplacian().to(device)
    im = make_interop_manager(tmp_dir)

    def scan_many(lm, fake, real, d_real, d_fake, epoch):
        def body(carry, i):
            m, e = carry
            scale = 1.0 + 1e-3 * i
            total, m = manager_step(m, fake * scale, real, d_real * scale, d_fake, e)
            return (m, e), total
        (lm, _), totals = jax.lax.scan(body, (lm, epoch), jnp.arange(scan_steps,
                                                                     dtype=jnp.float32))
        return totals, lm

    step_e = jax.jit(scan_many, donate_argnums=0)
    scan_state = {"lm": make_manager()}

    def e():
        totals, scan_state["lm"] = step_e(scan_state["lm"], *jx, epoch)
        return totals

    # JAX and torch variants are timed in separate groups: torch's OpenMP threads spin
    # for a while after each op and would slow whatever JAX call came next.
    with torch.no_grad():
        t = median_times({
            "c": (lambda: torch_plain(*tx, EPOCH, sobel_t, lap_t), tsync),
            "d": (lambda: interop_step(im, *tx, int(EPOCH)), tsync)}, repeats)
    b = (lambda: step_b(*jx, epoch), jsync)
    with_callback = median_times({"a": (a, jsync), "b": b}, repeats)
    without = median_times({"a'": (a_no_callback, jsync), "b": b}, repeats)
    t_a, t_b, t_c, t_d = with_callback["a"], with_callback["b"], t["c"], t["d"]
    t_a2, t_b2 = without["a'"], without["b"]
    t_e = median_times({"e": (e, jsync)}, max(3, repeats // 4))["e"] / scan_steps
    checks = [float(a()), float(step_b(*jx, epoch)),
              float(torch_plain(*tx, EPOCH, sobel_t, lap_t))]
    print(f"batch {batch}: totals a/b/c = {checks[0]:.5f} / {checks[1]:.5f} / {checks[2]:.5f}")
    for label, t in [("(a) LossManager, jitted, recording", t_a),
                     ("(a') the same, overflow='error' (no callback)", t_a2),
                     ("(b) hand-written jnp, jitted (timed beside a)", t_b),
                     ("(b') the same, timed beside a'", t_b2), ("(c) plain PyTorch", t_c),
                     ("(d) interop LossManager (PyTorch)", t_d),
                     (f"(e) LossManager, lax.scan of {scan_steps} steps, per step", t_e)]:
        print(f"  {label:<52} {t * 1e3:9.3f} ms")
    print(f"  ratios: a/b = {t_a / t_b:.3f}   a'/b' = {t_a2 / t_b2:.3f}   a/c = {t_a / t_c:.3f}"
          f"   a/d = {t_a / t_d:.3f}"
          f"   e/a = {t_e / t_a:.3f}   d/e = {t_d / t_e:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--scan-steps", type=int, default=20)
    args = parser.parse_args()
    import tempfile
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as tmp_dir:
        for batch in args.batches:
            run(batch, args.repeats, args.scan_steps, tmp_dir)


if __name__ == "__main__":
    main()
