"""The ``nectargan-jax`` command (also ``python -m nectargan_jax``).

Subcommands:
  train          train pix2pix (the default when no subcommand is given)
  plot-log       a ``loss_log.json`` -> a PNG of each loss and its weight over time
  plot-schedule  a schedule -> a PNG of its curve
  convert        an experiment's weights to the reference's PyTorch files, or back
  test           a trained generator on the test split: images and log.json
  export         a trained generator as an ONNX file (--onnx)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
from pathlib import Path
import sys

from nectargan_jax._cpu_memory import keep_freed_memory
from nectargan_jax._xla_flags import SWITCH
from nectargan_jax._xla_flags import apply_cpu_flags
from nectargan_jax.train._compile_cache import ENV as CACHE_ENV
from nectargan_jax.train._compile_cache import default_cache_dir
from nectargan_jax.train._disk_full import disk_full_errno
from nectargan_jax.train._distributed import DEFAULT_HEARTBEAT_TIMEOUT, DEFAULT_INIT_TIMEOUT

_USER_ERRORS = (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError,
                NotADirectoryError, PermissionError, OverflowError, ConnectionError,
                ImportError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nectargan-jax",
        description="pix2pix in Flax NNX with scheduled, recorded losses. Without a "
                    "subcommand: train on the embedded default (a procedural paired task).")
    commands = parser.add_subparsers(dest="command")

    train = commands.add_parser(
        "train", help="train pix2pix",
        description="Train pix2pix. Without a config file: the reference's default config, "
                    "or with no --dataroot either, the embedded default (a small model on "
                    "procedurally generated pairs, a few minutes on a CPU).")
    train.add_argument("config", nargs="?", help="a config file {\"config\": {...}} in the "
                                                  "reference's format")
    train.add_argument("--epochs", type=int, help="epochs the run ends after (default: "
                                                  "learning_rate.epochs + epochs_decay)")
    train.add_argument("--dataroot", help="paired images in DATAROOT/train (and /val)")
    train.add_argument("--output-dir", help="where experiment folders go")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--devices", type=int, default=1,
                       help="local devices to shard the batch over (data parallel)")
    train.add_argument("--steps-per-dispatch", type=int, default=1,
                       help="steps per compiled call (lax.scan)")
    train.add_argument("--conv-impl", metavar="{auto,xla,cpu}",
                       help="how the models convolve (train.generator.conv_impl): 'xla' with "
                            "lax's convolutions, 'cpu' with forms XLA's CPU backend runs "
                            "faster, 'auto' 'cpu' on a CPU backend, else 'xla' (default: the "
                            "config's, else 'auto')")
    train.add_argument("--synthetic-pairs", type=int,
                       help="pairs per epoch of the embedded task (no dataroot)")
    train.add_argument("--resume", action="store_true",
                       help="continue the newest experiment folder from its newest checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--compile-cache", metavar="DIR",
                       help="keep compiled functions in DIR, so a second start or a resume "
                            "of the same config does not compile again (default: "
                            f"{default_cache_dir()} or ${CACHE_ENV}; 'off' turns it off)")
    train.add_argument("--tensorboard", metavar="DIR",
                       help="write TensorBoard event files (losses, weights, learning rates, "
                            "example images) to DIR (visualizer.tensorboard)")
    several = train.add_argument_group(
        "several processes", "train over the devices of several processes or hosts (JAX's "
        "multi-controller runtime): start the same command once per process, each with the "
        "three flags. Without them, a SLURM step or Open MPI job of several tasks (or a TPU "
        "pod) is joined as JAX detects it.")
    several.add_argument("--coordinator", metavar="HOST:PORT",
                         help="process 0's host and a free port, the same in every process")
    several.add_argument("--num-processes", type=int, metavar="N", help="processes in the run")
    several.add_argument("--process-id", type=int, metavar="I",
                         help="this process's index, 0 to N-1 (0 writes the files)")
    several.add_argument("--init-timeout", type=int, default=DEFAULT_INIT_TIMEOUT,
                         metavar="SECONDS", help="how long to wait for every process to join "
                         f"(default {DEFAULT_INIT_TIMEOUT})")
    several.add_argument("--heartbeat-timeout", type=int, default=DEFAULT_HEARTBEAT_TIMEOUT,
                         metavar="SECONDS", help="how soon the others stop after a process "
                         f"dies (default {DEFAULT_HEARTBEAT_TIMEOUT})")
    train.add_argument("--no-xla-cpu-flags", action="store_true",
                       help="leave XLA_FLAGS and the C allocator as they are (by "
                            "default, run as a program on a CPU, the command adds XLA CPU "
                            "flags that speed up convolutions and keeps freed memory for "
                            f"the next step; also {SWITCH}=0)")

    plot_log = commands.add_parser("plot-log", help="plot a loss_log.json")
    plot_log.add_argument("log", help="a loss_log.json")
    plot_log.add_argument("-o", "--output", help="the PNG (default: loss_graphs.png beside "
                                                 "the log)")
    plot_log.add_argument("--steps-per-epoch", type=int,
                          help="label the x axis in epochs")

    plot_schedule = commands.add_parser("plot-schedule", help="plot a schedule's curve")
    plot_schedule.add_argument("--kind", default="linear",
                               help="a registered schedule kind (linear, exponential, ...)")
    plot_schedule.add_argument("--start-epoch", type=float, default=0.0)
    plot_schedule.add_argument("--end-epoch", type=float, default=100.0)
    plot_schedule.add_argument("--initial", type=float, default=1.0)
    plot_schedule.add_argument("--target", type=float, default=0.0)
    plot_schedule.add_argument("--epochs", type=int,
                               help="last epoch drawn (default: end epoch + 10%%)")
    plot_schedule.add_argument("-o", "--output", default="schedule.png", help="the PNG")

    convert = commands.add_parser(
        "convert", help="weights to the reference's PyTorch files, or back",
        description="Convert the generator's and discriminator's weights of one epoch: "
                    "--to torch writes the reference's epoch<e>_net<G|D>.pth.tar from this "
                    "project's checkpoint; --to jax writes epoch<e>_net<G|D>.msgpack from "
                    "the reference's files (needs torch).")
    convert.add_argument("experiment", help="the experiment folder")
    convert.add_argument("--to", required=True, choices=("torch", "jax"))
    _add_trained_arguments(convert)
    convert.add_argument("--output", help="the folder to write to (default: the experiment)")

    test = commands.add_parser(
        "test", help="run a trained generator on the test split",
        description="Run the generator of one epoch on DATAROOT/test, as the reference's "
                    "tester: input, target and output images and a log.json of per-image "
                    "L1, SOBEL and LAPLACIAN, plus PSNR and SSIM, in EXPERIMENT/test/test_<NN>.")
    test.add_argument("experiment", help="the experiment folder")
    _add_trained_arguments(test)
    test.add_argument("-d", "--dataroot", help="the dataset (default: the config's)")
    test.add_argument("-i", "--count", type=int,
                      help="test a random sample of this many pairs (default: all, in order)")
    test.add_argument("--seed", type=int, default=0, help="the sample's seed")

    export = commands.add_parser(
        "export", help="export a trained generator (--onnx)",
        description="Write the generator of one epoch as an ONNX model (NCHW float32 in "
                    "[-1, 1], input 'input', output 'output'), as the reference's converter.")
    export.add_argument("experiment", help="the experiment folder")
    export.add_argument("--onnx", action="store_true", help="as ONNX (the only format)")
    _add_trained_arguments(export)
    export.add_argument("-o", "--output", help="the file (default: EXPERIMENT/epoch<e>.onnx)")
    return parser


def _add_trained_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that pick a trained experiment's config and epoch."""
    parser.add_argument("-l", "--load-epoch", type=int,
                        help="the checkpoint's epoch (default: the config's "
                             "train.load.load_epoch, as the reference)")
    parser.add_argument("-f", "--config", help="the config (default: the experiment's newest "
                                               "train<k>_config.json)")


