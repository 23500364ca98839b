"""Start-up compile time of ``nectargan-jax train``: a first start, then a second one.

Runs the command twice, each in a fresh process, with a new, empty persistent
compilation cache (``--compile-cache``): the first start compiles and fills it, the
second loads every compiled function from it. Prints, for each start, the seconds the
command reports for "compiling the training step" and the whole command's wall time,
and the ratio second / first of the compile time (the target is < 0.1).

Settings: the embedded default (the README's first command) and the reference's
default config (256 px, batch 1, 64 features) on the embedded synthetic task; one
short epoch each.

    python benchmarks/bench_compile_cache.py [--settings embedded default]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                               "nectargan_jax", "configs", "nectargan_default_config.json")
# name -> the command's arguments after ``train``
SETTINGS = {
    "embedded": ["--synthetic-pairs", "8"],
    "default": [_DEFAULT_CONFIG, "--synthetic-pairs", "2"],
}
_COMPILED = re.compile(r"compiled the training step in ([0-9.]+) s")


def start(arguments: list[str], output: str, cache: str) -> tuple[float, float]:
    """(compile seconds the command reports, wall seconds) of one start."""
    command = [sys.executable, "-m", "nectargan_jax", "train", *arguments, "--epochs", "1",
               "--no-progress", "--output-dir", output, "--compile-cache", cache]
    begin = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - begin
    return float(_COMPILED.search(done.stdout).group(1)), wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS),
                        default=list(SETTINGS))
    args = parser.parse_args()
    for name in args.settings:
        with tempfile.TemporaryDirectory() as output, tempfile.TemporaryDirectory() as cache:
            first = start(SETTINGS[name], output, cache)
            second = start(SETTINGS[name], output, cache)
        print(f"{name}: compile {first[0]:.1f} s then {second[0]:.1f} s "
              f"(second / first = {second[0] / first[0]:.3f}); whole command "
              f"{first[1]:.1f} s then {second[1]:.1f} s", flush=True)


if __name__ == "__main__":
    main()
