"""The README's examples (Flax NNX, weight rules) run as written and do what they say."""

import ast
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
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


def test_the_weight_rules_example_prints_the_weights_it_describes(tmp_path):
    text = README.read_text()
    section = text[text.index("### Weight rules"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    weights = ast.literal_eval(out.stdout.strip().splitlines()[-1])  # {name: [weights]}
    # Uncertainty: exp(-s)/2 times the loss's own weight, s = 0 then one Adam step of
    # 0.01 (Adam's first step is the learning rate times the gradient's sign).
    assert weights["rec"][:2] == pytest.approx([0.5, 0.5 * np.exp(0.01)], abs=1e-3)
    assert weights["edge"][:2] == pytest.approx([5.0, 5.0 * np.exp(-0.01)], abs=1e-3)
    # The gate keeps the adaptive weight at 0 for three steps, then lets it through.
    assert weights["gan"][:3] == [0.0, 0.0, 0.0] and min(weights["gan"][3:]) > 0
