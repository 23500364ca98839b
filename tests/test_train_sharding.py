"""Data parallel training: 8 simulated CPU devices give what 1 device gives (the single
step on 8, the scanned one on 1)."""

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

from helpers import simulated_devices_env

TESTS = Path(__file__).parent

# Runs in a child process: the device count is fixed when jax is first imported.
_CHILD = """
import json, pathlib, sys
sys.path.insert(0, {tests!r})
import jax
import numpy as np
from train_helpers import tiny_config
from nectargan_jax.manager import reporting
from nectargan_jax.train._loop import train

assert jax.local_device_count() == 8, jax.devices()
# 32 pixels: at 16 the last down block maps 4x4 to 2x2 and a quarter of its kernel taps
# read the same (reflected) pixel at all four outputs, which instance norm then removes:
# their gradient is 0 up to rounding, and Adam turns rounding into full steps.
config = tiny_config(sys.argv[1], **{{"dataloader.batch_size": 8, "save.save_model": False,
                                     "save.save_examples": False,
                                     "dataloader.load.crop_size": 32,
                                     "dataloader.load.load_size": 32, **json.loads(sys.argv[2])}})
out = {{}}
steps = pathlib.Path(sys.argv[1], "steps")
# One device through the scanned step, eight through the single step, then one device
# again, its step loaded from the folder the first run kept it in (a step sharded over
# several devices is not kept).
for key, devices, per_dispatch in (("1", 1, 2), ("8", 8, 1), ("1 again", 1, 2)):
    result = train(config, epochs=2, devices=devices, steps_per_dispatch=per_dispatch,
                   synthetic_pairs=16, progress=False, echo=lambda _: None,
                   compile_cache=steps)
    log = json.loads(result.experiment.log.read_text())["LOSSMANAGER_LOG"]
    out[key] = {{
        "kept": len(list(steps.glob("*.step"))),
        "log": log["loss_functions"],
        "params": [np.asarray(a).ravel().tolist() for a in
                   jax.tree.leaves((result.state.gen_params, result.state.disc_params))],
        "latest": reporting.loss_values(result.state.manager, precision=8),
        "replicated": all(leaf.sharding.is_fully_replicated
                          for leaf in jax.tree.leaves(result.state)),
        "devices": len(jax.tree.leaves(result.state.gen_params)[0].devices()),
    }}
print(json.dumps(out))
"""


# Fixed weights, and both weight rules of the config (their last-layer gradients and
# log-variances computed from the sharded batch).
@pytest.mark.parametrize("rules", [{}, {
    "train.loss.lambda_sobel": 10.0, "train.loss.adaptive_gan_weight": {},
    "train.loss.uncertainty_weighting": {"losses": ["G_L1", "G_SOBEL"]}}],
    ids=["fixed weights", "adaptive and uncertainty weights"])
def test_eight_devices_match_one_device(tmp_path, rules):
    env = simulated_devices_env(8)
    child = subprocess.run(
        [sys.executable, "-c", _CHILD.format(tests=str(TESTS)), str(tmp_path),
         json.dumps(rules)],
        env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    out = json.loads(child.stdout.strip().splitlines()[-1])
    one, eight, again = out["1"], out["8"], out["1 again"]
    assert one["devices"] == 1 and eight["devices"] == 8
    assert (one["kept"], eight["kept"], again["kept"]) == (1, 1, 1)
    assert again["log"] == one["log"] and again["params"] == one["params"]
    assert eight["replicated"]  # parameters, optimizer states and the manager
    for name, entry in one["log"].items():
        assert len(entry["loss"]) == 2 * 16 // 8
        np_close(eight["log"][name]["loss"], entry["loss"])
        if rules:  # weights computed from the losses' gradients: float rounding
            np_close(eight["log"][name]["weights"], entry["weights"])
        else:
            assert eight["log"][name]["weights"] == entry["weights"]
    for a, b in zip(one["params"], eight["params"]):
        np_close(b, a)
    np_close(list(eight["latest"].values()), list(one["latest"].values()))


def np_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, float), np.asarray(expected, float),
                               rtol=1e-5, atol=1e-5)
