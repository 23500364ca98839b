"""The loss log under real faults, in child processes: SIGKILL and a full disk.

Each child appends numbered blocks of records and says so on stdout just before an
append ("next") and after it returned ("ack"). After every fault the parent reads the
log back: every acknowledged block must be there exactly once, in order, and the one
append in flight when the fault hit may be there whole or not at all.

The children load the log's modules without the package's ``__init__`` (no JAX), so
each starts in a fraction of a second; the whole module runs in a few seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import time

import pytest

from nectargan_jax.log import LossLog

ROOT = Path(__file__).resolve().parents[1]

# Imports nectargan_jax.log._log with stand-in packages: no JAX in the child.
PREAMBLE = r"""
import json, os, random, signal, sys, types
for name in ("nectargan_jax", "nectargan_jax.losses"):
    module = types.ModuleType(name)
    module.__path__ = [os.path.join(sys.argv[1], *name.split("."))]
    sys.modules[name] = module
from nectargan_jax.log._log import LossLog

def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

def block(rng, tag, i):
    # Records of append i: a few records, sometimes 40.
    records = {}
    for name in ("a", "b"):
        k = 40 if rng.random() < 0.1 else rng.randint(0, 3)
        losses = [tag * 1e6 + i * 1000 + j + (name == "b") * 0.5 for j in range(k)]
        records[name] = (losses, [v / 8 for v in losses])
    return records

def append(log, records, i):
    say("next " + json.dumps({"i": i, "records": records}))
    log.append(records)
    say(f"ack {i}")
"""

# argv: root folder tag compact ops kill_at appends. Kills itself at its kill_at-th call
# of the os functions named in ops (comma-separated): os.write after writing a part of
# its bytes (a torn line); os.fsync, os.replace, os.ftruncate and os.unlink randomly
# before or after the call. Those calls are inside appends, merges and clean-ups alike.
# kill_at 0: never (the parent kills it, or it runs to its end).
KILLER = PREAMBLE + r"""
folder, tag, compact, ops = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
kill_at, appends = int(sys.argv[6]), int(sys.argv[7])
rng, calls = random.Random(tag), [0]

def killing(name, real):
    def call(*args):
        calls[0] += 1
        if calls[0] == kill_at:
            sys.stderr.write(f"killed in os.{name}\n")
            sys.stderr.flush()
            if name == "write":
                data = bytes(args[1])
                real(args[0], data[:rng.randrange(1, len(data))])
            elif rng.random() < 0.5:
                real(*args)
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args)
    return call

for name in ops.split(","):
    setattr(os, name, killing(name, getattr(os, name)))
log = LossLog(folder, compact_every_append=compact)
say("ready")
for i in range(appends):
    append(log, block(rng, tag, i), i)
    if i % 5 == 4:
        log.compact()
"""

# argv: root folder limit compact. Appends with the file size limit RLIMIT_FSIZE =
# limit bytes (SIGXFSZ ignored: a write past it fails with EFBIG, after a short write),
# then lifts the limit and appends 3 more.
FULL_DISK = PREAMBLE + r"""
import errno, resource
folder, limit, compact = sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
rng, log = random.Random(7), LossLog(folder, compact_every_append=compact)
for i in range(60):
    try:
        append(log, block(rng, 1, i), i)
    except OSError as e:
        say(f"failed {i} {errno.errorcode[e.errno]}")
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
for i in range(60, 63):
    append(log, block(rng, 1, i), i)
