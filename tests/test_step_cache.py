"""The training step's executable kept on disk (``_step_cache``): loaded whole by a fresh
process that builds the same step, computing what a fresh compile computes; keyed by
everything the program depends on; unreadable files compiled again; a bounded folder."""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import count_compilations
from nectargan_jax.train._step import build_training
from nectargan_jax.train._step_cache import KEEP, _write, step_key
from train_helpers import tiny_config

TESTS = Path(__file__).parent

# Builds the tiny step, compiles it with the folder argv[1] as its cache, runs one step
# on fixed data and saves every leaf of the new state to argv[2]; prints what compiled.
_ONE_STEP = """
import sys
import jax, numpy as np
jax.config.update("jax_numpy_rank_promotion", "raise")  # as conftest sets it: same key
sys.path.insert(0, {tests!r})
from helpers import count_compilations
from test_step_cache import built, fixed_batch, numbers
fns, state = built()
with count_compilations() as log:
    step = fns.compile(state, fixed_batch(), cache=__import__("pathlib").Path(sys.argv[1]),
                       echo=print)
new = step(state, fixed_batch())
np.savez(sys.argv[2], *numbers(new))
print("compiled", log.count("_step"))
"""


def built(**overrides):
    """The tiny config's step functions and initial state."""
    return build_training(tiny_config(**overrides), steps_per_epoch=4, capacity=4)


def fixed_batch():
    """One batch of the tiny config (2 pairs of 16x16 RGB), the same in every process."""
    rng = np.random.default_rng(7)
    return tuple(jnp.asarray(rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32))
                 for _ in range(2))


def numbers(tree) -> list[np.ndarray]:
    """Every leaf of ``tree`` as a NumPy array (random keys as their key data)."""
    return [np.asarray(jax.random.key_data(leaf) if jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key) else leaf) for leaf in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A folder holding the tiny step's executable, kept by this process's compile."""
    folder = tmp_path_factory.mktemp("steps")
    fns, state = built()
    lines = []
    with count_compilations() as log:
        fns.compile(state, fixed_batch(), cache=folder, echo=lines.append)
    assert log.count("_step") == 1 and lines == []
    return folder


def _run_one_step(folder: Path, out: Path) -> str:
    child = subprocess.run(
        [sys.executable, "-c", _ONE_STEP.format(tests=str(TESTS)), str(folder), str(out)],
        capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr[-3000:]
    return child.stdout


def test_a_fresh_process_loads_the_kept_step_and_it_computes_what_jit_computes(kept, tmp_path):
    assert len(list(kept.glob("*.step"))) == 1
    stdout = _run_one_step(kept, tmp_path / "loaded.npz")
    assert stdout.splitlines()[-1] == "compiled 0", stdout
    loaded = np.load(tmp_path / "loaded.npz")
    fns, state = built()
    expected = numbers(fns.step(state, fixed_batch()))
    assert len(loaded.files) == len(expected)
    for i, leaf in enumerate(expected):
        np.testing.assert_array_equal(loaded[f"arr_{i}"], leaf)


def test_the_key_is_the_same_for_steps_built_the_same_way_and_changes_with_the_program(
        monkeypatch):
    fns, state = built()
    batch = fixed_batch()
    key = step_key(fns, (state, batch))
    assert step_key(*(lambda f, s: (f, (s, fixed_batch())))(*built())) == key
    other_model, other_state = built(**{"train.generator.features": 8})
    wider = tuple(jax.ShapeDtypeStruct((4, 16, 16, 3), jnp.float32) for _ in range(2))
    changed = {
        "a wider generator": step_key(other_model, (other_state, batch)),
        "another batch shape": step_key(fns, (state, wider)),
        "GAN health checks on": step_key(*(lambda f, s: (f, (s, batch)))(
            *built(**{"train.health": {}}))),
    }
    with monkeypatch.context() as patch:
        patch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
        changed["other XLA flags"] = step_key(fns, (state, batch))
    with jax.default_matmul_precision("highest"):
        changed["another JAX setting"] = step_key(fns, (state, batch))
    assert key not in changed.values(), changed
    assert len(set(changed.values())) == len(changed)
    # A loss weight is a number in the state, not part of the program: same key.
    assert step_key(*(lambda f, s: (f, (s, batch)))(
        *built(**{"train.loss.lambda_l1": 50.0}))) == key


def test_an_unreadable_kept_step_is_compiled_again_and_replaced(kept, tmp_path):
    folder = tmp_path / "steps"
    folder.mkdir()
    (path,) = kept.glob("*.step")
    (folder / path.name).write_bytes(b"not an executable")
    fns, state = built()
    lines = []
    step = fns.compile(state, fixed_batch(), cache=folder, echo=lines.append)
    assert len(lines) == 1 and "could not be loaded" in lines[0] and "compiling it again" in \
        lines[0], lines
    assert (folder / path.name).read_bytes() == path.read_bytes()
    assert int(step(state, fixed_batch()).step) == 1


def test_the_folder_keeps_the_most_recently_used_executables(tmp_path):
    for i in range(KEEP + 3):
        _write(tmp_path / f"{i:02d}.step", b"x")
        os.utime(tmp_path / f"{i:02d}.step", (i, i))
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        [f"{i:02d}.step" for i in range(3, KEEP + 3)]
