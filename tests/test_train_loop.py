"""The training loop: it learns, writes its folder, rejects bad input untouched, survives SIGKILL."""

import json
import os
from pathlib import Path
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
import pytest

from helpers import count_compilations
from nectargan_jax.train import SyntheticPairs, load_config
from nectargan_jax.train._loop import train
from nectargan_jax.train._step import Pix2PixStep
from train_helpers import tiny_config

TESTS = Path(__file__).parent
EPOCHS, PAIRS, BATCH = 10, 16, 4
# A learning rate high enough that 40 steps of the tiny model show learning.
LEARNING = {"dataloader.batch_size": BATCH, "train.generator.learning_rate.initial": 5e-3,
            "train.discriminator.learning_rate.initial": 5e-3}
QUIET = {"progress": False, "synthetic_pairs": PAIRS}


def _config(output_dir, **extra):
    return tiny_config(output_dir, **{**LEARNING, **extra})


def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _l1_per_epoch(log_path):
    log = json.loads(Path(log_path).read_text())["LOSSMANAGER_LOG"]["loss_functions"]
    return np.asarray(log["G_L1"]["loss"]).reshape(EPOCHS, -1).mean(axis=1) / 100.0


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    lines = []
    config = _config(out, **{"save.model_save_rate": 5, "save.example_save_rate": 5,
                             "save.num_examples": 2})
    result = train(config, epochs=EPOCHS, echo=lines.append, **QUIET)
    return result, config, "\n".join(lines)


def test_the_generator_learns(run):
    l1 = _l1_per_epoch(run[0].experiment.log)
    # Mean |G(x) - y| over an epoch: the last is well under the first (about 0.33 -> 0.14).
    assert l1[-1] < 0.6 * l1[0], l1


def test_the_experiment_folder_holds_everything(run):
    result, config, summary = run
    folder = result.experiment.dir
    assert folder.name == "NectarGAN_v1"
    log = json.loads(result.experiment.log.read_text())["LOSSMANAGER_LOG"]
    assert not result.experiment.log.with_name("loss_log.json.journal").exists()
    assert list(log["loss_functions"]) == ["G_GAN", "G_L1", "D_real", "D_fake", "G_L2",
                                           "G_SOBEL", "G_LAP"]
    steps = EPOCHS * PAIRS // BATCH
    assert {len(v["loss"]) for v in log["loss_functions"].values()} == {steps}
    assert set(log["loss_functions"]["G_L1"]["weights"]) == {100.0}
    # Examples after epochs 5 and 10: two rows of input | output | target, 16x16 each.
    assert sorted(p.name for p in result.experiment.examples.iterdir()) == [
        "epoch_0005.png", "epoch_0010.png"]
    with Image.open(result.experiment.example(10)) as image:
        assert image.size == (3 * 16, 2 * 16)
        grid = np.asarray(image, int)
    # Left and right thirds: two different pairs of the held-out synthetic split (seed + 1),
    # mapped from [-1, 1] to [0, 255].
    held_out = [SyntheticPairs(PAIRS, 16, seed=1).load(i, None) for i in range(PAIRS)]
    found = set()
    for row in range(2):
        rows = slice(16 * row, 16 * row + 16)
        index = next(i for i, (x, _) in enumerate(held_out)
                     if np.abs(grid[rows, :16] - np.round((x + 1) * 127.5)).max() <= 1)
        np.testing.assert_allclose(grid[rows, 32:], np.round((held_out[index][1] + 1) * 127.5),
                                   atol=1)
        found.add(index)
    assert len(found) == 2
    with Image.open(result.experiment.graphs) as graphs:
        assert graphs.format == "PNG" and graphs.size[0] > 300
    saved = json.loads((folder / "train1_config.json").read_text())
    assert saved == {"config": config.to_dict()}
    assert load_config(folder / "train1_config.json") == config
    assert sorted(p.name for p in result.experiment.checkpoints.iterdir()) == ["10", "5"]
    assert str(folder.resolve()) in summary and "loss_log.json" in summary
    # Orbax compresses: the sizes depend on the values and may round apart (a range).
    assert re.search(r"checkpoints/<epoch> \(epochs \[5, 10\]: \d+\.\d(-\d+\.\d)? MB each, "
                     r"the newest 3 kept\)", summary), summary
    assert "compiling the training step ...\ncompiled the training step in" in summary
    # The summary names the example files as they are on disk.
    assert "examples/ epoch_0005.png, epoch_0010.png" in summary, summary
    assert int(result.state.step) == steps


