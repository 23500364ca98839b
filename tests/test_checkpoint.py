"""Checkpoints and exact resume: 4 epochs straight == 2 epochs, resume, 2 epochs."""

import errno
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from helpers import count_compilations
from nectargan_jax import LossLog, LossManager
from nectargan_jax.losses import l1
from nectargan_jax.train import _checkpoint
from nectargan_jax.train._checkpoint import (CheckpointMismatchError, Checkpoints,
                                             CheckpointWriteError, config_fingerprint)
from nectargan_jax.train._loop import train
from nectargan_jax.train._records import LogWriter
from train_helpers import tiny_config

# 4 pairs in batches of 2: 2 steps per epoch (the settings of test_cli's run, which
# reuses the compiled step).
RUN = {"synthetic_pairs": 4, "progress": False, "echo": lambda _: None}


def _leaves(state):
    return [np.asarray(jax.random.key_data(a) if jax.dtypes.issubdtype(
        a.dtype, jax.dtypes.prng_key) else a) for a in jax.tree.leaves(state)]


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _config(output_dir, **extra):
    # Loss graphs and examples after the last epoch only (they cost time, not records);
    # every checkpoint kept.
    return tiny_config(output_dir, **{"save.example_save_rate": 100,
                                      "save.keep_checkpoints": None, **extra})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    straight_dir = tmp_path_factory.mktemp("straight")
    resumed_dir = tmp_path_factory.mktemp("resumed")
    straight = train(_config(straight_dir), epochs=4, **RUN)
    halfway = train(_config(resumed_dir), epochs=2, **RUN)
    with count_compilations() as compiled:
        resumed = train(_config(resumed_dir), epochs=4, resume=True, **RUN)
    return straight, halfway, resumed, compiled


def test_a_resume_in_the_same_process_reuses_the_compiled_step(runs):
    # The fresh runs' state is committed to the device as the restored one is.
    assert runs[3].count("_step") == 0, runs[3].names


def test_resume_gives_exactly_the_uninterrupted_run(runs):
    straight, halfway, resumed, _ = runs
    assert resumed.experiment.dir == halfway.experiment.dir
    for a, b in zip(_leaves(straight.state), _leaves(resumed.state)):
        np.testing.assert_array_equal(a, b)
    log_a = json.loads(straight.experiment.log.read_text())["LOSSMANAGER_LOG"]
    log_b = json.loads(resumed.experiment.log.read_text())["LOSSMANAGER_LOG"]
    assert log_a["loss_functions"] == log_b["loss_functions"]
    assert all(len(v["loss"]) == 8 for v in log_a["loss_functions"].values())
    assert Checkpoints(straight.experiment.checkpoints).epochs() == [1, 2, 3, 4]
    assert sorted(p.name for p in resumed.experiment.dir.glob("*config.json")) == [
        "train1_config.json", "train2_config.json"]


def test_continue_train_resumes_from_load_epoch_and_retrains_what_follows(runs, tmp_path):
    """``train.load.continue_train`` with ``load_epoch=2`` in a finished 4-epoch run
    trains epochs 3 and 4 again: the same state, log and checkpoints as before."""
    straight = runs[0]
    root = tmp_path / "copy"
    shutil.copytree(straight.experiment.dir.parent, root)
    again = train(_config(root, **{"train.load.continue_train": True,
                                   "train.load.load_epoch": 2}), epochs=4, **RUN)
    assert again.experiment.dir == root / straight.experiment.dir.name
    assert int(again.state.step) == 8
    for a, b in zip(_leaves(straight.state), _leaves(again.state)):
        np.testing.assert_array_equal(a, b)
    log_a = json.loads(straight.experiment.log.read_text())["LOSSMANAGER_LOG"]
    log_b = json.loads(again.experiment.log.read_text())["LOSSMANAGER_LOG"]
    assert log_a["loss_functions"] == log_b["loss_functions"]
    assert Checkpoints(again.experiment.checkpoints).epochs() == [1, 2, 3, 4]


