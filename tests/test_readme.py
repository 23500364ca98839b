"""The README's Flax NNX example runs as written and does what it says."""

import json
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def nnx_example() -> str:
    text = README.read_text()
    section = text[text.index("### Flax NNX"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_flax_nnx_example_trains_logs_and_checkpoints(tmp_path):
    out = subprocess.run([sys.executable, "-c", nnx_example()], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert [line.split(" Loss:")[0] for line in lines[:3]] == [
        f"(epoch: {e}, iters: 8)" for e in range(3)]
    # lambda_l1 is linear 100 -> 10 over epochs [0, 3]: 100, 70, 40 for 8 steps each.
    assert lines[-1] == "Loss weights: G_GAN: 1.0 G_L1: 40.0 D_real: 1.0 D_fake: 1.0"
    log = json.loads((tmp_path / "runs/nnx/loss_log.json").read_text())
    functions = log["LOSSMANAGER_LOG"]["loss_functions"]
    assert list(functions) == ["G_GAN", "G_L1", "D_real", "D_fake"]
    assert functions["G_L1"]["weights"] == pytest.approx([100.0] * 8 + [70.0] * 8 + [40.0] * 8)
    assert all(len(f["loss"]) == 24 for f in functions.values())
