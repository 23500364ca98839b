"""Data-parallel scaling over processes on the CPU: 1 process x 2 devices against 2
processes x 2 devices (JAX's multi-controller runtime, gloo collectives).

Each run trains the embedded default (64 px) through ``train`` with the same batch per
device (2 pairs: a global batch of 4 on one process, 8 on two), no examples or
checkpoints, and times its epochs (``on_epoch_end``'s seconds; the first epoch, which
includes the first dispatches, is left out). Prints steps/s and pairs/s of each, their
ratios (2 processes / 1), and the host memory of the data shard each process holds per
global batch: the bytes of the rows it loads (``batches(..., rows=...)``) against the
whole batch's.

A machine with fewer cores than simulated devices shares them between the processes,
so the ratio measures the runtime's overhead there, not a speed-up.

    python benchmarks/bench_processes.py [--epochs 4] [--pairs 64]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

DEVICES = 2
PER_DEVICE = 2


def child(args: argparse.Namespace) -> None:
    """One process of a run: trains, then prints its figures as one JSON line."""
    from nectargan_jax.train._distributed import Launch, joined

    launch = None if args.processes == 1 else Launch(
        f"127.0.0.1:{args.port}", args.processes, args.process_id)
    with joined(launch, init_timeout=600, heartbeat_timeout=600):
        import jax
        import numpy as np

        from nectargan_jax.train import batches, embedded_default_overrides, load_config, train
        from nectargan_jax.train._loop import make_dataset

        batch = PER_DEVICE * DEVICES * args.processes
        config = load_config(overrides={
            **embedded_default_overrides(), "dataloader.batch_size": batch,
            "common.output_directory": args.output, "save.save_model": False,
            "save.save_examples": False})
        seconds: list[float] = []
        train(config, epochs=args.epochs, devices=DEVICES, synthetic_pairs=args.pairs,
              progress=False, echo=lambda _: None,
              on_epoch_end=lambda epoch, state, metrics: seconds.append(metrics["seconds"]))
        share = batch // args.processes
        rows = slice(jax.process_index() * share, (jax.process_index() + 1) * share)
        dataset = make_dataset(config, seed=0, synthetic_pairs=args.pairs)
        x, y = next(batches(dataset, batch, seed=0, epoch=0, rows=rows))
        whole = next(batches(dataset, batch, seed=0, epoch=0))
        print(json.dumps({"process": jax.process_index(), "epoch_seconds": seconds,
                          "steps_per_epoch": args.pairs // batch, "batch": batch,
                          "shard_bytes": int(x.nbytes + y.nbytes),
                          "batch_bytes": int(sum(a.nbytes for a in whole))}), flush=True)
        assert np.array_equal(x, whole[0][rows])


def run(processes: int, args: argparse.Namespace, output: str) -> list[dict]:
    """Starts ``processes`` children (``DEVICES`` CPU devices each); their figures."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}"}
    # Each run trains on `pairs` pairs per process (weak scaling: same steps per epoch).
    children = [subprocess.Popen(
        [sys.executable, __file__, "--child", "--processes", str(processes), "--process-id",
         str(i), "--port", str(port), "--output", os.path.join(output, str(processes)),
         "--epochs", str(args.epochs), "--pairs", str(args.pairs * processes)],
        env=env, stdout=subprocess.PIPE, text=True) for i in range(processes)]
    try:
        outputs = [c.communicate(timeout=3600)[0] for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
    if any(c.returncode for c in children):
        raise SystemExit(f"a run of {processes} processes failed")
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=64, help="pairs per epoch per process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--process-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    figures = {}
    with tempfile.TemporaryDirectory() as output:
        for processes in (1, 2):
            results = run(processes, args, output)
            first = results[0]
            timed = sorted(first["epoch_seconds"][1:])
            seconds = timed[len(timed) // 2]
            figures[processes] = {
                "steps/s": first["steps_per_epoch"] / seconds,
                "pairs/s": first["steps_per_epoch"] * first["batch"] / seconds,
                "batch": first["batch"],
                "shard": [r["shard_bytes"] for r in results],
                "whole": first["batch_bytes"]}
    print(f"embedded default (64 px), {DEVICES} CPU devices per process, {PER_DEVICE} pairs "
          f"per device; median epoch of {args.epochs - 1} after the first")
    print("| processes x devices | global batch | steps/s | pairs/s | data shard per "
          "process / global batch |")
    print("|---|---|---|---|---|")
    for processes, f in figures.items():
        shards = ", ".join(f"{b / 1024:.0f} KiB" for b in f["shard"])
        print(f"| {processes} x {DEVICES} | {f['batch']} | {f['steps/s']:.2f} | "
              f"{f['pairs/s']:.1f} | {shards} / {f['whole'] / 1024:.0f} KiB |")
    one, two = figures[1], figures[2]
    print(f"ratio 2 processes / 1: steps/s {two['steps/s'] / one['steps/s']:.2f}, "
          f"pairs/s {two['pairs/s'] / one['pairs/s']:.2f}")


if __name__ == "__main__":
    main()
