"""The loss log: the reference's structure, atomic writes, journal appends, recovery."""

import json
import os

import numpy as np
import pytest

from nectargan_jax.losses import _log
from nectargan_jax.losses._log import LossLog


def read_file(log):
    return json.loads(log.path.read_text())


def test_base_log_has_the_reference_structure(tmp_path):
    dataroot = tmp_path / "data"
    (dataroot / "train" / "sub").mkdir(parents=True)
    for name in ("1.png", "2.png"):
        (dataroot / "train" / name).write_bytes(b"")
    log = LossLog(tmp_path / "exp1", device="cpu", dataroot=str(dataroot))
    log.export_base_log()
    assert read_file(log) == {"LOSSMANAGER_LOG": {
        "device": "cpu", "dataroot": str(dataroot), "dataset_length": 3,
        "experiment": "exp1", "loss_functions": {}}}
    assert log.path.read_text().startswith('{\n    "LOSSMANAGER_LOG": {\n        "device"')


def test_appends_extend_lists_in_order_and_empty_losses_get_entries(tmp_path):
    log = LossLog(tmp_path, compact_every_append=True)
    log.append({"a": ([1.0, 2.0], [0.5, 0.5]), "b": ([], [])})
    log.append({"a": (np.array([3.0]), np.array([0.25])), "b": ([7.0], [1.0])})
    assert read_file(log)["LOSSMANAGER_LOG"]["loss_functions"] == {
        "a": {"loss": [1.0, 2.0, 3.0], "weights": [0.5, 0.5, 0.25]},
        "b": {"loss": [7.0], "weights": [1.0]}}


def test_small_appends_do_not_rewrite_the_log(tmp_path):
    log = LossLog(tmp_path)
    log.append({"a": (np.zeros(1000), np.ones(1000))})  # journal outgrows the header: merged
    inode = os.stat(log.path).st_ino
    log.append({"a": ([1.0], [1.0])})
    assert os.stat(log.path).st_ino == inode  # not replaced: only the journal grew
    assert log.journal.exists()
    assert log.read()["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"][-1] == 1.0
    log.compact()
    assert not log.journal.exists()
    assert len(read_file(log)["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"]) == 1001


def test_a_crash_while_writing_leaves_the_old_file_intact(tmp_path, monkeypatch):
    log = LossLog(tmp_path, compact_every_append=True)
    log.append({"a": ([1.0], [1.0])})
    before = log.path.read_text()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(_log.json, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        log.compact()
    assert log.path.read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_a_torn_journal_line_is_ignored(tmp_path):
    log = LossLog(tmp_path)
    log.export_base_log()
    log.append({"a": ([1.0], [1.0])})
    with open(log.journal, "a") as f:
        f.write('{"a": {"loss": [2.0')  # a crash mid-append
    assert log.read()["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"] == [1.0]


def test_a_journal_already_merged_is_not_counted_twice(tmp_path):
    log = LossLog(tmp_path)
    log.export_base_log()
    log.append({"a": ([1.0], [1.0])})
    journal = log.journal.read_text()
    log.compact()
    log.journal.write_text(journal)  # as if the crash came before the journal's removal
    assert log.read()["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"] == [1.0]
    log.append({"a": ([2.0], [1.0])})
    assert log.read()["LOSSMANAGER_LOG"]["loss_functions"]["a"]["loss"] == [1.0, 2.0]


def test_batched_records_are_rejected_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="two 1-D arrays"):
        LossLog(tmp_path).append({"a": (np.zeros((2, 3)), np.zeros((2, 3)))})
