"""The pix2pix training step: losses, updates, schedules, one forward, no host transfer."""

import functools
import re

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import count_compilations
from nectargan_jax.models import PatchGANDiscriminator, UnetGenerator
from nectargan_jax.scheduling import current_learning_rate
from nectargan_jax.train import SyntheticPairs, batches
from nectargan_jax.train._step import Pix2PixStep, _jitted_steps, build_training
from train_helpers import tiny_config

LR = 2e-4
# Learning rate: constant through epoch epochs - 1 = 0, then linear to 0 at epoch
# epochs + epochs_decay = 4: 2e-4, 1.5e-4, 1e-4 at epochs 0, 1, 2.
SCHEDULED = {
    # The convolution forms the command uses on this backend: XLA CPU's own gradient
    # convolutions in a scan's body sum in another order than outside one (see
    # models/_cpu_conv.py), which Adam's first steps magnify past this file's tolerances.
    "train.generator.conv_impl": "auto",
    "train.generator.learning_rate.epochs": 1,
    "train.generator.learning_rate.epochs_decay": 3,
    "train.loss.lambda_l1": {"schedule": "linear", "start_epoch": 0, "end_epoch": 2,
                             "initial_value": 100.0, "target_value": 50.0},
}


def _config():
    return tiny_config(**SCHEDULED)


def _build():
    # One epoch per step, so that every step moves the schedules.
    return build_training(_config(), steps_per_epoch=1, seed=0, capacity=8)


@pytest.fixture(scope="module")
def data():
    pairs = SyntheticPairs(6, 16, seed=0)
    return [tuple(jnp.asarray(a) for a in b)
            for b in batches(pairs, 2, seed=0, epoch=0, shuffle=False)]


def _softplus(v):
    return np.logaddexp(0.0, v)


@functools.partial(jax.jit, static_argnums=0)
def _jitted_forward(graphdef, params, rest, x):
    return nnx.merge(graphdef, params, rest, copy=True)(x)


def _forward(graphdef, params, rest, x):
    """A model's train-mode output, straight from its graph and state (not the step)."""
    return np.asarray(_jitted_forward(graphdef, params, rest, x))


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def test_first_step_losses_and_updates_match_a_hand_computation(data):
    fns, before = _build()
    _, state = _build()
    x, y = data[0]
    fake = _forward(fns.gen_def, before.gen_params, before.gen_rest, x)
    real_logits = _forward(fns.disc_def, before.disc_params, before.disc_rest,
                           jnp.concatenate([x, y], -1))
    fake_logits = _forward(fns.disc_def, before.disc_params, before.disc_rest,
                           jnp.concatenate([x, jnp.asarray(fake)], -1))

    after = fns.step(state, (x, y))
    records, _ = after.manager.drain()

    # BCE with logits against 1 is softplus(-l), against 0 softplus(l) (NumPy here).
    np.testing.assert_allclose(records["D_real"][0], [_softplus(-real_logits).mean()],
                               rtol=1e-5)
    np.testing.assert_allclose(records["D_fake"][0], [_softplus(fake_logits).mean()],
                               rtol=1e-5)
    np.testing.assert_allclose(records["G_L1"][0], [100.0 * np.abs(fake - y).mean()],
                               rtol=1e-5)
    # G is trained against the discriminator D has just become (D first, then G).
    new_logits = _forward(fns.disc_def, after.disc_params, before.disc_rest,
                          jnp.concatenate([x, jnp.asarray(fake)], -1))
    np.testing.assert_allclose(records["G_GAN"][0], [_softplus(-new_logits).mean()],
                               rtol=1e-5)
    assert {name: float(w[0]) for name, (_, w) in records.items()} == {
        "G_GAN": 1.0, "G_L1": 100.0, "D_real": 1.0, "D_fake": 1.0, "G_L2": 0.0,
        "G_SOBEL": 0.0, "G_LAP": 0.0}
    # Adam's first update is lr * g / (|g| + eps): every parameter with a gradient moves
    # by the learning rate, 2e-4.
    for old, new in ((before.gen_params, after.gen_params),
                     (before.disc_params, after.disc_params)):
        moved = np.concatenate([np.abs(n - o).ravel()
                                for o, n in zip(_leaves(old), _leaves(new))])
        assert moved.max() <= LR * (1 + 1e-3)
        assert np.median(moved) == pytest.approx(LR, rel=1e-2)
    assert int(after.step) == 1 and int(after.epoch) == 1


def _convolution_forms(hlo: str) -> set[str]:
    return set(re.findall(r" convolution\(.*?dim_labels=([^,]+)", hlo))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA CPU's convolution forms")
