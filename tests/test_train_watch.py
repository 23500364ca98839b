"""Watching and steering a run: the per-epoch callback (and stopping), the example pairs,
TensorBoard event files read back, Visdom (a stand-in client), and their errors."""

import io
import json
from pathlib import Path
import struct
import sys
import types

import numpy as np
from PIL import Image
import pytest

from nectargan_jax.train import SyntheticPairs
from nectargan_jax.train._cli import main
from nectargan_jax.train._loop import example_pairs, train
from tensorboardX.proto import event_pb2
from train_helpers import TINY, tiny_config

PAIRS = 4  # 2 steps per epoch at batch 2
# The learning rate: 2e-4 in epoch 0, then linear to 0 over 3 more: 1.5e-4 in epoch 1.
SCHEDULE = {"train.generator.learning_rate.epochs": 1,
            "train.generator.learning_rate.epochs_decay": 3}


def read_events(folder):
    """``({tag: [(step, value)]}, {tag: [(step, image)]})`` from TensorBoard event files.

    Each record of an event file is: length (uint64), its CRC (4 bytes), the Event
    protobuf, its CRC (4 bytes).
    """
    scalars, images = {}, {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                if value.HasField("image"):
                    images.setdefault(value.tag, []).append((event.step, value.image))
                elif value.HasField("simple_value"):
                    scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars, images


class FakeVisdom:
    """Stands in for ``visdom.Visdom``: records the calls."""

    calls: list = []
    connected = True

    def __init__(self, server, port, env):
        self.calls.append(("init", server, port, env))

    def check_connection(self):
        return self.connected

    def close(self, win, env):
        self.calls.append(("close", win, env))

    def line(self, Y, X, win, update, opts):
        self.calls.append(("line", np.asarray(Y), np.asarray(X), win, update, opts))

    def images(self, tensor, win, nrow, padding, opts):
        self.calls.append(("images", np.asarray(tensor), win, opts))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """3 epochs asked, stopped by the callback after epoch 2; TensorBoard and Visdom on;
    JPEG compression on, so the augmentations run in the loading thread."""
    out = tmp_path_factory.mktemp("watched")
    config = tiny_config(out, **SCHEDULE, **{
        "dataloader.augmentations.input.compression_chance": 1.0,
        "dataloader.augmentations.both.v_flip_chance": 0.5,
        "save.model_save_rate": 3, "save.example_save_rate": 1, "save.num_examples": 2,
        "visualizer.tensorboard": str(out / "board"), "visualizer.visdom.enable": True,
        "visualizer.visdom.update_frequency": 1, "visualizer.visdom.image_size": 50})
    seen = []

    def on_epoch_end(epoch, state, metrics):
        seen.append((epoch, int(state.step), dict(metrics)))
        return epoch != 2

    with pytest.MonkeyPatch.context() as patch:
        FakeVisdom.calls, FakeVisdom.connected = [], True
        patch.setitem(sys.modules, "visdom", types.SimpleNamespace(Visdom=FakeVisdom))
        result = train(config, epochs=3, synthetic_pairs=PAIRS, progress=False,
                       echo=lambda _: None, on_epoch_end=on_epoch_end)
        calls = list(FakeVisdom.calls)
    log = json.loads(result.experiment.log.read_text())["LOSSMANAGER_LOG"]["loss_functions"]
    return result, out, seen, calls, log


def test_the_callback_sees_each_epoch_and_false_stops_the_run(run):
    result, _, seen, _, _ = run
    assert [(epoch, step) for epoch, step, _ in seen] == [(1, 2), (2, 4)]
    assert result.epochs == 2 and int(result.state.step) == 4
    assert result.step_fns.augmentations is None  # they ran on the host
    # The stopping epoch is saved as a last epoch is (model_save_rate is 3).
    assert sorted(p.name for p in result.experiment.checkpoints.iterdir()) == ["2"]
    assert sorted(p.name for p in result.experiment.examples.iterdir()) == [
        "epoch_0001.png", "epoch_0002.png"]


def test_the_metrics_are_the_epochs_mean_losses_and_the_learning_rates(run):
    _, _, seen, _, log = run
    for epoch, _, metrics in seen:
        for name, entry in log.items():
            want = np.mean(entry["loss"][2 * (epoch - 1):2 * epoch])
            assert metrics[name] == pytest.approx(want, rel=1e-6), name
        assert metrics["seconds"] > 0
    assert [m["lr_generator"] for _, _, m in seen] == pytest.approx([2e-4, 1.5e-4])
    assert [m["lr_discriminator"] for _, _, m in seen] == pytest.approx([2e-4, 1.5e-4])


def test_examples_are_random_held_out_pairs_drawn_per_epoch(run):
    result = run[0]
    held_out = SyntheticPairs(PAIRS, 16, seed=1)  # the embedded task's val split
    inputs = [held_out.load(i, None)[0] for i in range(PAIRS)]
    for epoch in (1, 2):
        with Image.open(result.experiment.example(epoch)) as image:
            grid = np.asarray(image, np.float64)
        rows = [grid[16 * r:16 * r + 16, :16] / 127.5 - 1 for r in range(2)]
        found = [next(i for i, x in enumerate(inputs) if np.abs(x - row).max() < 0.01)
                 for row in rows]
        assert len(set(found)) == 2  # two different pairs
        source = [held_out.load(i, None) for i in range(PAIRS)]
        x, _ = example_pairs(held_out, 2, seed=0, epoch=epoch)
        assert found == [next(i for i, s in enumerate(source) if np.array_equal(s[0], xi))
                         for xi in x]


def test_example_pairs_are_distinct_seeded_and_change_with_the_epoch():
    data = SyntheticPairs(10, 4, seed=0)

    def picks(seed, epoch):
        xs, _ = example_pairs(data, 3, seed=seed, epoch=epoch)
        return [next(i for i in range(10) if np.array_equal(data.load(i, None)[0], x))
                for x in xs]

    assert picks(0, 1) == picks(0, 1) and len(set(picks(0, 1))) == 3
    assert len({tuple(picks(0, e)) for e in range(1, 8)}) > 1
    assert len({tuple(picks(s, 1)) for s in range(1, 8)}) > 1


def test_tensorboard_holds_every_loss_weight_learning_rate_and_example(run):
    result, out, _, _, log = run
    scalars, images = read_events(out / "board")
    for name, entry in log.items():
        assert [s for s, _ in scalars[f"loss/{name}"]] == [0, 1, 2, 3]
        np.testing.assert_allclose([v for _, v in scalars[f"loss/{name}"]], entry["loss"],
                                   rtol=1e-6)
        np.testing.assert_allclose([v for _, v in scalars[f"weight/{name}"]],
                                   entry["weights"], rtol=1e-6)
    for which in ("generator", "discriminator"):  # one per flush: epochs 0 and 1
        assert [s for s, _ in scalars[f"learning_rate/{which}"]] == [1, 3]
        np.testing.assert_allclose([v for _, v in scalars[f"learning_rate/{which}"]],
                                   [2e-4, 1.5e-4], rtol=1e-6)
    assert [s for s, _ in images["examples"]] == [2, 4]
    for (_, picture), epoch in zip(images["examples"], (1, 2)):
        with Image.open(io.BytesIO(picture.encoded_image_string)) as decoded:
            shown = np.asarray(decoded.convert("RGB"))
        with Image.open(result.experiment.example(epoch)) as saved:
            np.testing.assert_array_equal(shown, np.asarray(saved))


def test_visdom_gets_the_references_windows(run):
    _, _, _, calls, log = run
    assert calls[0] == ("init", "http://localhost", 8097, "main")
    assert calls[1] == ("close", None, "main")
    lines = [c for c in calls if c[0] == "line"]
    assert [c[3] for c in lines] == ["loss_G", "loss_D"] * 2  # two flushes
    for (_, y, x, window, update, opts), first in zip(lines, (0, 0, 2, 2)):
        names = opts["legend"]
        assert update == "append" and set(n[0] for n in names) == {window[-1]}
        np.testing.assert_allclose(y, np.array([log[n]["loss"][first:first + 2]
                                                for n in names]).T, rtol=1e-6)
        # x: the epoch from 1 plus the fraction of it done (2 steps per epoch).
        np.testing.assert_allclose(x[:, 0], [1 + first / 2, 1.5 + first / 2])
    images = [c for c in calls if c[0] == "images"]
    assert len(images) == 2 and images[0][2] == "comparison_grid"
    assert images[0][1].shape == (1, 3, 32, 48) and images[0][1].max() <= 1
    assert images[0][3] == {"title": "real_A | fake_B | real_B", "width": 150, "height": 50}


@pytest.mark.parametrize("connected, module, error, message", [
    (True, False, ValueError, "visualizer.visdom.enable needs the 'visdom' package"),
    (False, True, ConnectionError, "no Visdom server answers at http://localhost:8097"),
])
def test_visdom_enabled_but_unusable_is_refused_before_anything_is_written(
        tmp_path, monkeypatch, connected, module, error, message):
    FakeVisdom.calls, FakeVisdom.connected = [], connected
    monkeypatch.setitem(sys.modules, "visdom",
                        types.SimpleNamespace(Visdom=FakeVisdom) if module else None)
    config = tiny_config(tmp_path, **{"visualizer.visdom.enable": True})
    with pytest.raises(error, match=message):
        train(config, epochs=1, synthetic_pairs=PAIRS, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_tensorboard_without_tensorboardx_is_refused_before_anything_is_written(
        tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX.proto.summary_pb2", None)
    config = tiny_config(tmp_path, **{"visualizer.tensorboard": str(tmp_path / "board")})
    with pytest.raises(ValueError, match="visualizer.tensorboard needs the 'tensorboardX'"):
        train(config, epochs=1, synthetic_pairs=PAIRS, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_the_tensorboard_flag_of_the_command(tmp_path, capsys):
    config = tmp_path / "tiny.json"
    nested: dict = {}
    for key, value in TINY.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    config.write_text(json.dumps({"config": nested}))
    code = main(["train", str(config), "--epochs", "1", "--output-dir", str(tmp_path / "out"),
                 "--synthetic-pairs", str(PAIRS), "--no-progress",
                 "--tensorboard", str(tmp_path / "board")])
    assert code == 0, capsys.readouterr().err
    scalars, images = read_events(tmp_path / "board")
    assert [s for s, _ in scalars["loss/G_L1"]] == [0, 1] and len(images["examples"]) == 1
    saved = json.loads((tmp_path / "out" / "NectarGAN_v1" / "train1_config.json").read_text())
    assert saved["config"]["visualizer"]["tensorboard"] == str(tmp_path / "board")


@pytest.mark.parametrize("value", ["", 3, ["runs"]])
def test_a_bad_tensorboard_setting_is_named(value):
    with pytest.raises(ValueError, match="'visualizer.tensorboard' must be null"):
        tiny_config(**{"visualizer.tensorboard": value})


@pytest.mark.parametrize("key, value, message", [
    ("visualizer.visdom.update_frequency", 0, "an int >= 1, got 0"),
    ("visualizer.visdom.image_size", -5, "an int >= 1, got -5"),
    ("visualizer.visdom.port", 70000, "a port number in \\[1, 65535\\], got 70000"),
])
def test_bad_visdom_settings_are_named(key, value, message):
    with pytest.raises(ValueError, match=f"config key '{key}' must be {message}"):
        tiny_config(**{key: value})


@pytest.mark.parametrize("count, message", [
    (0, "save.num_examples must be an int >= 1 while save.save_examples is on, got 0"),
    (PAIRS + 1, f"save.num_examples={PAIRS + 1} but the example images' split holds {PAIRS}"),
])
def test_example_counts_the_split_cannot_give_are_refused_before_anything_is_written(
        tmp_path, count, message):
    config = tiny_config(tmp_path, **{"save.num_examples": count})
    with pytest.raises(ValueError, match=message):
        train(config, epochs=1, synthetic_pairs=PAIRS, progress=False)
    assert list(tmp_path.iterdir()) == []