def _train(args: argparse.Namespace) -> None:
    from nectargan_jax.train._distributed import joined, launch_from

    for flag in ("init_timeout", "heartbeat_timeout"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1 second, got "
                             f"{getattr(args, flag)}.")
    launch = launch_from(args.coordinator, args.num_processes, args.process_id, os.environ)
    with joined(launch, init_timeout=args.init_timeout,
                heartbeat_timeout=args.heartbeat_timeout):
        _train_joined(args)


def _train_joined(args: argparse.Namespace) -> None:
    from nectargan_jax.train._compile_cache import cache_dir, enable_compile_cache
    from nectargan_jax.train._config import embedded_default_overrides, load_config
    from nectargan_jax.train._loop import SYNTHETIC_PAIRS, train

    overrides: dict = {}
    if args.config is None and not args.dataroot:
        overrides.update(embedded_default_overrides())
    flags = {"dataloader.dataroot": args.dataroot,
             "common.output_directory": args.output_dir,
             "dataloader.batch_size": args.batch_size,
             "visualizer.tensorboard": args.tensorboard,
             "train.generator.conv_impl": args.conv_impl}
    overrides.update({key: value for key, value in flags.items() if value is not None})
    config = load_config(args.config, overrides)
    directory = cache_dir(args.compile_cache)
    steps = None
    if directory is not None:
        # JAX keeps every compiled function in the folder; the training step's whole
        # executable is also kept in its 'steps' folder (loaded without tracing).
        steps = enable_compile_cache(directory) / "steps"
    train(config, epochs=args.epochs, resume=args.resume, devices=args.devices,
          steps_per_dispatch=args.steps_per_dispatch, seed=args.seed,
          synthetic_pairs=SYNTHETIC_PAIRS if args.synthetic_pairs is None
          else args.synthetic_pairs,
          progress=not args.no_progress, compile_cache=steps)


