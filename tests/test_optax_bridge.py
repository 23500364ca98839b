"""Tests of the optax bridge (nectargan_jax.scheduling._optax).

Counting conventions, derived from each library's source and checked here:
- optax: ``inject_hyperparams`` evaluates the learning-rate schedule at the step count
  before each update (0 for the first), so update ``k`` (1-based) uses ``lr(k - 1)``.
- torch: ``LambdaLR`` sets ``lr = base_lr * lr_lambda(n)`` where ``n`` is the number of
  ``scheduler.step()`` calls so far (0 at construction). Stepped once per epoch after
  training it, epoch ``k`` (1-based) trains with ``lr_lambda(k - 1)``.
So with one optimizer step per epoch both apply ``schedule(k - 1)`` in epoch ``k``.
"""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from flax import nnx

import nectargan_jax
from nectargan_jax.scheduling import (
    AsOptaxSchedule,
    OptaxSchedule,
    Schedule,
    constant,
    current_learning_rate,
    from_optax,
    join_schedules,
    scheduled_optimizer,
    to_optax,
)

EPOCHS = 205  # the pix2pix run (decay ends at 200) and a few epochs past its end
INITIAL_PARAMS = (1.0, -2.0, 0.5)
# float32 rates near 0 come from 2e-4 - p * 2e-4 (cancellation), so they carry about an
# ulp of 2e-4 (1.5e-11) of absolute error; 5e-11 is still 0.0025% of the smallest
# non-zero rate compared (2e-4 / 101).
RATE_ATOL = 5e-11


def evaluate(schedule, x):
    return schedule(x)


jit_evaluate = jax.jit(evaluate)


# ----------------------------------------------------------------------------------------
# to_optax


def test_to_optax_epoch_stepping_holds_the_value_for_an_epoch():
    lr = to_optax(Schedule("linear", 0, 10, 1.0, 0.0), steps_per_epoch=4)
    assert isinstance(lr, AsOptaxSchedule)
    counts = jnp.arange(0, 48, dtype=jnp.int32)  # optax counts are int32
    values = np.asarray(jit_evaluate(lr, counts))
    # By hand: epoch = count // 4, value 1 - epoch / 10, 0 from epoch 10 (count 40) on.
    expected = np.repeat([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0], 4)
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7)
    assert np.all(values.reshape(12, 4) == values.reshape(12, 4)[:, :1])  # flat in an epoch
    np.testing.assert_allclose([float(lr(7)), float(lr(8))], [0.9, 0.8], rtol=1e-6)