def test_a_load_epoch_without_a_checkpoint_is_refused_before_anything_changes(runs, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(runs[0].experiment.dir.parent, root)
    before = _snapshot(root)
    config = _config(root, **{"train.load.continue_train": True, "train.load.load_epoch": 7})
    with pytest.raises(FileNotFoundError, match=r"load_epoch=7 .* epochs \[1, 2, 3, 4\]"):
        train(config, epochs=8, **RUN)
    assert _snapshot(root) == before


def test_a_checkpoint_from_another_config_is_refused_before_anything_changes(runs):
    folder = runs[2].experiment.dir
    before = _snapshot(folder)
    other = _config(folder.parent, **{"train.loss.lambda_l1": 10.0,
                                      "train.generator.optimizer.beta1": 0.9})
    with pytest.raises(CheckpointMismatchError,
                       match=r"other training settings: train.generator.optimizer.beta1 "
                             r"\(0.5, now 0.9\), train.loss.lambda_l1 \(100.0, now 10.0\);"):
        train(other, epochs=6, resume=True, **RUN)
    assert _snapshot(folder) == before


def test_resuming_a_finished_run_says_so_and_writes_nothing(runs):
    folder = runs[2].experiment.dir
    before = _snapshot(folder)
    lines = []
    result = train(_config(folder.parent), epochs=4, resume=True,
                   **{**RUN, "echo": lines.append})
    assert lines == [f"The experiment {folder.resolve()} has trained 4 of 4 epochs: nothing "
                     "to do (give more epochs, e.g. --epochs 5, to train on)."]
    assert _snapshot(folder) == before  # no new config file, log or checkpoint
    assert result.epochs == 4 and int(result.state.step) == 8
    for a, b in zip(_leaves(runs[2].state), _leaves(result.state)):
        np.testing.assert_array_equal(a, b)


def test_a_resumed_run_says_once_which_device_jax_uses(runs, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(runs[0].experiment.dir.parent, root)
    lines = []
    train(_config(root, **{"common.device": "cuda"}), epochs=5, resume=True,
          **{**RUN, "echo": lines.append})
    device = jax.devices()[0]
    assert [line for line in lines if "common.device" in line] == [
        f"common.device is 'cuda', but JAX runs on {device} (platform "
        f"{device.platform!r}, its default backend): training runs there (JAX_PLATFORMS "
        "chooses the backend)."]
    assert lines[-1].startswith("Trained 5 epochs")


def test_checkpoint_round_trip_keeps_every_leaf_and_the_metadata(runs, tmp_path):
    state = runs[0].state
    store = Checkpoints(tmp_path / "ckpt")
    assert store.epochs() == [] and not (tmp_path / "ckpt").exists()
    store.save(4, state, "abc")
    restored = store.restore(4, state, "abc")
    for a, b in zip(_leaves(state), _leaves(restored)):
        np.testing.assert_array_equal(a, b)
    assert store.metadata(4) == {"epoch": 4, "step": 8, "config_fingerprint": "abc",
                                 "processes": 1}
    with pytest.raises(CheckpointMismatchError, match="'abc'.*'xyz'"):
        store.restore(4, state, "xyz")
    store.close()


def test_settings_that_read_equal_but_hash_apart_name_the_fingerprints(runs, tmp_path):
    """A schedule's epochs saved as ints (as an older version wrote what the file said)
    and now written as floats: no setting differs by value, so the two fingerprints are
    named rather than an empty list of changes."""
    store = Checkpoints(tmp_path / "ckpt")
    saved = {"train": {"loss": {"lambda_l1": {"start_epoch": 0, "end_epoch": 4}}}}
    now = {"train": {"loss": {"lambda_l1": {"start_epoch": 0.0, "end_epoch": 4.0}}}}
    store.save(4, runs[0].state, "abc", saved)
    with pytest.raises(CheckpointMismatchError,
                       match=r"other training settings \(config fingerprint 'abc', this "
                             r"config's is 'xyz'\);"):
        store.check(4, "xyz", now)
    store.close()


def test_the_fingerprint_ignores_where_and_how_often_a_run_writes(tmp_path):
    base = config_fingerprint(tiny_config(tmp_path / "a"))
    assert config_fingerprint(tiny_config(tmp_path / "b", **{
        "save.model_save_rate": 7, "common.experiment_name": "other",
        "train.load.continue_train": True})) == base
    # A dataset moved to another folder resumes.
    assert config_fingerprint(tiny_config(tmp_path, **{
        "dataloader.dataroot": "/data/facades"})) == config_fingerprint(tiny_config(
            tmp_path, **{"dataloader.dataroot": "/mnt/moved/facades"}))
    assert config_fingerprint(tiny_config(tmp_path, **{"dataloader.batch_size": 1})) != base


def _manager_with(values):
    manager = LossManager(capacity=8).register("a", l1, weight=2.0)
    for v in values:
        _, manager = manager.compute("a", np.full((1, 2, 2, 1), v, np.float32),
                                     np.zeros((1, 2, 2, 1), np.float32))
    return manager


def test_log_writer_skips_exactly_the_records_the_log_already_holds(tmp_path):
    log = LossLog(tmp_path)
    # A first life of the run logged steps 0..2 (weighted l1 = 2 * value), then died.
    log.append({"a": (np.array([0.0, 2.0, 4.0]), np.full(3, 2.0))})
    # Resumed from a checkpoint after step 1: steps 1..4 are computed (again).
    writer = LogWriter(log, first_step=1)
    _manager_with([1.0, 2.0]).flush(writer)
    _manager_with([3.0, 4.0]).flush(writer)
    assert log.read()["LOSSMANAGER_LOG"]["loss_functions"]["a"] == {
        "loss": [0.0, 2.0, 4.0, 6.0, 8.0], "weights": [2.0] * 5}


def test_log_writer_refuses_a_log_missing_records(tmp_path):
    log = LossLog(tmp_path)
    log.append({"a": (np.array([1.0]), np.array([2.0]))})
    with pytest.raises(ValueError, match="holds 1 records per loss but the checkpoint was "
                                         "saved after step 3"):
        LogWriter(log, first_step=3)


class _Small(NamedTuple):
    """A stand-in for a TrainState: what ``Checkpoints.save`` reads (``step``) and arrays."""

    step: jax.Array
    weights: jax.Array


def _small(seed):
    rng = np.random.default_rng(seed)
    return _Small(jnp.int32(seed), jnp.asarray(rng.random((64, 64), np.float32)))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG])