def _plot_log(args: argparse.Namespace) -> None:
    from nectargan_jax.train._plots import plot_loss_log

    output = args.output or Path(args.log).with_name("loss_graphs.png")
    print(f"wrote {plot_loss_log(args.log, output, args.steps_per_epoch)}")


def _plot_schedule(args: argparse.Namespace) -> None:
    from nectargan_jax import Schedule
    from nectargan_jax.train._plots import plot_schedules

    schedule = Schedule(args.kind, args.start_epoch, args.end_epoch, args.initial,
                        args.target)
    epochs = args.epochs if args.epochs is not None else \
        max(1, int(round(args.end_epoch * 1.1)))
    label = (f"{args.kind} {args.initial:g} -> {args.target:g} over epochs "
             f"[{args.start_epoch:g}, {args.end_epoch:g}]")
    print(f"wrote {plot_schedules({label: schedule}, epochs, args.output)}")


def _convert(args: argparse.Namespace) -> None:
    from nectargan_jax.train._convert import convert_experiment

    for path in convert_experiment(args.experiment, to=args.to, load_epoch=args.load_epoch,
                                   config_file=args.config, output=args.output):
        print(f"wrote {path}")


def _test(args: argparse.Namespace) -> None:
    from nectargan_jax.train._tester import run_test

    run = run_test(args.experiment, load_epoch=args.load_epoch, config_file=args.config,
                   dataroot=args.dataroot, count=args.count, seed=args.seed)
    means = {key: sum(r[group][key] for r in run.results) / len(run.results)
             for group, key in (("losses", "L1"), ("metrics", "PSNR"))}
    print(f"tested {len(run.results)} pairs: mean L1 {means['L1']:.4f}, mean PSNR "
          f"{means['PSNR']:.2f} dB; images and log.json in {run.output_dir}")


def _export(args: argparse.Namespace) -> None:
    from nectargan_jax.train._export import export_onnx

    if not args.onnx:
        raise ValueError("export needs a format: --onnx (the only one).")
    path = export_onnx(args.experiment, load_epoch=args.load_epoch, config_file=args.config,
                       output=args.output)
    print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (2 for bad input, with a message,
    and for a full disk: one line, e.g. naming the checkpoint that could not be written).

    Run as a program (``argv`` None: the ``nectargan-jax`` script, ``python -m
    nectargan_jax``), ``train`` first adds ``nectargan_jax._xla_flags.CPU_FLAGS`` to
    ``XLA_FLAGS`` (options the user set are kept) and, when JAX computes on the CPU, sets
    the C allocator to keep freed memory (``nectargan_jax._cpu_memory``);
    ``--no-xla-cpu-flags`` or ``NECTARGAN_JAX_XLA_CPU_FLAGS=0`` turns both off. Called
    with ``argv`` from a Python process, whose JAX backend may already run, it leaves the
    environment and the allocator alone.
    """
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if args.command is None:
        args = parser.parse_args(["train"])
    if argv is None and args.command == "train" and not args.no_xla_cpu_flags:
        apply_cpu_flags()
        keep_freed_memory()
    run = {"train": _train, "plot-log": _plot_log, "plot-schedule": _plot_schedule,
           "convert": _convert, "test": _test, "export": _export}
    try:
        run[args.command](args)
    except (*_USER_ERRORS, OSError) as error:
        if isinstance(error, OSError) and not isinstance(error, _USER_ERRORS) \
                and disk_full_errno(error) is None:
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"nectargan-jax {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0
