"""Every Python block of the README and of docs/*.md runs as written and does what it says.

Each block runs in a fresh interpreter in an empty folder; its check compares what it
printed or wrote with numbers worked out by hand. A block without a check fails
``test_every_python_block_has_a_check``, so a new example cannot go untested.
"""

import ast
import json
import math
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def prose(text: str) -> str:
    """``text`` with every fenced block blanked out, at the same offsets."""
    return re.sub(r"^```.*?^```", lambda m: re.sub(r"[^\n]", " ", m.group()), text,
                  flags=re.M | re.S)


def python_blocks(page: pathlib.Path) -> list[tuple[str, str]]:
    """``(heading, code)`` of each Python block, ``heading`` the nearest one above it."""
    text = page.read_text()
    headings = [(m.start(), m.group(1).strip()) for m in HEADING.finditer(prose(text))]
    return [(max((h for h in headings if h[0] < m.start()), default=(0, ""))[1], m.group(1))
            for m in BLOCK.finditer(text)]


BLOCKS = {(page.name, heading): code for page in PAGES
          for heading, code in python_blocks(page)}


def run(code: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def loss_functions(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())["LOSSMANAGER_LOG"]["loss_functions"]


# One check per block: (stdout, stderr, the folder it ran in). ----------------------------

def check_readme_library(stdout, stderr, cwd):
    # G_L1: linear 100 -> 10 over epochs [0, 4]; G_GAN: gate(2) is 0 for steps 0 and 1.
    assert stdout.strip().splitlines()[-1] == "{'G_L1': 32.5, 'G_GAN': 1.0}"
    functions = loss_functions(cwd / "runs/example/loss_log.json")
    assert functions["G_L1"]["weights"] == pytest.approx([100.0, 77.5, 55.0, 32.5])
    assert functions["G_GAN"]["weights"] == [0.0, 0.0, 1.0, 1.0]
    # At epoch e the images are 0.1 e and -0.1 e (L1 0.2 e) and the logit 0.1 e, whose
    # BCE against 1 is log(1 + exp(-0.1 e)); the log holds the weighted losses.
    l1 = [w * 0.2 * e for e, w in enumerate([100.0, 77.5, 55.0, 32.5])]
    gan = [w * math.log1p(math.exp(-0.1 * e)) for e, w in enumerate([0, 0, 1, 1])]
    assert functions["G_L1"]["loss"] == pytest.approx(l1, rel=1e-5)
    assert functions["G_GAN"]["loss"] == pytest.approx(gan, rel=1e-5)


def check_readme_training(stdout, stderr, cwd):
    lines = stdout.strip().splitlines()
    # The embedded default's learning rate is 2e-4 for its first 4 epochs.
    assert [line for line in lines if line.split()[0] in ("1", "2")] == [
        "1 0.0002", "2 0.0002"]
    assert ast.literal_eval(lines[-1]) == [
        "checkpoints", "examples", "loss_graphs.png", "loss_log.json", "train1_config.json"]
    functions = loss_functions(cwd / "runs/NectarGAN_v1/loss_log.json")
    # 4 pairs at batch 4: one step per epoch, two epochs.
    assert all(len(f["loss"]) == 2 for f in functions.values())


def check_config(stdout, stderr, cwd):
    from nectargan_jax.train import load_config
    # The reference's default config: n_downs 6, 100 + 100 epochs at 2e-4 then to 0.
    assert stdout.strip().splitlines() == [
        "6 50.0 200",
        "128 LearningRateConfig(epochs=100, epochs_decay=50, initial=0.0002, target=0.0)"]
    assert load_config(cwd / "my.json") == load_config(overrides={"train.loss.lambda_l1": 50})


def check_schedules(stdout, stderr, cwd):
    lines = stdout.strip().splitlines()
    # Halfway from 2e-4 to 0 (and to 1e-5); to_optax at step 1500 = epoch 150.
    assert float(lines[0]) == pytest.approx(1e-4)
    assert np.array(lines[1].strip("[]").split(), float) == pytest.approx([1e-4, 1.05e-4])
    assert lines[2].split() == [lines[2].split()[0], "True"]
    assert float(lines[2].split()[0]) == pytest.approx(1e-4)


def check_loss_manager(stdout, stderr, cwd):
    lines = stdout.strip().splitlines()
    # G_L1 at epoch 150 weighs 50 (halfway from 100 to 0), |0 - 1| = 1; BCE(0, 1) = log 2.
    assert lines[0] == "(epoch: 150, iters: 3) Loss: G_L1: 50.0 G_GAN: 0.69"
    values, weights = lines[1].split("} {")
    # loss_values rounds to 2 decimals by default (precision=2).
    assert ast.literal_eval(values + "}") == pytest.approx(
        {"G_L1": 50.0, "G_GAN": math.log(2)}, abs=0.005)
    assert ast.literal_eval("{" + weights) == {"G_L1": 50.0, "G_GAN": 1.0}
    functions = loss_functions(cwd / "runs/exp1/loss_log.json")
    assert functions["G_L1"]["loss"] == pytest.approx([50.0] * 3)


def check_health(stdout, stderr, cwd):
    # Both D losses are (0.9 - 1)^2 = 0.1^2 = 0.01 < 0.05 from the first call: with
    # patience 3, flagged from the 3rd call (step 2) to the 5th, 3 steps.
    event = ("discriminator collapse: 'D_real' and 'D_fake' both below 0.05 for 3 "
             "consecutive steps, flagged at 3 steps since the last report, first at step 2 "
             "(epoch 0)")
    assert event in stdout
    assert f"GANHealthWarning: {event}" in stderr


def check_flax_nnx(stdout, stderr, cwd):
    lines = stdout.strip().splitlines()
    assert [line.split(" Loss:")[0] for line in lines[:3]] == [
        f"(epoch: {e}, iters: 8)" for e in range(3)]
    # lambda_l1 is linear 100 -> 10 over epochs [0, 3]: 100, 70, 40 for 8 steps each.
    assert lines[-1] == "Loss weights: G_GAN: 1.0 G_L1: 40.0 D_real: 1.0 D_fake: 1.0"
    functions = loss_functions(cwd / "runs/nnx/loss_log.json")
    assert list(functions) == ["G_GAN", "G_L1", "D_real", "D_fake"]
    assert functions["G_L1"]["weights"] == pytest.approx([100.0] * 8 + [70.0] * 8 + [40.0] * 8)
    assert all(len(f["loss"]) == 24 for f in functions.values())


def check_loss_log(stdout, stderr, cwd):
    lines = stdout.strip().splitlines()
    # Six calls of 100 * |0.5 - 0|; the torn file is refused, then recovered without the
    # record whose weight was cut.
    assert ast.literal_eval(lines[0]) == {"G_L1": {"loss": [50.0] * 6, "weights": [100.0] * 6}}
    assert lines[1] == "DamagedLogError"
    assert ast.literal_eval(lines[2]) == {"G_L1": 5}


def check_weight_rules(stdout, stderr, cwd):
    weights = ast.literal_eval(stdout.strip().splitlines()[-1])  # {name: [weights]}
    # Uncertainty: exp(-s)/2 times the loss's own weight, s = 0 then one Adam step of
    # 0.01 (Adam's first step is the learning rate times the gradient's sign).
    assert weights["rec"][:2] == pytest.approx([0.5, 0.5 * np.exp(0.01)], abs=1e-3)
    assert weights["edge"][:2] == pytest.approx([5.0, 5.0 * np.exp(-0.01)], abs=1e-3)
    # The gate keeps the adaptive weight at 0 for three steps, then lets it through.
    assert weights["gan"][:3] == [0.0, 0.0, 0.0] and min(weights["gan"][3:]) > 0


CHECKS = {
    ("README.md", "The library"): check_readme_library,
    ("README.md", "Training"): check_readme_training,
    ("training.md", "Config"): check_config,
    ("library.md", "Schedules"): check_schedules,
    ("library.md", "LossManager"): check_loss_manager,
    ("library.md", "GAN health checks"): check_health,
    ("library.md", "Flax NNX"): check_flax_nnx,
    ("log_format.md", "The loss log (`loss_log.json`)"): check_loss_log,
    ("weight_rules.md", "Weight rules"): check_weight_rules,
}


def test_every_python_block_has_a_check():
    counts = [(page.name, heading) for page in PAGES for heading, _ in python_blocks(page)]
    assert len(counts) == len(set(counts)), "two Python blocks under one heading"
    assert set(BLOCKS) == set(CHECKS)


@pytest.mark.parametrize("key", sorted(CHECKS), ids=lambda key: f"{key[0]}:{key[1]}")
def test_the_python_block_runs_and_does_what_it_says(key, tmp_path):
    if key not in BLOCKS:
        pytest.fail(f"no Python block under {key[1]!r} in {key[0]}")
    out = run(BLOCKS[key], tmp_path)
    CHECKS[key](out.stdout, out.stderr, tmp_path)


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: pathlib.Path) -> set[str]:
    """GitHub's anchors for the page's headings, and its explicit ``<a id>`` ones."""
    text = page.read_text()
    slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-")
             for h in HEADING.findall(prose(text))}
    return slugs | set(re.findall(r'<a id="([^"]+)">', text))


def test_links_between_the_pages_lead_somewhere():
    broken = []
    for page in PAGES:
        for target in LINK.findall(prose(page.read_text())):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists() or (anchor and anchor not in anchors(dest)):
                broken.append(f"{page.name}: {target}")
    assert broken == []
