"""The ``nectargan-jax`` command: train, plot-log, plot-schedule, and its errors."""

import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from nectargan_jax import LossLog
from nectargan_jax.train._cli import main
from nectargan_jax.train._compile_cache import cache_dir
from train_helpers import TINY


def _write_config(path, settings):
    """A config file holding ``settings`` (dotted keys) over nothing else."""
    nested: dict = {}
    for key, value in settings.items():
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    path.write_text(json.dumps({"config": nested}))
    return path


def _ink(path):
    """Fraction of pixels that are not white: a blank picture has none."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    return float(np.mean(pixels < 250))


def test_train_from_a_config_file(tmp_path, capsys):
    config = _write_config(tmp_path / "tiny.json", TINY)
    code = main(["train", str(config), "--epochs", "1", "--output-dir", str(tmp_path / "out"),
                 "--synthetic-pairs", "4", "--seed", "3", "--no-progress"])
    assert code == 0
    folder = tmp_path / "out" / "NectarGAN_v1"
    out = capsys.readouterr().out
    assert f"Everything is in {folder.resolve()}" in out
    log = LossLog(folder).read()["LOSSMANAGER_LOG"]["loss_functions"]
    assert {len(entry["loss"]) for entry in log.values()} == {2}
    saved = json.loads((folder / "train1_config.json").read_text())["config"]
    assert saved["common"]["output_directory"] == str(tmp_path / "out")
    assert saved["train"]["generator"]["features"] == 4
    assert (folder / "examples" / "epoch_0001.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "epochs must be a positive int, got epochs=0"),
    (["train", "--devices", "64"], "devices=64 but only"),
    (["train", "--batch-size", "0"], "dataloader.batch_size"),
    (["train", "--dataroot", "/nonexistent/data"], "has no 'train' folder"),
    (["train", "missing.json"], "config file not found: 'missing.json'"),
    (["plot-log", "nowhere/loss_log.json"], "no loss log at 'nowhere/loss_log.json'"),
    (["plot-schedule", "--kind", "wavy"], "wavy"),
    (["plot-schedule", "--start-epoch", "5", "--end-epoch", "5"],
     "end_epoch must be greater than start_epoch"),
])
def test_bad_input_exits_with_status_2_and_a_message(argv, message, capsys, tmp_path,
                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nectargan-jax {argv[0]}: error:") and message in err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_config_key_is_named(tmp_path, capsys):
    config = _write_config(tmp_path / "bad.json", {"train.generator.n_dwons": 3})
    assert main(["train", str(config), "--output-dir", str(tmp_path / "out")]) == 2
    assert "train.generator.n_dwons" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_plot_log_draws_every_loss_beside_the_log(tmp_path, capsys):
    with_log = LossLog(tmp_path)
    with_log.append({"G_L1": (np.linspace(50, 10, 20), np.full(20, 100.0)),
                     "D_real": (np.linspace(0.7, 0.5, 20), np.ones(20))})
    assert main(["plot-log", str(tmp_path / "loss_log.json"), "--steps-per-epoch", "5"]) == 0
    png = tmp_path / "loss_graphs.png"
    assert f"wrote {png}" in capsys.readouterr().out
    with Image.open(png) as image:  # two tags (G, D): two rows of two panels
        assert image.size == (880, 512)
    assert _ink(png) > 0.01


def test_plot_log_refuses_a_file_that_is_not_a_loss_log(tmp_path, capsys):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"config": {}}))
    assert main(["plot-log", str(other)]) == 2
    assert "is not a loss log" in capsys.readouterr().err


def test_plot_schedule_writes_the_curve(tmp_path):
    png = tmp_path / "lr.png"
    assert main(["plot-schedule", "--kind", "linear", "--start-epoch", "100", "--end-epoch",
                 "200", "--initial", "2e-4", "--target", "0", "-o", str(png)]) == 0
    with Image.open(png) as image:
        assert image.size == (640, 320)
    assert _ink(png) > 0.01


def test_python_dash_m_runs_the_command():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run([sys.executable, "-m", "nectargan_jax", "--help"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "{train,plot-log,plot-schedule,convert,test,export}" in result.stdout


# Two starts of the same config in one fresh process, JAX's in-memory caches cleared
# between them: what the second compiles is what a second process would.
_TWO_STARTS = """
import json, sys
import jax
sys.path.insert(0, {tests!r})
from helpers import count_compilations
from nectargan_jax.train._cli import main

argv = ["train", sys.argv[1], "--epochs", "1", "--synthetic-pairs", "4", "--no-progress",
        "--output-dir", sys.argv[2], "--compile-cache", sys.argv[3]]
events = []
jax.monitoring.register_event_listener(lambda event, **_: events.append(event))
counts = []
for start in range(2):
    jax.clear_caches()
    events.clear()
    with count_compilations() as log:  # compilations, whether from the cache or not
        assert main(argv) == 0
    counts.append({{"compiled": log.count(), "step": log.count("_step"),
                   "asked": events.count("/jax/compilation_cache/compile_requests_use_cache"),
                   "loaded": events.count("/jax/compilation_cache/cache_hits")}})
print(json.dumps(counts))
"""


def test_a_second_start_loads_every_compiled_function_from_the_cache(tmp_path):
    config = _write_config(tmp_path / "tiny.json", TINY)
    cache = tmp_path / "cache"
    child = subprocess.run(
        [sys.executable, "-c", _TWO_STARTS.format(tests=str(Path(__file__).parent)),
         str(config), str(tmp_path / "out"), str(cache)],
        capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    first, second = json.loads(child.stdout.strip().splitlines()[-1])
    # Every compilation goes through the cache; the first start finds nothing there, the
    # second finds everything, the training step included.
    assert first["step"] == 1 and first["compiled"] == first["asked"] > 1
    assert first["loaded"] == 0
    assert second["step"] == 1 and second["loaded"] == second["asked"] == second["compiled"]
    assert any(cache.iterdir())
    assert "compiling the training step ...\ncompiled the training step in" in child.stdout


@pytest.mark.parametrize("flag, environ, expected", [
    (None, {"XDG_CACHE_HOME": "/c"}, "/c/nectargan_jax/xla"),
    (None, {"NECTARGAN_JAX_COMPILE_CACHE": "/e", "XDG_CACHE_HOME": "/c"}, "/e"),
    ("/f", {"NECTARGAN_JAX_COMPILE_CACHE": "off"}, "/f"),
    ("OFF", {"NECTARGAN_JAX_COMPILE_CACHE": "/e"}, None),
    (None, {"NECTARGAN_JAX_COMPILE_CACHE": "no"}, None),
    (None, {"JAX_COMPILATION_CACHE_DIR": "/j"}, None),  # JAX uses the user's own
    ("/f", {"JAX_COMPILATION_CACHE_DIR": "/j"}, "/f"),
])
def test_the_compile_cache_folder(flag, environ, expected):
    found = cache_dir(flag, environ)
    assert (None if found is None else str(found)) == expected


def test_a_compile_cache_that_is_a_file_is_refused(tmp_path, capsys):
    blocker = tmp_path / "cache"
    blocker.write_text("")
    config = _write_config(tmp_path / "tiny.json", TINY)
    assert main(["train", str(config), "--compile-cache", str(blocker),
                 "--output-dir", str(tmp_path / "out")]) == 2
    assert f"--compile-cache {str(blocker)!r} is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
