"""Weight rules in the training job: the config keys, the adaptive GAN weight and the
generator's gradient against an independent computation, uncertainty weighting's
log-variances, one compile, no host transfer, exact resume."""

import dataclasses
import functools
import json
from pathlib import Path
import re

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import count_compilations
from nectargan_jax.losses import l1, sobel
from nectargan_jax.train import SyntheticPairs, batches, config_fingerprint, load_config
from nectargan_jax.train import AdaptiveGanWeightConfig, UncertaintyWeightingConfig
from nectargan_jax.train import embedded_default_overrides
from nectargan_jax.train._loop import train
from nectargan_jax.train._step import Pix2PixStep, build_training
from nectargan_jax.weighting import adaptive_last_layer, dwa, gradnorm
from train_helpers import tiny_config

ROOT = Path(__file__).resolve().parent.parent
ADAPTIVE = {"start_step": 1, "scale": 0.8}
BALANCED = ["G_L1", "G_SOBEL"]
NO_FLIP = {"dataloader.augmentations.both.h_flip_chance": 0.0}
RULES = {"train.loss.lambda_sobel": 10.0,
         "train.loss.adaptive_gan_weight": ADAPTIVE,
         "train.loss.uncertainty_weighting": {"losses": BALANCED}}


# Config -------------------------------------------------------------------------------

def test_rules_are_off_unless_given_and_null_changes_nothing():
    plain = load_config()
    assert plain.train.loss.rules() == ()
    nulled = load_config(overrides={"train.loss.adaptive_gan_weight": None,
                                    "train.loss.uncertainty_weighting": None})
    assert nulled == plain and config_fingerprint(nulled) == config_fingerprint(plain)


def test_rule_objects_take_the_defaults_for_the_keys_they_leave_out(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": {"train": {"loss": {
        "lambda_sobel": 10, "adaptive_gan_weight": {"start_step": 100}}}}}))
    config = load_config(path, {"train.loss.adaptive_gan_weight": {"scale": 0.5},
                                "train.loss.uncertainty_weighting.losses": ["G_SOBEL"]})
    loss = config.train.loss
    assert loss.adaptive_gan_weight == AdaptiveGanWeightConfig(
        start_step=100, scale=0.5, eps=1e-4, maximum=1e4)
    assert loss.uncertainty_weighting == UncertaintyWeightingConfig(
        losses=("G_SOBEL",), learning_rate=1e-3, init_log_variance=0.0)
    assert config.to_dict()["train"]["loss"]["uncertainty_weighting"] == {
        "losses": ["G_SOBEL"], "learning_rate": 1e-3, "init_log_variance": 0.0}
    # Switched off by a later override.
    off = load_config(path, {"train.loss.adaptive_gan_weight": None})
    assert off.train.loss.adaptive_gan_weight is None
    assert "adaptive_gan_weight" not in off.to_dict()["train"]["loss"]


@pytest.mark.parametrize("overrides, message", [
    ({"train.loss.adaptive_gan_weight": True},
     "'train.loss.adaptive_gan_weight' must be null \\(off\\) or an object with the keys "
     "\\['start_step', 'scale', 'eps', 'maximum'\\], got bool: True"),
    ({"train.loss.adaptive_gan_weight": {"start": 5}},
     "unknown config key\\(s\\) \\['train.loss.adaptive_gan_weight.start'\\]"),
    ({"train.loss.adaptive_gan_weight": {"start_step": 1.5}},
     "'train.loss.adaptive_gan_weight.start_step' must be of type int"),
    ({"train.loss.adaptive_gan_weight": {"start_step": -1}},
     "'train.loss.adaptive_gan_weight.start_step' must be an int >= 0, got -1"),
    ({"train.loss.adaptive_gan_weight": {"eps": 0}},
     "'train.loss.adaptive_gan_weight.eps' must be a finite number > 0, got 0.0"),
    ({"train.loss.adaptive_gan_weight": {"maximum": float("inf")}},
     "'train.loss.adaptive_gan_weight.maximum' must be a finite number > 0, got inf"),
    ({"train.loss.adaptive_gan_weight": {"scale": -0.8}},
     "'train.loss.adaptive_gan_weight.scale' must be a finite number >= 0, got -0.8"),
    ({"train.loss.uncertainty_weighting": {"learning_rate": 1e-3}},
     "'train.loss.uncertainty_weighting.losses' must be a non-empty list of distinct G "
     "losses from \\['G_GAN', 'G_L1', 'G_L2', 'G_SOBEL', 'G_LAP'\\], got None"),
    ({"train.loss.uncertainty_weighting": {"losses": ["G_L1", "D_real"]}},
     "'train.loss.uncertainty_weighting.losses' must be a non-empty list"),
    ({"train.loss.uncertainty_weighting": {"losses": ["G_L1", "G_L1"]}},
     "'train.loss.uncertainty_weighting.losses' must be a non-empty list of distinct"),
    ({"train.loss.uncertainty_weighting": {"losses": ["G_L1"], "learning_rate": -1}},
     "'train.loss.uncertainty_weighting.learning_rate' must be a finite number > 0"),
    ({"train.loss.uncertainty_weighting": {"losses": ["G_L1", "G_L2"]}},
     "'train.loss.uncertainty_weighting.losses' must be losses whose lambda is not 0 "
     "\\(\\['G_L2'\\] weigh nothing"),
    ({"train.loss.uncertainty_weighting": {"losses": ["G_GAN", "G_L1"]},
      "train.loss.adaptive_gan_weight": {}},
     "'train.loss.uncertainty_weighting.losses' must be without 'G_GAN' while "
     "train.loss.adaptive_gan_weight is on"),
])
def test_bad_rule_settings_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(overrides=overrides)


