"""XLA CPU flags of the training command: added, never overriding the user's, and in effect.

XLA reads ``XLA_FLAGS`` once per process, so the command-line path runs in subprocesses.
"""

import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from nectargan_jax import _xla_flags
from nectargan_jax._xla_flags import CPU_FLAGS
from nectargan_jax._xla_flags import SWITCH
from nectargan_jax._xla_flags import apply_cpu_flags
from nectargan_jax._xla_flags import with_cpu_flags
from nectargan_jax.train._cli import main

OURS = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
ROOT = Path(__file__).resolve().parents[1]

# Runs ``nectargan-jax`` as a program (argv from sys.argv) with ``train`` replaced by a
# probe that compiles a convolution and reports XLA_FLAGS and whether XLA handed the
# convolution to YNNPACK (this jaxlib's default, which the command's flag turns off).
PROBE = """
import json, os, sys
import jax, jax.numpy as jnp
import nectargan_jax.train._loop as loop

def probe(config, **kwargs):
    conv = jax.jit(lambda x, k: jax.lax.conv_general_dilated(
        x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")))
    hlo = conv.lower(jnp.ones((1, 34, 34, 32)), jnp.ones((4, 4, 32, 64))).compile().as_text()
    print(json.dumps({"xla_flags": os.environ.get("XLA_FLAGS"),
                      "ynn_conv": '"__ynn_fusion"' in hlo}))

loop.train = probe
from nectargan_jax.train._cli import main
sys.argv = ["nectargan-jax", *sys.argv[1:]]
raise SystemExit(main())
"""


def run_command(args, xla_flags=None, switch=None):
    """``nectargan-jax ARGS`` in a fresh process -> what the probe saw."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", SWITCH)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    if switch is not None:
        env[SWITCH] = switch
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_flag_is_the_documented_one():
    assert CPU_FLAGS == (OURS,)


@pytest.mark.parametrize("user, expected", [
    ("", OURS),
    ("  ", OURS),
    ("--xla_cpu_use_thunk_runtime=true", f"--xla_cpu_use_thunk_runtime=true {OURS}"),
    # The user's own value for the same option wins, whatever it is.
    ("--xla_cpu_experimental_ynn_fusion_type=", "--xla_cpu_experimental_ynn_fusion_type="),
    ("--xla_force_host_platform_device_count=8 "
     "--xla_cpu_experimental_ynn_fusion_type=+individual_dot",
     "--xla_force_host_platform_device_count=8 "
     "--xla_cpu_experimental_ynn_fusion_type=+individual_dot"),
])
def test_flags_are_added_never_overriding(user, expected):
    assert with_cpu_flags(user) == expected


def test_apply_changes_only_the_given_environment():
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert apply_cpu_flags(environ) is True
    assert environ == {"XLA_FLAGS": f"--xla_force_host_platform_device_count=2 {OURS}"}
    assert apply_cpu_flags(environ) is True  # a second call adds nothing
    assert environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=2 {OURS}"
    fresh: dict = {}
    assert apply_cpu_flags(fresh) is True and fresh == {"XLA_FLAGS": OURS}


@pytest.mark.parametrize("value", ["0", "false", "OFF", " no "])
def test_the_switch_turns_them_off(value):
    environ = {SWITCH: value, "XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true"}
    assert apply_cpu_flags(environ) is False
    assert environ == {SWITCH: value, "XLA_FLAGS": "--xla_cpu_use_thunk_runtime=true"}


def test_an_unchecked_jaxlib_gets_no_flags(monkeypatch):
    """An unknown XLA flag aborts the process: only checked releases get them."""
    monkeypatch.setattr(_xla_flags.importlib.metadata, "version", lambda name: "0.11.0")
    environ: dict = {}
    assert apply_cpu_flags(environ) is False and environ == {}


def test_main_called_from_python_leaves_the_environment_alone(monkeypatch, tmp_path):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert main(["plot-schedule", "-o", str(tmp_path / "s.png")]) == 0
    assert main(["train", "--epochs", "0"]) == 2  # bad input, before any training
    assert "XLA_FLAGS" not in os.environ


def test_the_command_sets_them_and_they_take_effect():
    assert run_command(["train"]) == {"xla_flags": OURS, "ynn_conv": False}
    assert run_command([]) == {"xla_flags": OURS, "ynn_conv": False}  # train by default
    # Off by switch or flag: XLA's default (YNNPACK convolutions on this jaxlib).
    assert run_command(["train", "--no-xla-cpu-flags"]) == {"xla_flags": None,
                                                           "ynn_conv": True}
    assert run_command(["train"], switch="0") == {"xla_flags": None, "ynn_conv": True}
    # The user's own setting of the option is kept, and is what XLA uses.
    user = "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution"
    assert run_command(["train"], xla_flags=user) == {"xla_flags": user, "ynn_conv": True}


# A script's own loop: the public call, made after importing the training package and
# before the first computation, puts the flags in effect.
SCRIPT = """
import json, os
import jax, jax.numpy as jnp
from nectargan_jax.train import apply_cpu_flags
applied = apply_cpu_flags()
conv = jax.jit(lambda x, k: jax.lax.conv_general_dilated(
    x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")))
hlo = conv.lower(jnp.ones((1, 34, 34, 32)), jnp.ones((4, 4, 32, 64))).compile().as_text()
print(json.dumps({"applied": applied, "xla_flags": os.environ.get("XLA_FLAGS"),
                  "ynn_conv": '"__ynn_fusion"' in hlo}))
"""


def test_scripts_apply_them_with_the_public_call():
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", SWITCH)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == {"applied": True, "xla_flags": OURS, "ynn_conv": False}