def test_every_convolution_of_the_scanned_step_is_in_the_cpu_fast_form():
    """XLA CPU runs a convolution on its fast path only as NHWC/HWIO -> NHWC, and makes
    other forms so only in the entry computation, not in a scan's loop body: autodiff's
    gradient convolutions must come out in that form already."""
    # 32x32 pairs: the first layers are large enough to be XLA convolutions.
    fns, state = build_training(tiny_config(**{"dataloader.load.load_size": 32,
                                               "dataloader.load.crop_size": 32,
                                               "train.generator.conv_impl": "cpu"}),
                                steps_per_epoch=1, capacity=2)
    batch = jax.ShapeDtypeStruct((2, 2, 32, 32, 3), jnp.float32)
    compiled = _jitted_steps.lower(fns, state, (batch, batch)).compile().as_text()
    assert " while(" in compiled and compiled.count(" convolution(") >= 8
    assert _convolution_forms(compiled) == {"b01f_01io->b01f"}


def test_scan_equals_single_steps_and_follows_the_schedules(data):
    fns, single = _build()
    _, scanned = _build()
    for batch in data:
        single = fns.step(single, batch)
    stacked = tuple(jnp.stack([b[i] for b in data]) for i in range(2))
    scanned = fns.steps(scanned, stacked)

    for a, b in zip(_leaves(single.gen_params) + _leaves(single.disc_params),
                    _leaves(scanned.gen_params) + _leaves(scanned.disc_params)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    records_single, _ = single.manager.drain()
    records_scanned, emptied = scanned.manager.drain()
    for name, (losses, weights) in records_single.items():
        np.testing.assert_allclose(records_scanned[name][0], losses, rtol=1e-5)
        np.testing.assert_array_equal(records_scanned[name][1], weights)
    # lambda_l1: linear 100 -> 50 over epochs 0..2; one epoch per step.
    np.testing.assert_allclose(records_single["G_L1"][1], [100.0, 75.0, 50.0])
    # optax reads the schedule at the count before each update: epoch 2 for step 3.
    for state in (single, scanned):
        np.testing.assert_allclose(current_learning_rate(state.gen_opt), 1e-4, rtol=1e-6)
        np.testing.assert_allclose(current_learning_rate(state.disc_opt), 1e-4, rtol=1e-6)
        assert (int(state.step), int(state.epoch)) == (3, 3)

    # Later epochs (new counters, new batches) reuse the compiled scan.
    shifted = tuple(a[::-1] for a in stacked)
    with count_compilations() as log:
        scanned = fns.steps(scanned._replace(manager=emptied), shifted)
        jax.block_until_ready(scanned)
    assert log.count("_steps") == 0
    assert int(scanned.epoch) == 6


def test_a_step_makes_no_host_transfer(data):
    fns, state = _build()
    batch = jax.device_put(data[0])
    state = fns.step(state, batch)  # compile outside the guard
    batch = jax.device_put(data[1])
    jax.block_until_ready((state, batch))
    with jax.transfer_guard("disallow"):
        state = fns.step(state, batch)
        jax.block_until_ready(state)
    assert int(state.step) == 2


def test_the_generator_runs_forward_once_per_step(data, monkeypatch):
    calls = {"G": 0, "D": 0}
    gen_call, disc_call = UnetGenerator.__call__, PatchGANDiscriminator.__call__

    def counted(kind, call):
        def wrapper(self, x):
            calls[kind] += 1
            return call(self, x)
        return wrapper

    monkeypatch.setattr(UnetGenerator, "__call__", counted("G", gen_call))
    monkeypatch.setattr(PatchGANDiscriminator, "__call__", counted("D", disc_call))
    fns, state = _build()
    jax.eval_shape(lambda s, b: Pix2PixStep._step(fns, s, b), state, data[0])
    # D sees (input, target), (input, fake) for its update and (input, fake) for G's.
    assert calls == {"G": 1, "D": 3}


def test_identically_built_steps_are_equal_static_data():
    first, _ = build_training(_config(), steps_per_epoch=3, seed=0)
    second, _ = build_training(_config(), steps_per_epoch=3, seed=1)
    assert first == second and hash(first) == hash(second)
    other, _ = build_training(_config(), steps_per_epoch=4, seed=0)
    assert other != first


@pytest.mark.parametrize("kwargs, message", [
    ({"steps_per_epoch": 0}, "steps_per_epoch must be a positive int, got steps_per_epoch=0"),
    ({"steps_per_epoch": 2, "capacity": 1.5}, "capacity must be a positive int"),
])
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_training(_config(), **kwargs)


def test_a_vgg_weight_is_rejected_naming_the_key():
    with pytest.raises(ValueError, match=r"train\.loss\.lambda_vgg must be 0.*got 1\.0"):
        build_training(tiny_config(**{"train.loss.lambda_vgg": 1.0}), steps_per_epoch=1)