"""


def run_child(script: str, *args: object,
              kill_after: float | None = None) -> tuple[list[str], str]:
    """Runs a child to its end (or SIGKILLs it ``kill_after`` s after it is ready).

    Returns:
      Its stdout lines after "ready", and its stderr.
    """
    child = subprocess.Popen([sys.executable, "-c", script, str(ROOT), *map(str, args)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready = b""
    if kill_after is not None:
        while not ready.endswith(b"\n"):  # byte by byte: no read-ahead to lose
            ready += os.read(child.stdout.fileno(), 1)
        assert ready == b"ready\n"
        time.sleep(kill_after)
        child.send_signal(signal.SIGKILL)
    out, err = child.communicate(timeout=60)
    assert child.returncode in (0, -signal.SIGKILL), err.decode()
    lines = (ready + out).decode().splitlines()
    return (lines[1:] if lines[:1] == ["ready"] else lines), err.decode()


class Ledger:
    """The blocks a log must hold: every acknowledged one, and the last one in flight."""

    def __init__(self) -> None:
        self.blocks: list[dict] = []  # acknowledged or found in the log, in order

    def check(self, log: LossLog, lines: list[str]) -> None:
        """Reads ``log`` back against the blocks before and the child's ``lines``."""
        functions = log.read()["LOSSMANAGER_LOG"]["loss_functions"]
        acked, pending = [], None
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "next":
                pending = json.loads(rest)
            elif kind == "ack":
                assert pending is not None and pending["i"] == int(rest)
                acked.append(pending["records"])
                pending = None
        self.blocks += acked
        position = self._walk(functions, self.blocks)
        if pending is not None and self._holds(functions, position, pending["records"]):
            self.blocks.append(pending["records"])
            position = self._walk(functions, self.blocks)
        for name, entry in functions.items():
            assert position.get(name, 0) == len(entry["loss"]), (
                f"{name}: {len(entry['loss']) - position.get(name, 0)} records read back "
                "that no append acknowledged")

    @staticmethod
    def _holds(functions: dict, position: dict, records: dict) -> bool:
        return all(functions.get(name, {"loss": []})["loss"][
            position.get(name, 0):position.get(name, 0) + len(losses)] == losses
            for name, (losses, _) in records.items())

    @staticmethod
    def _walk(functions: dict, blocks: list[dict]) -> dict:
        """Positions after ``blocks``, asserting that the log holds each, in order."""
        position: dict[str, int] = {}
        for n, records in enumerate(blocks):
            for name, (losses, weights) in records.items():
                assert name in functions, f"block {n}: loss {name!r} missing"
                start = position.get(name, 0)
                entry = functions[name]
                assert entry["loss"][start:start + len(losses)] == losses, f"block {n}, {name}"
                assert entry["weights"][start:start + len(weights)] == weights
                position[name] = start + len(losses)
        return position


def test_sigkill_at_random_moments_loses_no_acknowledged_record(tmp_path):
    rng, ledger, folder, sites = random.Random(2024), Ledger(), tmp_path / "exp", []
    ops = "write,fsync,replace,ftruncate,unlink"
    rounds = [(tag, tag % 4 == 3, rng.randint(1, 70), None) for tag in range(1, 25)]
    rounds += [(tag, tag % 2 == 0, 0, rng.uniform(0.0, 0.3)) for tag in range(25, 29)]
    for tag, compact, kill_at, kill_after in rounds:
        lines, err = run_child(KILLER, folder, tag, int(compact), ops, kill_at,
                               30 if kill_at else 10**6, kill_after=kill_after)
        sites += [line.split()[-1] for line in err.splitlines() if line.startswith("killed")]
        log = LossLog(folder)  # opening it removes what a killed merge left behind
        assert not list(folder.glob(".*.tmp"))
        ledger.check(log, lines)
    # The kills landed in journal appends (write, fsync), merges (replace) and clean-ups.
    assert {"os.write", "os.fsync", "os.replace", "os.unlink"} <= set(sites), sites
    assert sum(len(losses) for block in ledger.blocks for losses, _ in block.values()) > 500
    log.close()
    assert not log.journal.exists()
    with open(log.path) as f:  # a plain reader sees every record after close()
        assert json.load(f) == log.read()


@pytest.mark.parametrize("compact", [False, True])
def test_a_full_disk_mid_append_leaves_no_trace_and_loses_nothing(tmp_path, compact):
    folder = tmp_path / "exp"
    lines, _ = run_child(FULL_DISK, folder, 24_000, int(compact))
    failures = [line for line in lines if line.startswith("failed")]
    assert failures and all(line.endswith("EFBIG") for line in failures)
    assert lines[-1] == "ack 62"  # the 3 appends after the limit was lifted
    ledger = Ledger()
    ledger.check(LossLog(folder), [line for line in lines if not line.startswith("failed")])
    acked = sum(line.startswith("ack") for line in lines)
    assert len(ledger.blocks) == acked  # a failed append is not in the log


def test_a_torn_last_line_does_not_hide_later_appends(tmp_path):
    # Each child is killed in the middle of its 2nd os.write (a journal line), then the
    # next child appends after the torn line.
    folder, ledger = tmp_path / "exp", Ledger()
    for tag in range(1, 6):
        lines, _ = run_child(KILLER, folder, tag, 0, "write", 2, 30)
        assert not LossLog(folder).journal.read_bytes().endswith(b"\n")  # torn
        ledger.check(LossLog(folder), lines)
    lines, _ = run_child(KILLER, folder, 6, 0, "write", 0, 3)
    ledger.check(LossLog(folder), lines)
    assert len(ledger.blocks) >= 5 + 3