def test_to_optax_step_stepping_moves_every_step():
    lr = to_optax(Schedule("linear", 0, 10, 1.0, 0.0), steps_per_epoch=4, stepping="step")
    counts = jnp.arange(0, 48, dtype=jnp.int32)
    # By hand: epoch = count / 4 (fractional), value 1 - count / 40.
    expected = np.clip(1.0 - np.arange(48) / 40.0, 0.0, 1.0)
    np.testing.assert_allclose(np.asarray(jit_evaluate(lr, counts)), expected, rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_allclose(float(lr(7)), 0.825, rtol=1e-6)


def test_to_optax_of_an_optax_driven_weight_round_trips():
    fn = optax.cosine_decay_schedule(1.0, 1000)
    counts = jnp.arange(0, 1200, 7, dtype=jnp.int32)
    back = to_optax(from_optax(fn, steps_per_epoch=100), steps_per_epoch=100, stepping="step")
    np.testing.assert_allclose(np.asarray(jit_evaluate(back, counts)), np.asarray(fn(counts)),
                               rtol=1e-5, atol=1e-6)
    per_epoch = to_optax(from_optax(fn, steps_per_epoch=100), steps_per_epoch=100)
    np.testing.assert_allclose(np.asarray(jit_evaluate(per_epoch, counts)),
                               np.asarray(fn(counts // 100 * 100)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps_per_epoch, error", [
    (0, ValueError), (-3, ValueError), (np.int64(0), ValueError),
    (2.0, TypeError), (True, TypeError), ("4", TypeError), (None, TypeError)])
def test_bad_steps_per_epoch(steps_per_epoch, error):
    match = r"steps_per_epoch must be a positive int, got steps_per_epoch="
    with pytest.raises(error, match=match):
        to_optax(constant(1.0), steps_per_epoch=steps_per_epoch)
    with pytest.raises(error, match=match):
        from_optax(optax.constant_schedule(1.0), steps_per_epoch=steps_per_epoch)
    with pytest.raises(error, match=match):
        scheduled_optimizer(optax.adam, constant(1.0), steps_per_epoch=steps_per_epoch)


def test_numpy_int_steps_per_epoch_is_accepted():
    lr = to_optax(Schedule("linear", 0, 10, 1.0, 0.0), steps_per_epoch=np.int64(4))
    assert float(lr(8)) == pytest.approx(0.8)


@pytest.mark.parametrize("stepping", ["batch", "Epoch", None])
def test_bad_stepping(stepping):
    match = r"stepping must be one of \('epoch', 'step'\), got stepping="
    with pytest.raises(ValueError, match=match):
        to_optax(constant(1.0), stepping=stepping)
    with pytest.raises(ValueError, match=match):
        scheduled_optimizer(optax.sgd, constant(1.0), stepping=stepping)


def test_to_optax_requires_a_schedule():
    with pytest.raises(TypeError, match="to_optax requires a Schedule"):
        to_optax(optax.constant_schedule(1.0))


# ----------------------------------------------------------------------------------------
# from_optax


def test_from_optax_drives_a_weight():
    epochs = jnp.array([0.0, 2.5, 5.0, 10.0, 12.0])
    linear = from_optax(optax.linear_schedule(1.0, 0.0, 100), steps_per_epoch=10)
    assert isinstance(linear, OptaxSchedule)
    # By hand: count = 10 e; 1 - count / 100.
    np.testing.assert_allclose(np.asarray(jit_evaluate(linear, epochs)),
                               [1.0, 0.75, 0.5, 0.0, 0.0], rtol=1e-6, atol=1e-7)
    cosine = from_optax(optax.cosine_decay_schedule(1.0, 1000), steps_per_epoch=100)
    # By hand: count = 100 e; (1 + cos(pi count / 1000)) / 2, 0 after 1000.
    np.testing.assert_allclose(np.asarray(jax.vmap(cosine)(epochs)),
                               [1.0, 0.8535533905932737, 0.5, 0.0, 0.0], rtol=1e-6, atol=1e-7)
    halving = from_optax(optax.exponential_decay(8.0, transition_steps=10, decay_rate=0.5))
    # By hand: 8 * 0.5 ** (e / 10).
    np.testing.assert_allclose(np.asarray(jit_evaluate(halving, jnp.array([0.0, 10.0, 25.0]))),
                               [8.0, 4.0, 8.0 * 0.5 ** 2.5], rtol=1e-6)


def test_from_optax_composes_and_scans():
    weight = join_schedules([from_optax(optax.linear_schedule(0.0, 1.0, 20), 4),
                             constant(1.0)], [5])

    @jax.jit
    def weights_over_epochs(schedule):
        return lax.scan(lambda carry, e: (carry, schedule(e)), None, jnp.arange(8.0))[1]

    # By hand: 0 -> 1 over 20 steps of 4 per epoch, i.e. e / 5, then 1 from epoch 5.
    np.testing.assert_allclose(np.asarray(weights_over_epochs(weight)),
                               [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0], rtol=1e-6)


def test_from_optax_requires_a_callable():
    with pytest.raises(TypeError, match="from_optax requires a callable optax schedule"):
        from_optax(0.5)


# ----------------------------------------------------------------------------------------
# scheduled_optimizer and current_learning_rate


def run_jax(schedule, epochs=EPOCHS, optimizer=optax.adam, steps_per_epoch=1,
            stepping="epoch", **optimizer_kwargs):
    """``epochs`` updates of 0.5 |w|^2 (gradient w); the rate each update applied."""
    tx = scheduled_optimizer(optimizer, schedule, steps_per_epoch=steps_per_epoch,
                             stepping=stepping, **optimizer_kwargs)
    params = {"w": jnp.array(INITIAL_PARAMS)}
    state = tx.init(params)

    @jax.jit
    def update(params, state):
        updates, state = tx.update(params, state, params)
        return optax.apply_updates(params, updates), state

    rates = []
    for _ in range(epochs):
        params, state = update(params, state)
        rates.append(current_learning_rate(state))
    return np.asarray(rates, np.float64), np.asarray(params["w"])


def run_torch(lr_lambda, epochs=EPOCHS):
    """The reference's loop: Adam(2e-4, betas=(0.5, 0.999)) + LambdaLR, one step per epoch,
    ``scheduler.step()`` after each epoch; the rate each epoch trained with."""
    w = torch.nn.Parameter(torch.tensor(INITIAL_PARAMS))
    optimizer = torch.optim.Adam([w], lr=2e-4, betas=(0.5, 0.999))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lr_lambda)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        (0.5 * (w ** 2).sum()).backward()
        optimizer.step()
        scheduler.step()
    return np.asarray(rates), w.detach().numpy()


def reference_lr_lambda(start_epoch, end_epoch, initial_value, target_value):
    """REFERENCE.md's ``Scheduler.eval_schedule`` for a linear Schedule, in plain floats:
    the fields are shifted by -1 at construction, the value is divided by the max value."""
    start, end = start_epoch - 1, end_epoch - 1
    lowest = max(0.0, min(initial_value, target_value))
    highest = max(initial_value, target_value)

    def lr_lambda(epoch):
        sample = min(1.0, max(0.0, (epoch - start) / (end - start)))
        value = initial_value + sample * (target_value - initial_value)
        return min(highest, max(lowest, value)) / highest

    return lr_lambda


@pytest.fixture(scope="module")
def core_pix2pix_run():
    """The core's pix2pix LR: 2e-4 held to epoch 100, linear to 0 at epoch 200."""
    return run_jax(Schedule("linear", 100, 200, 2e-4, 0.0), b1=0.5, b2=0.999)


def test_current_learning_rate_after_k_updates_is_schedule_at_k_minus_1(core_pix2pix_run):
    rates, _ = core_pix2pix_run
    assert rates.shape == (EPOCHS,)
    # rates[k - 1] is the rate after k updates = schedule(k - 1), by hand.
    by_k = {1: 2e-4, 100: 2e-4, 101: 2e-4, 102: 1.98e-4, 151: 1e-4, 176: 5e-5,
            200: 2e-6, 201: 0.0, 205: 0.0}
    np.testing.assert_allclose([rates[k - 1] for k in by_k], list(by_k.values()), rtol=1e-6,
                               atol=RATE_ATOL)
    # Everywhere: 2e-4 * clip(1 - (k - 1 - 100) / 100, 0, 1).
    k = np.arange(1, EPOCHS + 1)
    np.testing.assert_allclose(rates, 2e-4 * np.clip(1 - (k - 101) / 100, 0, 1), rtol=1e-6,
                               atol=RATE_ATOL)


def test_same_rates_and_params_as_torch_lambda_lr(core_pix2pix_run):
    # LambdaLR with the core schedule's multiplier (value / max) on base lr 2e-4.
    core = Schedule("linear", 100, 200, 2e-4, 0.0)
    jax_rates, jax_params = core_pix2pix_run
    torch_rates, torch_params = run_torch(lambda n: float(core.multiplier(n)))
    np.testing.assert_allclose(jax_rates, torch_rates, rtol=1e-6, atol=RATE_ATOL)
    # The same rates applied by the same Adam: the same parameters after 205 epochs.
    np.testing.assert_allclose(jax_params, torch_params, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(jax_params, INITIAL_PARAMS, atol=0.05)  # it did move...
    assert np.all(np.abs(jax_params - INITIAL_PARAMS) > 1e-3)  # ...every coordinate


def test_reference_pix2pix_convention_maps_to_core_shifted_by_one():
    # The reference's pix2pix builds Schedule(start_epoch=100, end_epoch=201, 2e-4, 0.0);
    # its constructor shifts both by -1 to start 99, end 200, and LambdaLR hands it n =
    # epochs done. So the reference is the core Schedule('linear', 99, 200, ...), NOT
    # ('linear', 100, 200): epoch k trains with 2e-4 * (1 - max(0, k - 100) / 101).
    torch_rates, torch_params = run_torch(reference_lr_lambda(100, 201, 2e-4, 0.0))
    jax_rates, jax_params = run_jax(Schedule("linear", 99, 200, 2e-4, 0.0), b1=0.5, b2=0.999)
    np.testing.assert_allclose(jax_rates, torch_rates, rtol=1e-6, atol=RATE_ATOL)
    np.testing.assert_allclose(jax_params, torch_params, rtol=1e-5, atol=1e-7)
    by_epoch = {1: 2e-4, 100: 2e-4, 101: 2e-4 * 100 / 101, 150: 2e-4 * 51 / 101,
                200: 2e-4 / 101, 201: 0.0}
    np.testing.assert_allclose([torch_rates[k - 1] for k in by_epoch], list(by_epoch.values()),
                               rtol=1e-6, atol=RATE_ATOL)
    # The core's ('linear', 100, 200) is the reference's Schedule(101, 201) instead:
    # it decays over 100 epochs, not 101 (epoch 151: 1e-4 vs 2e-4 * 50 / 101).
    shifted_rates, _ = run_torch(reference_lr_lambda(101, 201, 2e-4, 0.0))
    core = Schedule("linear", 100, 200, 2e-4, 0.0)
    np.testing.assert_allclose(
        shifted_rates,
        np.asarray(jax.vmap(core)(jnp.arange(EPOCHS))), rtol=1e-6, atol=RATE_ATOL)
    assert torch_rates[150] != pytest.approx(shifted_rates[150], rel=1e-3)


@pytest.mark.parametrize("stepping, expected", [
    # After k updates (k = 1..12) with 4 steps per epoch of 1 -> 0 over epochs 0..10:
    ("epoch", [1 - ((k - 1) // 4) / 10 for k in range(1, 13)]),
    ("step", [1 - (k - 1) / 40 for k in range(1, 13)]),
])
def test_scheduled_optimizer_stepping(stepping, expected):
    schedule = Schedule("linear", 0, 10, 1.0, 0.0)
    tx = scheduled_optimizer(optax.sgd, schedule, steps_per_epoch=4, stepping=stepping)
    params = {"w": jnp.array([3.0])}
    state = tx.init(params)
    np.testing.assert_allclose(float(current_learning_rate(state)), 1.0)  # schedule(0)

    @jax.jit
    def twelve_updates(params, state):
        def body(carry, _):
            params, state = carry
            updates, state = tx.update({"w": jnp.ones(1)}, state, params)
            params = optax.apply_updates(params, updates)
            return (params, state), current_learning_rate(state)
        return lax.scan(body, (params, state), None, length=12)

    (params, _), rates = twelve_updates(params, state)
    np.testing.assert_allclose(np.asarray(rates), expected, rtol=1e-6)
    # SGD with gradient 1: w = 3 - sum of the applied rates.
    np.testing.assert_allclose(float(params["w"][0]), 3.0 - sum(expected), rtol=1e-5)


def test_current_learning_rate_in_a_chain_and_with_constant_hyperparams():
    params = {"w": jnp.zeros(2)}
    chained = optax.chain(optax.clip_by_global_norm(1.0),
                          scheduled_optimizer(optax.adam, Schedule("linear", 0, 10, 3e-4, 1e-4)))
    np.testing.assert_allclose(float(current_learning_rate(chained.init(params))), 3e-4,
                               rtol=1e-6)
    injected = optax.inject_hyperparams(optax.sgd)(learning_rate=0.125)
    assert float(current_learning_rate(injected.init(params))) == 0.125


@pytest.mark.parametrize("tx", [optax.adam(1e-3), optax.chain(optax.clip(1.0), optax.sgd(0.1)),
                                optax.inject_hyperparams(optax.add_decayed_weights)(
                                    weight_decay=0.1)],
                         ids=["adam", "chain", "inject-without-lr"])
def test_current_learning_rate_without_injected_rate(tx):
    state = tx.init({"w": jnp.zeros(2)})
    with pytest.raises(ValueError, match="opt_state holds no inject_hyperparams state with a "
                                         "'learning_rate'"):
        current_learning_rate(state)


def test_current_learning_rate_of_an_nnx_optimizer_is_an_array():
    # Adam (b1=0.5) on a small nnx model, the rate following linear 1e-2 -> 0 over epochs
    # 0..4 with 2 steps per epoch held per epoch: update k (1-based) applies
    # schedule((k - 1) // 2), i.e. 1e-2 * (1 - ((k - 1) // 2) / 4).
    model = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
    tx = scheduled_optimizer(optax.adam, Schedule("linear", 0, 4, 1e-2, 0.0),
                             steps_per_epoch=2, b1=0.5)
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, x):
        grads = nnx.grad(lambda m: jnp.mean(m(x) ** 2))(model)
        optimizer.update(model, grads)

    expected = [1e-2, 1e-2, 7.5e-3, 7.5e-3, 5e-3, 5e-3, 2.5e-3, 2.5e-3, 0.0, 0.0]
    for k, rate in enumerate(expected, start=1):
        train_step(model, optimizer, jnp.full((4, 3), float(k)))
        for source in (optimizer, optimizer.opt_state):
            value = current_learning_rate(source)
            assert isinstance(value, jax.Array) and not isinstance(value, nnx.Variable)
            assert value.shape == ()
            np.testing.assert_allclose(float(value), rate, rtol=1e-6, atol=1e-12)


def test_scheduled_optimizer_and_current_learning_rate_are_top_level():
    assert nectargan_jax.scheduled_optimizer is scheduled_optimizer
    assert nectargan_jax.current_learning_rate is current_learning_rate
    assert {"scheduled_optimizer", "current_learning_rate"} <= set(nectargan_jax.__all__)