def test_the_loop_dispatches_the_single_step_compiled_once(tmp_path, monkeypatch):
    """One call per step of the compiled ``Pix2PixStep.step`` that ``Pix2PixStep.compile``
    gives (what bench_train_step.py times), compiled once before the first epoch; the
    scanned ``steps`` is neither compiled nor called."""
    calls = {"compile": [], "step": 0, "steps": 0, "dispatched": 0}

    def compile_counted(self, *args, _real=Pix2PixStep.compile, **kwargs):
        compiled = _real(self, *args, **kwargs)
        calls["compile"].append(kwargs.get("scan", False))

        def dispatched(*call_args):
            calls["dispatched"] += 1
            return compiled(*call_args)
        return dispatched

    monkeypatch.setattr(Pix2PixStep, "compile", compile_counted)
    for name in ("step", "steps"):
        def counted(self, *args, _name=name, _real=getattr(Pix2PixStep, name)):
            calls[_name] += 1
            return _real(self, *args)
        monkeypatch.setattr(Pix2PixStep, name, counted)
    # Batches of 2 (the fixture's are 4): a shape this process has not compiled yet.
    config = _config(tmp_path, **{"dataloader.batch_size": 2, "save.save_model": False,
                                  "save.save_examples": False})
    with count_compilations() as log:
        train(config, epochs=2, echo=lambda _: None, **QUIET)
    assert calls == {"compile": [False], "step": 0, "steps": 0,
                     "dispatched": 2 * PAIRS // 2}
    assert log.count("_step") == 1 and log.count("_steps") == 0, log.names


def test_only_the_newest_checkpoints_are_kept(run, tmp_path):
    lines = []
    config = _config(tmp_path, **{"save.model_save_rate": 1, "save.keep_checkpoints": 2})
    result = train(config, epochs=3, echo=lines.append, **QUIET)
    assert sorted(p.name for p in result.experiment.checkpoints.iterdir()) == ["2", "3"]
    assert re.search(r"\(epochs \[2, 3\]: \d+\.\d(-\d+\.\d)? MB each, the newest 2 kept\)",
                     lines[-1]), lines[-1]


def _write_image(path, size):
    Image.new("RGB", size, (10, 20, 30)).save(path)


def _bad_dataroot(tmp_path, kind):
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    if kind == "unreadable":
        _write_image(root / "train" / "a.png", (32, 16))
        (root / "train" / "b.png").write_bytes(b"not an image")
    return root


@pytest.mark.parametrize("case, error, message", [
    ("missing dataroot", FileNotFoundError, "has no 'train' folder"),
    ("empty dataset", ValueError, "no images"),
    ("unreadable image", ValueError, "cannot read the image .*b.png"),
    ("batch larger than data", ValueError, "dataloader.batch_size=32 is larger"),
    ("zero epochs", ValueError, "epochs must be a positive int, got epochs=0"),
    ("too many devices", ValueError, "devices=64 but only"),
    ("other config", ValueError, "other training settings"),
    ("fewer epochs than trained", ValueError, "epochs=3 but .* has already trained 10"),
])
def test_bad_input_is_refused_before_the_folder_changes(run, tmp_path, case, error, message):
    result = run[0]
    folder = result.experiment.dir
    before = _snapshot(folder)
    extra, kwargs = {}, {"epochs": EPOCHS + 1}
    if case == "missing dataroot":
        extra["dataloader.dataroot"] = str(tmp_path / "nowhere")
    elif case == "empty dataset":
        extra["dataloader.dataroot"] = str(_bad_dataroot(tmp_path, "empty"))
    elif case == "unreadable image":
        extra["dataloader.dataroot"] = str(_bad_dataroot(tmp_path, "unreadable"))
    elif case == "batch larger than data":
        extra["dataloader.batch_size"] = 32
    elif case == "zero epochs":
        kwargs["epochs"] = 0
    elif case == "too many devices":
        kwargs["devices"] = 64
    elif case == "fewer epochs than trained":
        kwargs["epochs"] = 3
    else:
        extra["train.generator.features"] = 8
    config = _config(folder.parent, **extra)
    with pytest.raises(error, match=message):
        train(config, resume=True, **QUIET, **kwargs)
    assert _snapshot(folder) == before
    assert sorted(p.name for p in folder.parent.iterdir()) == ["NectarGAN_v1"]


def test_an_output_folder_that_cannot_be_created_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="is a file"):
        train(_config(blocker / "out"), epochs=1, **QUIET)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_an_existing_folder_is_not_reused_without_auto_increment(run):
    folder = run[0].experiment.dir
    config = _config(folder.parent, **{"save.auto_increment_version": False})
    with pytest.raises(FileExistsError, match="NectarGAN_v1.*exists"):
        train(config, epochs=1, **QUIET)


_CHILD = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from train_helpers import tiny_config
from nectargan_jax.train import SyntheticPairs
from nectargan_jax.train._loop import train
out = Path(sys.argv[1])
config = tiny_config(out, **{learning!r}, **{{"save.model_save_rate": 1,
                                              "save.example_save_rate": 100}})
train(config, epochs={epochs}, resume=(out / "NectarGAN_v1").exists(), log_every=1,
      progress=False, synthetic_pairs={pairs}, echo=lambda _: None)
"""


def _records_logged(folder):
    journal = folder / "loss_log.json.journal"
    return journal.exists() and journal.stat().st_size > 0


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(run, tmp_path):
    script = _CHILD.format(tests=str(TESTS), learning=LEARNING, epochs=EPOCHS, pairs=PAIRS)
    # The children share the session's compilation cache (conftest), every function in it.
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
           "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
    out = tmp_path / "out"
    folder = out / "NectarGAN_v1"
    rng = random.Random(0)
    kills = 0
    for _ in range(2):
        child = subprocess.Popen([sys.executable, "-c", script, str(out)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while child.poll() is None and not _records_logged(folder) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        _, err = child.communicate(timeout=60)
        assert child.returncode in (0, -signal.SIGKILL), err.decode()[-2000:]
    final = subprocess.run([sys.executable, "-c", script, str(out)], env=env,
                           capture_output=True, timeout=180)
    assert final.returncode == 0, final.stderr.decode()[-2000:]
    assert kills >= 1

    expected = json.loads(run[0].experiment.log.read_text())["LOSSMANAGER_LOG"]
    got = json.loads((folder / "loss_log.json").read_text())["LOSSMANAGER_LOG"]
    for name, entry in expected["loss_functions"].items():
        assert len(got["loss_functions"][name]["loss"]) == len(entry["loss"]), name
        np.testing.assert_allclose(got["loss_functions"][name]["loss"], entry["loss"],
                                   rtol=1e-5, err_msg=name)
        assert got["loss_functions"][name]["weights"] == entry["weights"]
