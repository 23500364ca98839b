"""Training on several real processes (JAX's multi-controller runtime on the CPU, gloo).

One run of each kind, shared by the tests: 1 process x 4 simulated devices straight
through 2 epochs (the reference); 2 processes x 2 devices whose process 1 SIGKILLs
itself in the middle of epoch 2; both processes again with ``--resume``. Each process's
writes outside the checkpoints are recorded with an audit hook (``sys.addaudithook``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

from flax import nnx
import jax
import numpy as np
import pytest

from helpers import simulated_devices_env
from nectargan_jax.train import CheckpointMismatchError, load_config, train
from nectargan_jax.train._distributed import LOST_PEER_STATUS
from nectargan_jax.train._trained import load_trained

TESTS = Path(__file__).parent
EPOCHS, PAIRS = 2, 12  # 3 steps of a global batch of 4 per epoch

# The command, with every file this process opens for writing, creates or renames
# outside the checkpoints recorded in argv[1] (relative to the output folder argv[2]);
# with argv[3] == "kill", the process SIGKILLs itself at the second batch of epoch 2.
_AUDITED = r"""
import os, signal, sys
record, root, mode = open(sys.argv[1], "w"), os.path.realpath(sys.argv[2]), sys.argv[3]

def note(path):
    path = os.path.realpath(os.fsdecode(path))
    if os.path.isdir(path):  # a nameless temporary file (O_TMPFILE): a writability probe
        return
    if path.startswith(root + os.sep) and "checkpoints" not in path[len(root):]:
        record.write(os.path.relpath(path, root) + "\n")
        record.flush()

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        mode_, flags = args[1], args[2]
        if (mode_ and any(c in mode_ for c in "wax+")) or (
                mode_ is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
            note(args[0])
    elif event in ("os.rename", "os.replace"):
        note(args[1])
    elif event == "os.mkdir":
        note(args[0])

sys.addaudithook(hook)
if mode == "kill":
    import nectargan_jax.train._loop as loop
    real = loop.batches
    def batches(*args, epoch, **kwargs):
        for i, batch in enumerate(real(*args, epoch=epoch, **kwargs)):
            if epoch == 1 and i == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch
    loop.batches = batches
from nectargan_jax.train._cli import main
sys.exit(main(sys.argv[4:]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config_file(folder: Path) -> Path:
    """The tiny model at 32 pixels, batch 4, one epoch at each learning rate phase."""
    sys.path.insert(0, str(TESTS))
    from train_helpers import tiny_config

    config = tiny_config(folder / "out", **{
        "dataloader.batch_size": 4, "dataloader.load.crop_size": 32,
        "dataloader.load.load_size": 32, "save.num_examples": 2,
        **{f"train.{net}.learning_rate.{key}": 1 for net in ("generator", "discriminator")
           for key in ("epochs", "epochs_decay")}})
    path = folder / "tiny.json"
    path.write_text(config.to_json())
    return path


class _Run:
    """Processes of one command started together; killed if still running at ``close``."""

    def __init__(self, folder: Path, name: str, config: Path, processes: int, devices: int,
                 *flags: str, kill: int | None = None):
        env = simulated_devices_env(devices)
        port = _free_port()
        self.records = [folder / f"{name}_writes_{i}.txt" for i in range(processes)]
        self.errors = [folder / f"{name}_stderr_{i}.txt" for i in range(processes)]
        self.children, self._streams = [], [path.open("w") for path in self.errors]
        for i in range(processes):
            several = [] if processes == 1 else [
                "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(processes),
                "--process-id", str(i)]
            self.children.append(subprocess.Popen(
                [sys.executable, "-c", _AUDITED, str(self.records[i]),
                 str(folder / "out"), "kill" if i == kill else "-", "train", str(config),
                 "--devices", str(devices), "--synthetic-pairs", str(PAIRS),
                 "--no-progress", "--compile-cache", str(folder / "cache"), *several,
                 *flags],
                env=env, stdout=subprocess.DEVNULL, stderr=self._streams[i]))
        self.exited_at: list[float | None] = [None] * processes

    def wait(self, limit: float) -> list[tuple[int, str]]:
        """(return code, stderr) of each process, noting when each one exited."""
        deadline = time.monotonic() + limit
        while None in self.exited_at and time.monotonic() < deadline:
            for i, child in enumerate(self.children):
                if self.exited_at[i] is None and child.poll() is not None:
                    self.exited_at[i] = time.monotonic()
            time.sleep(0.2)
        self.close()
        return [(child.returncode, path.read_text())
                for child, path in zip(self.children, self.errors)]

    def writes(self, i: int) -> set[str]:
        return set(self.records[i].read_text().split()) if self.records[i].exists() else set()

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
        for stream in self._streams:
            stream.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The three runs: ``reference`` (1 x 4), ``killed`` (2 x 2), ``resumed`` (2 x 2)."""
    reference_dir = tmp_path_factory.mktemp("one_process")
    several_dir = tmp_path_factory.mktemp("two_processes")
    reference = _Run(reference_dir, "reference", _config_file(reference_dir), 1, 4)
    several_config = _config_file(several_dir)
    killed = _Run(several_dir, "killed", several_config, 2, 2, "--heartbeat-timeout", "15",
                  kill=1)
    try:
        done = {"reference": reference.wait(1800), "killed": killed.wait(1800)}
        saved = sorted(p.name for p in (_experiment(several_dir) / "checkpoints").iterdir())
        resumed = _Run(several_dir, "resumed", several_config, 2, 2, "--resume")
        done["resumed"] = resumed.wait(1800)
    finally:
        reference.close()
        killed.close()
    return {"reference": reference, "killed": killed, "resumed": resumed, "done": done,
            "saved after the kill": saved,
            "dirs": {"reference": reference_dir, "several": several_dir}}


def _experiment(folder: Path) -> Path:
    return folder / "out" / "NectarGAN_v1"


def test_a_killed_process_stops_the_others_with_a_message(runs):
    (code0, err0), (code1, _) = runs["done"]["killed"]
    assert code1 == -signal.SIGKILL
    assert code0 == LOST_PEER_STATUS, err0[-3000:]
    assert "nectargan-jax train: error: process 0 lost process 1 of 2" in err0
    exited = runs["killed"].exited_at
    assert exited[0] - exited[1] < 120
    # The kill came in epoch 2: epoch 1's checkpoint is complete, epoch 2's absent.
    assert runs["saved after the kill"] == ["1"]


def test_resumed_two_processes_match_one_process(runs):
    for name in ("reference", "resumed"):
        for code, err in runs["done"][name]:
            assert code == 0, err[-3000:]
    one = _experiment(runs["dirs"]["reference"])
    two = _experiment(runs["dirs"]["several"])
    logs = [json.loads((e / "loss_log.json").read_text())["LOSSMANAGER_LOG"]["loss_functions"]
            for e in (one, two)]
    assert logs[0].keys() == logs[1].keys()
    for name, entry in logs[0].items():
        assert len(entry["loss"]) == EPOCHS * PAIRS // 4
        np.testing.assert_allclose(logs[1][name]["loss"], entry["loss"], rtol=1e-5, atol=1e-5)
        assert logs[1][name]["weights"] == entry["weights"]
    for net in ("G", "D"):
        a, b = (jax.tree.leaves(nnx.state(load_trained(
            e.resolve(), load_epoch=EPOCHS, nets=(net,)).models[net], nnx.Param))
            for e in (one, two))
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            np.testing.assert_allclose(np.asarray(y), np.asarray(x), rtol=1e-5, atol=1e-6)


def test_process_0_alone_writes_the_files(runs):
    for name in ("killed", "resumed"):
        run = runs[name]
        assert run.writes(1) == set(), name
    first, second = runs["killed"].writes(0), runs["resumed"].writes(0)
    experiment = "NectarGAN_v1"
    assert {f"{experiment}/train1_config.json", f"{experiment}/examples/epoch_0001.png",
            f"{experiment}/loss_graphs.png"} <= first
    assert {f"{experiment}/train2_config.json", f"{experiment}/examples/epoch_0002.png"} <= \
        second
    assert any(path.startswith(f"{experiment}/loss_log.json") for path in first & second)


def test_resuming_with_another_process_count_is_refused(runs):
    experiment = _experiment(runs["dirs"]["several"])
    config = load_config(experiment / "train2_config.json")
    with pytest.raises(CheckpointMismatchError,
                       match=r"saved by 2 processes but this run has 1; resume it with "
                             r"--num-processes 2"):
        train(config, epochs=EPOCHS + 1, resume=True, synthetic_pairs=PAIRS,
              progress=False, echo=lambda _: None)