def test_the_readme_settings_and_example_config_load():
    page = (ROOT / "docs" / "weight_rules.md").read_text()
    section = page[page.index("## In the trainer"):]
    snippet = re.search(r"```json\n(.*?)```", section, re.S).group(1)
    config = load_config(overrides={"train": json.loads("{" + snippet + "}"),
                                    "train.loss.lambda_sobel": 1.0})
    assert config.train.loss.uncertainty_weighting.losses == ("G_L1", "G_SOBEL")
    example = load_config(ROOT / "docs" / "weight_rules_config.json")
    assert example == load_config(overrides={
        **embedded_default_overrides(),
        "train.loss.adaptive_gan_weight": {"start_step": 32, "scale": 0.8},
        "train.loss.uncertainty_weighting": {"losses": ["G_L1"]}})


# The step -----------------------------------------------------------------------------

class SgdGenerator(Pix2PixStep):
    """The trainer's step with plain SGD (rate 1) for G: the update is minus G's gradient."""

    @property
    def gen_tx(self):
        return optax.sgd(1.0)


@pytest.fixture(scope="module")
def data():
    pairs = SyntheticPairs(6, 16, seed=0)
    return [tuple(jnp.asarray(a) for a in b)
            for b in batches(pairs, 2, seed=0, epoch=0, shuffle=False)]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _gradients(gen_def, disc_def, gen_params, gen_rest, disc_params, disc_rest, x, y,
               weights):
    """G's gradients, from the pix2pix losses written out here: of the NLL (weighted L1
    and Sobel) and of the unweighted GAN loss, softplus(-logits) = BCE against 1."""
    def generate(params):
        return nnx.merge(gen_def, params, gen_rest, copy=True)(x)

    def nll(params):
        fake = generate(params)
        return weights[0] * jnp.mean(jnp.abs(fake - y)) + weights[1] * sobel(fake, y)

    def gan(params):
        disc = nnx.merge(disc_def, disc_params, disc_rest, copy=True)
        return jnp.mean(jax.nn.softplus(-disc(jnp.concatenate([x, generate(params)], -1))))

    fake = generate(gen_params)
    return jax.grad(nll)(gen_params), jax.grad(gan)(gen_params), (l1(fake, y), sobel(fake, y))


def _kernel(grads):
    return np.asarray(grads["final_up"]["conv"]["conv"]["kernel"], np.float64)


