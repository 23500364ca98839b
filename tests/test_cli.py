"""The ``nectargan-jax`` command: train, plot-log, plot-schedule, and its errors."""

import errno
import io
import json
import os
from pathlib import Path
import struct
import subprocess
import sys
import zlib

import numpy as np
import orbax.checkpoint as ocp
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
    (["train", "--synthetic-pairs", "0"],
     "synthetic_pairs must be a positive int, got synthetic_pairs=0"),
    (["train", "--seed", "-1"], "seed must be an int >= 0, got seed=-1"),
    (["plot-log", "nowhere/loss_log.json", "--steps-per-epoch", "0"],
     "steps_per_epoch must be a positive int (or None: the x axis in records), got "
     "steps_per_epoch=0"),
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


def _broken_stream_png(path):
    """A PNG whose chunk checksums hold but whose compressed pixels are garbage: its
    header checks pass and decoding fails."""
    stream = io.BytesIO()
    Image.fromarray(np.full((16, 32, 3), 7, np.uint8)).save(stream, format="PNG")
    data = bytearray(stream.getvalue())
    at = data.find(b"IDAT")
    length = struct.unpack(">I", data[at - 4:at])[0]
    body = bytes(b ^ 0xFF if 2 <= k < length - 4 else b
                 for k, b in enumerate(data[at + 4:at + 4 + length]))
    data[at + 4:at + 4 + length] = body
    data[at + 4 + length:at + 8 + length] = struct.pack(">I", zlib.crc32(b"IDAT" + body))
    path.write_bytes(bytes(data))


def test_an_image_that_fails_to_decode_mid_run_is_named_in_one_line(tmp_path, capsys):
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    for name in ("val/good.png", "train/a.png", "train/b.png", "train/c.png"):
        Image.new("RGB", (32, 16), (200, 10, 10)).save(root / name)
    _broken_stream_png(root / "train" / "bad.png")  # 4 pairs: 2 steps, like the other runs
    config = _write_config(tmp_path / "tiny.json", TINY)
    code = main(["train", str(config), "--dataroot", str(root), "--epochs", "1",
                 "--output-dir", str(tmp_path / "out"), "--no-progress",
                 "--compile-cache", "off"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"nectargan-jax train: error: cannot decode the image "
                          f"{str(root / 'train' / 'bad.png')!r}: broken data stream"), err
    assert "resume with --resume" in err
    assert (tmp_path / "out" / "NectarGAN_v1" / "train1_config.json").is_file()  # mid-run


def test_a_corrupt_image_is_refused_before_anything_is_written(tmp_path, capsys):
    root = tmp_path / "data"
    (root / "train").mkdir(parents=True)
    (root / "val").mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (32, 16)).save(root / "train" / name)
    Image.new("RGB", (32, 16)).save(root / "val" / "a.png")
    (root / "val" / "b.png").write_bytes(b"")
    config = _write_config(tmp_path / "tiny.json", TINY)
    code = main(["train", str(config), "--dataroot", str(root), "--epochs", "1",
                 "--output-dir", str(tmp_path / "out"), "--no-progress",
                 "--compile-cache", "off"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the image" in err and "b.png" in err, err
    assert not (tmp_path / "out").exists()


def test_a_full_disk_at_a_checkpoint_exits_2_in_one_line_and_resumes(tmp_path, capsys,
                                                                     monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    config = _write_config(tmp_path / "tiny.json", TINY)
    argv = ["train", str(config), "--epochs", "1", "--output-dir", str(tmp_path / "out"),
            "--synthetic-pairs", "4", "--no-progress", "--compile-cache", "off"]
    assert main(argv) == 2
    folder = tmp_path / "out" / "NectarGAN_v1"
    assert capsys.readouterr().err == (
        f"nectargan-jax train: error: disk full (or file too large) writing checkpoint 1 to "
        f"{folder / 'checkpoints' / '1'}; nothing lost, resume with --resume\n")
    log = LossLog(folder).read()["LOSSMANAGER_LOG"]["loss_functions"]
    assert {len(entry["loss"]) for entry in log.values()} == {2}  # flushed before the save
    monkeypatch.undo()
    assert main(argv + ["--resume"]) == 0
    again = LossLog(folder).read()["LOSSMANAGER_LOG"]["loss_functions"]
    assert again == log  # the epoch retrained, its records not written twice
    assert (folder / "checkpoints" / "1").is_dir()


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
    # Every compilation goes through JAX's cache; the first start finds nothing there,
    # the second finds everything. The training step's whole executable is kept in
    # 'steps', and the second start loads it without compiling (or tracing) it.
    assert first["step"] == 1 and first["compiled"] == first["asked"] > 1
    assert first["loaded"] == 0
    assert second["step"] == 0 and second["loaded"] == second["asked"] == second["compiled"]
    assert len(list((cache / "steps").glob("*.step"))) == 1
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
