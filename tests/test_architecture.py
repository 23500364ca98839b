"""The layout docs/architecture.md describes: public faces, allowed imports, no Flax for
schedules."""

import ast
import importlib
from pathlib import Path
import subprocess
import sys

import pytest

import nectargan_jax

PACKAGE = Path(nectargan_jax.__file__).parent
# What each library package may import of the others (floor 1 is open to all).
ALLOWED = {
    "scheduling": set(),
    "weighting": {"scheduling"},
    "losses": {"scheduling"},
    "health": set(),
    "log": set(),
    "manager": {"scheduling", "weighting", "losses"},
}
PACKAGES = sorted(p.name for p in PACKAGE.iterdir()
                  if (p / "__init__.py").exists() and not p.name.startswith("_"))


def imported_modules(path: Path) -> set[str]:
    """Every ``nectargan_jax...`` module a file imports (at any depth of the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("nectargan_jax.")}


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_lists_its_public_names(package):
    module = importlib.import_module(f"nectargan_jax.{package}")
    assert module.__all__
    for name in module.__all__:
        assert not name.startswith("_") and getattr(module, name) is not None, name


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_public_faces_it_may_use(package):
    for path in sorted((PACKAGE / package).glob("*.py")):
        for name in imported_modules(path):
            parts = name.split(".")
            other = parts[1]
            if other.startswith("_") or other == package:
                continue  # floor 1, or its own modules
            assert other in ALLOWED[package], f"{path.name} imports {name}"
            assert not any(p.startswith("_") for p in parts[2:3]), \
                f"{path.name} imports the private {name} of another package"


def test_the_top_level_names_resolve():
    for name in nectargan_jax.__all__:
        assert getattr(nectargan_jax, name) is not None, name


def test_importing_schedules_imports_no_flax():
    code = ("import sys, nectargan_jax.scheduling as s; s.linear(0, 1, 1.0, 0.0); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flax', 'orbax')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=True)
    assert out.stdout.strip() == "[]"


# Imports that fail as they do where only ``pip install nectargan-jax`` ran (no extras).
WITHOUT_EXTRAS = """
import sys
BLOCKED = {"orbax", "PIL", "matplotlib", "tqdm", "dm_pix", "tensorboardX", "torch"}

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NotInstalled())
import jax.numpy as jnp
import nectargan_jax
from nectargan_jax import scheduling, weighting
from nectargan_jax.losses import l1
from nectargan_jax.log import LossLog
from nectargan_jax.manager import LossManager
for name in nectargan_jax.__all__:
    if name != "train":
        getattr(nectargan_jax, name)
lm = LossManager().register("L1", l1, weight=scheduling.linear(0, 2, 4.0, 0.0))
lm = lm.with_rule(weighting.uncertainty(), ["L1"])
out, lm = lm.compute_many({"L1": (jnp.ones((1, 2, 2, 1)), jnp.zeros((1, 2, 2, 1)))}, 1)
print(float(out.weights["L1"]))
try:
    import nectargan_jax.train
except ModuleNotFoundError as error:
    print(error)
"""


def test_the_library_runs_without_the_train_extra_and_the_trainer_names_it():
    out = subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    weight, refusal = out.stdout.strip().splitlines()
    # linear 4 -> 0 over epochs [0, 2] at epoch 1 is 2, times uncertainty's exp(-0) / 2.
    assert float(weight) == pytest.approx(1.0)
    assert refusal == ("the trainer (nectargan_jax.train, the nectargan-jax command) needs "
                       "orbax-checkpoint, pillow, matplotlib, tqdm, dm-pix, which are not "
                       "installed: pip install 'nectargan-jax[train]'.")