def test_a_full_disk_during_a_save_is_one_line_and_keeps_the_earlier_checkpoints(
        tmp_path, monkeypatch, code):
    store = Checkpoints(tmp_path / "ckpt")
    store.save(1, _small(1), "fp")

    def full(self, *args, **kwargs):
        (Path(self.directory) / "2.orbax-checkpoint-tmp").mkdir()  # a partial write
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    with pytest.raises(CheckpointWriteError) as caught:
        store.save(2, _small(2), "fp")
    assert str(caught.value) == (f"disk full (or file too large) writing checkpoint 2 to "
                                 f"{tmp_path / 'ckpt' / '2'}; nothing lost, resume with --resume")
    assert caught.value.errno == code
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["1"]
    assert store.epochs() == [1] and int(store.restore(1, _small(0), "fp").step) == 1
    store.close()


def test_a_write_landing_after_the_failed_save_is_removed_too(tmp_path, monkeypatch):
    """A write orbax abandoned (tensorstore's, still in flight) recreates the temporary
    folder after it was first removed: that is removed as well."""
    store = Checkpoints(tmp_path)
    partial = tmp_path / "2.orbax-checkpoint-tmp" / "state" / "d"

    def late_write():
        while partial.exists():
            threading.Event().wait(0.001)
        partial.mkdir(parents=True)

    def full(self, *args, **kwargs):
        partial.mkdir(parents=True)
        writer.start()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    writer = threading.Thread(target=late_write)
    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    monkeypatch.setattr(_checkpoint, "_QUIET_S", 1.0)
    with pytest.raises(CheckpointWriteError):
        store.save(2, _small(2), "fp")
    writer.join()
    assert list(tmp_path.iterdir()) == []


_FILE_TOO_LARGE = """
import resource, signal, sys
from pathlib import Path
from typing import NamedTuple
import numpy as np
import jax
import jax.numpy as jnp
from nectargan_jax.train._checkpoint import Checkpoints, CheckpointWriteError
class Small(NamedTuple):
    step: jax.Array
    weights: tuple
rng = np.random.default_rng(0)
# Many arrays: writes still in flight when the first one fails (each then reports the
# closed event loop orbax leaves behind).
state = Small(jnp.int32(3), tuple(jnp.asarray(rng.random((40, 40), np.float32))
                                  for _ in range(50)))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (60000, 60000))
store = Checkpoints(Path(sys.argv[1]))
try:
    store.save(3, state, "fp")
except CheckpointWriteError as error:
    print(error)
    sys.exit(2)
"""


def test_a_real_file_size_limit_is_reported_in_one_line_with_nothing_else(tmp_path):
    """tensorstore reports EFBIG inside a long ValueError, orbax's threads log it with
    tracebacks and the abandoned writes report a closed event loop (50 of them here):
    the caller gets one line, and nothing else reaches the console."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", _FILE_TOO_LARGE, str(tmp_path)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stdout == (f"disk full (or file too large) writing checkpoint 3 to "
                             f"{tmp_path / '3'}; nothing lost, resume with --resume\n")
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []
