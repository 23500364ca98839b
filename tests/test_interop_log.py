"""interop LossManager's log file: structure, updates, auto-dump, atomic writes."""

from __future__ import annotations

import json
import os
import re

import pytest
import torch

from interop_configs import reference_config
from interop import LossManager, Schedule


@pytest.fixture
def dataroot(tmp_path):
    train = tmp_path / "data" / "train"
    train.mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png"):
        (train / name).write_bytes(b"")
    (train / "nested").mkdir()
    (tmp_path / "data" / "val").mkdir()
    return tmp_path / "data"


@pytest.fixture
def manager(tmp_path, dataroot):
    config = reference_config({"dataloader.dataroot": str(dataroot)})
    return LossManager(config, tmp_path / "runs" / "my_experiment")


def read(manager):
    return json.loads(manager.loss_log.read_text())


def values(x_value: float):
    return torch.full((1, 3, 2, 2), x_value), torch.zeros(1, 3, 2, 2)


def test_export_base_log_exact_file(manager, dataroot):
    manager.register_loss_fn("L1", torch.nn.L1Loss())
    manager.export_base_log()
    expected = {"LOSSMANAGER_LOG": {
        "device": "cpu",
        "dataroot": str(dataroot),
        "dataset_length": 4,
        "experiment": "my_experiment",
        "loss_functions": {},
    }}
    assert manager.loss_log == manager.experiment_dir / "loss_log.json"
    assert manager.loss_log.read_text() == json.dumps(expected, indent=4)


def test_dataset_length_is_zero_without_a_train_folder(tmp_path):
    manager = LossManager(None, tmp_path / "exp")
    manager.export_base_log()
    assert read(manager)["LOSSMANAGER_LOG"]["dataset_length"] == 0


def test_update_loss_log_appends_clears_and_keeps_order(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(), loss_weight=2.0)
    manager.register_loss_fn("never", torch.nn.MSELoss())
    manager.export_base_log()
    for v in (1.0, 2.0):
        manager.compute_loss_xy("L1", *values(v))
    manager.update_loss_log()
    assert manager.loss_fns["L1"].history.losses == []
    assert manager.loss_fns["L1"].history.weights == []
    manager.compute_loss_xy("L1", *values(3.0))
    manager.update_loss_log()
    log = read(manager)["LOSSMANAGER_LOG"]
    assert log["loss_functions"] == {
        "L1": {"loss": [2.0, 4.0, 6.0], "weights": [2.0, 2.0, 2.0]},
        "never": {"loss": [], "weights": []},
    }
    assert log["experiment"] == "my_experiment" and log["dataset_length"] == 4


def test_d2_log_records_applied_weights(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(), schedule=Schedule(
        start_epoch=1, end_epoch=5, initial_value=4.0, target_value=0.0))
    for epoch in range(5):
        manager.compute_loss_xy("L1", *values(1.0), epoch=epoch)
    manager.update_loss_log()
    record = read(manager)["LOSSMANAGER_LOG"]["loss_functions"]["L1"]
    assert record["weights"] == pytest.approx([4.0, 3.0, 2.0, 1.0, 0.0], abs=1e-12)
    assert record["loss"] == pytest.approx([4.0, 3.0, 2.0, 1.0, 0.0], abs=1e-6)


def test_update_loss_log_messages(manager, capsys):
    manager.register_loss_fn("L1", torch.nn.L1Loss())
    pattern = r"LossManager: Logs updated\. Time taken: \d+\.\d{3} seconds"
    assert manager.update_loss_log() is None
    assert capsys.readouterr().out == ""
    assert manager.update_loss_log(capture=True) is None
    message = manager.update_loss_log(silent=False, capture=True)
    assert re.fullmatch(pattern, message)
    assert capsys.readouterr().out == ""
    assert manager.update_loss_log(silent=False) is None
    assert re.fullmatch(pattern + "\n", capsys.readouterr().out)


def test_log_is_created_on_first_write_without_export(manager, dataroot):
    manager.register_loss_fn("L1", torch.nn.L1Loss())
    manager.compute_loss_xy("L1", *values(0.5))
    assert not manager.loss_log.exists()
    manager.update_loss_log()
    log = read(manager)["LOSSMANAGER_LOG"]
    assert log["dataroot"] == str(dataroot) and log["dataset_length"] == 4
    assert log["loss_functions"] == {"L1": {"loss": [0.5], "weights": [1.0]}}


def test_full_history_buffer_is_dumped_with_nothing_lost(tmp_path):
    manager = LossManager(None, tmp_path, history_buffer_size=3)
    manager.register_loss_fn("L1", torch.nn.L1Loss())
    manager.register_loss_fn("L2", torch.nn.MSELoss(), loss_weight=10.0)
    manager.export_base_log()
    for step in range(10):
        manager.compute_loss_xy("L1", *values(float(step)))
        if step == 3:  # the 4th L1 call found a full buffer and wrote only it first
            dumped = read(manager)["LOSSMANAGER_LOG"]["loss_functions"]
            assert dumped == {"L1": {"loss": [0.0, 1.0, 2.0], "weights": [1.0] * 3}}
        if step < 4:
            manager.compute_loss_xy("L2", *values(1.0))
    assert manager.loss_fns["L1"].history.losses == [9.0]
    assert manager.loss_fns["L2"].history.losses == [10.0]
    dumped = read(manager)["LOSSMANAGER_LOG"]["loss_functions"]
    assert dumped["L1"]["loss"] == [float(s) for s in range(9)]
    manager.update_loss_log()
    functions = read(manager)["LOSSMANAGER_LOG"]["loss_functions"]
    assert functions["L1"] == {"loss": [float(s) for s in range(10)], "weights": [1.0] * 10}
    assert functions["L2"] == {"loss": [10.0] * 4, "weights": [10.0] * 4}


def test_failed_write_keeps_the_old_log_and_the_buffers(manager, monkeypatch):
    manager.register_loss_fn("L1", torch.nn.L1Loss())
    manager.compute_loss_xy("L1", *values(1.0))
    manager.update_loss_log()
    before = manager.loss_log.read_bytes()
    manager.compute_loss_xy("L1", *values(2.0))

    def crash(obj, f, **kwargs):
        f.write('{"LOSSMANAGER_LOG": {"dev')
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        manager.update_loss_log()
    assert manager.loss_log.read_bytes() == before
    assert sorted(os.listdir(manager.experiment_dir)) == ["loss_log.json"]
    assert manager.loss_fns["L1"].history.losses == [2.0]
    monkeypatch.undo()
    manager.update_loss_log()
    assert read(manager)["LOSSMANAGER_LOG"]["loss_functions"]["L1"]["loss"] == [1.0, 2.0]


def test_writes_keep_the_log_permissions(manager):
    manager.export_base_log()
    assert manager.loss_log.stat().st_mode & 0o777 == 0o644
    os.chmod(manager.loss_log, 0o600)
    manager.update_loss_log()
    assert manager.loss_log.stat().st_mode & 0o777 == 0o600


def test_export_base_log_starts_a_new_log(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss())
    manager.compute_loss_xy("L1", *values(1.0))
    manager.update_loss_log()
    manager.export_base_log()
    assert read(manager)["LOSSMANAGER_LOG"]["loss_functions"] == {}