def _leaves(tree):
    return [np.asarray(a, np.float64) for a in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def sgd_run(data):
    """Three steps with both rules on (G by SGD), keeping every state; no augmentation,
    so the step sees the batches the independent computation sees."""
    fns, state = build_training(tiny_config(**RULES, **NO_FLIP), steps_per_epoch=3, capacity=8)
    fns = SgdGenerator(**{f.name: getattr(fns, f.name) for f in dataclasses.fields(fns)})
    state = state._replace(gen_opt=fns.gen_tx.init(state.gen_params))
    step = jax.jit(Pix2PixStep._step, static_argnums=0)  # not donated: states are kept
    states = [state]
    for batch in data:
        states.append(step(fns, states[-1], batch))
    records, _ = states[-1].manager.drain()
    return fns, states, records


def test_adaptive_weight_and_generator_gradient_match_an_independent_computation(
        data, sgd_run):
    fns, states, records = sgd_run
    gan_weights = records["G_GAN"][1]
    assert gan_weights[0] == 0.0 and records["G_GAN"][0][0] == 0.0  # before start_step
    for t, (x, y) in enumerate(data):
        before, after = states[t], states[t + 1]
        nll_weights = (records["G_L1"][1][t], records["G_SOBEL"][1][t])
        g_nll, g_gan, _ = _gradients(fns.gen_def, fns.disc_def, before.gen_params,
                                     before.gen_rest, after.disc_params, before.disc_rest,
                                     x, y, jnp.asarray(nll_weights))
        # taming-transformers: ||grad NLL|| / (||grad G_GAN|| + eps) at the last layer,
        # clamped to [0, 1e4], times the scale, from start_step on (lambda_gan = 1).
        ratio = np.linalg.norm(_kernel(g_nll)) / (np.linalg.norm(_kernel(g_gan)) + 1e-4)
        expected = 0.0 if t < ADAPTIVE["start_step"] else 0.8 * min(ratio, 1e4)
        assert gan_weights[t] == pytest.approx(expected, rel=1e-4)
        # SGD at rate 1: the update is minus d(NLL + weight * G_GAN)/d(parameters).
        moved = [b - a for a, b in zip(_leaves(after.gen_params), _leaves(before.gen_params))]
        for got, n, g in zip(moved, _leaves(g_nll), _leaves(g_gan)):
            want = n + gan_weights[t] * g
            np.testing.assert_allclose(got, want, rtol=1e-3,
                                       atol=1e-5 * np.abs(want).max() + 1e-9)
    assert gan_weights[1] > 0 and gan_weights[2] != gan_weights[1]


def test_uncertainty_log_variances_take_an_adam_step_against_their_gradient(data, sgd_run):
    fns, states, records = sgd_run
    (before,) = [p for p in states[0].manager.weight_params() if p is not None]
    (after,) = [p for p in states[1].manager.weight_params() if p is not None]
    np.testing.assert_array_equal(before, [0.0, 0.0])
    x, y = data[0]
    *_, raw = _gradients(fns.gen_def, fns.disc_def, states[0].gen_params, states[0].gen_rest,
                         states[1].disc_params, states[0].disc_rest, x, y, jnp.ones(2))
    weighted = np.asarray([100.0, 10.0]) * np.asarray(raw, np.float64)
    # Kendall et al.: the total falls with s while lambda * L * exp(-s) outweighs the
    # regulariser's slope (1 at s = 0 in every variant of the paper's loss), so s rises;
    # Adam's first step moves each parameter by its learning rate, 1e-3.
    assert np.all(weighted > 2), weighted
    np.testing.assert_allclose(after, [1e-3, 1e-3], rtol=1e-4)
    # s rose, so the weight applied to G_L1 fell (it decreases with s in every variant).
    assert records["G_L1"][1][1] < records["G_L1"][1][0]


def test_steps_with_rules_compile_once_and_make_no_host_transfer(data):
    # The settings of the resume test's runs (2 steps per epoch, one step per dispatch),
    # which then reuse this compiled scan.
    fns, state = build_training(tiny_config(**RULES), steps_per_epoch=2, capacity=2)
    chunks = [jax.device_put(tuple(a[None] for a in batch)) for batch in data]
    state = fns.steps(state, chunks[0])
    jax.block_until_ready(state)
    with count_compilations() as log, jax.transfer_guard("disallow"):
        for chunk in chunks[1:]:
            state = fns.steps(state, chunk)
        jax.block_until_ready(state)
    assert log.count("_steps") == 0
    assert int(state.step) == 3


def test_rules_attached_from_python_run_in_the_donated_step(data):
    # DWA over two G losses (weights 1 until two epochs are complete) and GradNorm over
    # G_GAN and G_L1, reading their unweighted gradients at the last layer: the step
    # computes the gradients the rules declare.
    fns, state = build_training(tiny_config(**{"train.loss.lambda_sobel": 10.0}),
                                steps_per_epoch=10, capacity=4)
    manager = state.manager.with_rule(dwa(), ["G_L1", "G_SOBEL"])
    state = state._replace(manager=manager.with_rule(gradnorm(), ["G_GAN", "G_L1"]))
    assert state.manager.gradients() == ("G_GAN", "G_L1")
    for batch in data:
        state = fns.step(state, batch)
    records, _ = state.manager.drain()
    gan, l1_weight, sobel_weight = (records[n][1] for n in ("G_GAN", "G_L1", "G_SOBEL"))
    np.testing.assert_allclose([gan[0], l1_weight[0], sobel_weight[0]], [1.0, 100.0, 10.0])
    # GradNorm keeps its weights summing to the number of losses, and moves them.
    np.testing.assert_allclose(gan + l1_weight / 100.0, 2.0, rtol=1e-5)
    assert gan[-1] != 1.0
    np.testing.assert_array_equal(sobel_weight, 10.0)
    odd = state.manager.with_rule(adaptive_last_layer("vgg"), ["G_L2"])
    with pytest.raises(ValueError, match=r"read the gradients \['vgg'\], but the training "
                                         r"step makes only those of the G losses"):
        fns.step(state._replace(manager=odd), data[0])


def test_resume_with_rules_gives_exactly_the_uninterrupted_run(tmp_path):
    run = {"synthetic_pairs": 4, "progress": False, "echo": lambda _: None}

    def config(folder):
        return tiny_config(folder, **{**RULES, "save.example_save_rate": 100})

    straight = train(config(tmp_path / "straight"), epochs=4, **run)
    train(config(tmp_path / "resumed"), epochs=2, **run)
    resumed = train(config(tmp_path / "resumed"), epochs=4, resume=True, **run)
    for a, b in zip(jax.tree.leaves(straight.state), jax.tree.leaves(resumed.state)):
        if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    logs = [json.loads(r.experiment.log.read_text())["LOSSMANAGER_LOG"]["loss_functions"]
            for r in (straight, resumed)]
    assert logs[0] == logs[1]
    gan = logs[0]["G_GAN"]["weights"]
    assert len(gan) == 8 and gan[0] == 0.0 and len(set(gan[1:])) == 7
    assert straight.state.rule_opt != ()
