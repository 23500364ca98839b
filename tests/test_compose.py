"""Tests of ``join_schedules`` and ``warmup`` (nectargan_jax.scheduling._compose).

Expected numbers come from hand derivations (literals) and from optax's own schedules,
which follow the same conventions (``optax.join_schedules`` hands piece ``k > 0`` the
count minus its boundary).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import HYPOTHESIS_SETTINGS, count_compilations
from nectargan_jax.scheduling import (
    JoinedSchedule,
    Schedule,
    WarmupSchedule,
    constant,
    from_optax,
    join_schedules,
    warmup,
)


def evaluate(schedule, epoch):
    return schedule(epoch)


jit_evaluate = jax.jit(evaluate)
jit_over_epochs = jax.jit(jax.vmap(evaluate, in_axes=(None, 0)))
jit_over_batch = jax.jit(jax.vmap(evaluate))


def stack_trees(*trees):
    """A batch of same-structure schedules: every leaf gets a leading axis."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


# ----------------------------------------------------------------------------------------
# join_schedules


def test_join_by_hand_and_like_optax():
    joined = join_schedules([constant(2.0), Schedule("linear", 0, 10, 2.0, 0.0)], [5])
    assert isinstance(joined, JoinedSchedule)
    epochs = jnp.arange(0, 21, dtype=jnp.int32)
    # By hand: 2 up to epoch 5, then the linear piece sees epoch - 5: 2 - 0.2 (e - 5).
    expected = [2.0] * 6 + [1.8, 1.6, 1.4, 1.2, 1.0, 0.8, 0.6, 0.4, 0.2] + [0.0] * 6
    optax_joined = optax.join_schedules(
        [optax.constant_schedule(2.0), optax.linear_schedule(2.0, 0.0, 10)], [5])
    for values in (joined(epochs), jit_evaluate(joined, epochs),
                   jit_over_epochs(joined, epochs)):
        np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(np.asarray(values), np.asarray(optax_joined(epochs)),
                                   rtol=1e-6, atol=1e-6)


def test_join_three_pieces_like_optax():
    # warm up 0 -> 1 over 4 epochs, hold 1 for 6, then cosine 1 -> 0.1 over 10.
    joined = join_schedules([Schedule("linear", 0, 4, 0.0, 1.0), constant(1.0),
                             Schedule("cosine", 0, 10, 1.0, 0.1)], [4, 10])
    optax_joined = optax.join_schedules(
        [optax.linear_schedule(0.0, 1.0, 4), optax.constant_schedule(1.0),
         optax.cosine_decay_schedule(1.0, 10, alpha=0.1)], [4, 10])
    epochs = jnp.arange(-2.0, 30.0, 0.5)
    np.testing.assert_allclose(np.asarray(jit_over_epochs(joined, epochs)),
                               np.asarray(optax_joined(epochs)), rtol=1e-6, atol=1e-6)
    # By hand: epoch 2 is half the ramp; 15 is the cosine's midpoint (1 + 0.1) / 2.
    spot = jit_evaluate(joined, jnp.array([-1.0, 2.0, 4.0, 9.5, 10.0, 15.0, 20.0, 99.0]))
    np.testing.assert_allclose(np.asarray(spot), [0.0, 0.5, 1.0, 1.0, 1.0, 0.55, 0.1, 0.1],
                               rtol=1e-6, atol=1e-7)


def test_join_a_single_schedule_is_that_schedule():
    joined = join_schedules([Schedule("linear", 0, 10, 1.0, 0.0)], [])
    np.testing.assert_allclose(np.asarray(jit_evaluate(joined, jnp.array([0.0, 5.0, 12.0]))),
                               [1.0, 0.5, 0.0])


def test_join_accepts_any_schedule_kind():
    # An optax schedule as a piece: 1 -> 0 over 100 steps of 10 per epoch, then 0.5.
    joined = join_schedules([from_optax(optax.linear_schedule(1.0, 0.0, 100), 10),
                             constant(0.5)], [10])
    values = jit_over_epochs(joined, jnp.array([0.0, 2.5, 9.0, 10.0, 50.0]))
    np.testing.assert_allclose(np.asarray(values), [1.0, 0.75, 0.1, 0.5, 0.5], rtol=1e-6)


def test_join_vmap_over_a_batch_and_grad():
    first = join_schedules([constant(2.0), Schedule("linear", 0, 10, 2.0, 0.0)], [5])
    second = join_schedules([constant(4.0), Schedule("linear", 0, 2, 1.0, 3.0)], [8])
    batch = stack_trees(first, second)
    assert batch.boundaries.shape == (2, 1)
    values = jit_over_batch(batch, jnp.array([10.0, 9.0]))
    np.testing.assert_allclose(np.asarray(values), [1.0, 2.0], rtol=1e-6)
    # Past the boundary the value is 2 - 0.2 (e - b): d/db = 0.2, d/d(target) = p = 0.5.
    grads = jax.grad(evaluate)(first, jnp.float32(10))
    np.testing.assert_allclose(np.asarray(grads.boundaries), [0.2], rtol=1e-6)
    np.testing.assert_allclose(float(grads.schedules[1].target_value), 0.5, rtol=1e-6)
    np.testing.assert_allclose(float(grads.schedules[0].initial_value), 0.0)


def test_join_new_boundaries_never_recompile():
    def evaluate_joined(schedule, epoch):
        return schedule(epoch)

    jitted = jax.jit(evaluate_joined)
    joins = [join_schedules([constant(v), Schedule("linear", 0, 10, v, 0.0)], [b])
             for v, b in ((2.0, 5), (3.0, 1), (1.0, 20.5))]
    epochs = [jnp.float32(e) for e in (0.0, 6.0, 30.0)]
    with count_compilations() as log:
        values = [[float(jitted(j, e)) for e in epochs] for j in joins]
    assert log.count("evaluate_joined") == 1
    # By hand: v - (v / 10) (e - b) once past b, clamped to [0, v].
    np.testing.assert_allclose(values, [[2.0, 1.8, 0.0], [3.0, 1.5, 0.0], [1.0, 1.0, 0.05]],
                               rtol=1e-6)


# XLA on the CPU flushes subnormal floats to zero, so they are left out.
piece_values = st.floats(0.0, 10.0, width=32, allow_subnormal=False)


@HYPOTHESIS_SETTINGS
@given(st.lists(st.tuples(piece_values, piece_values, st.integers(1, 50)), min_size=3,
                max_size=3),
       st.lists(st.integers(1, 60), min_size=2, max_size=2, unique=True),
       st.lists(st.integers(-20, 300).map(lambda n: n / 2), min_size=16, max_size=16))
def test_join_of_linear_pieces_matches_optax(pieces, boundaries, epochs):
    # Schedule('linear', 0, n, a, b) with a, b >= 0 is optax.linear_schedule(a, b, n).
    boundaries = sorted(boundaries)
    joined = join_schedules([Schedule("linear", 0, n, a, b) for a, b, n in pieces], boundaries)
    optax_joined = optax.join_schedules(
        [optax.linear_schedule(a, b, n) for a, b, n in pieces], boundaries)
    epochs = jnp.asarray(epochs, jnp.float32)
    np.testing.assert_allclose(np.asarray(jit_over_epochs(joined, epochs)),
                               np.asarray(optax_joined(epochs)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("schedules, boundaries, error, match", [
    ([], [], ValueError, r"join_schedules requires at least one schedule"),
    ([constant(1.0)], [3], ValueError,
     r"len\(boundaries\) == len\(schedules\) - 1, got 1 boundaries for 1 schedules"),
    ([constant(1.0), constant(2.0)], [], ValueError,
     r"len\(boundaries\) == len\(schedules\) - 1, got 0 boundaries for 2 schedules"),
    ([constant(1.0), constant(2.0), constant(3.0)], [5, 5], ValueError,
     r"boundaries must be strictly increasing, got boundaries=\[5, 5\]"),
    ([constant(1.0), constant(2.0), constant(3.0)], [5, 2], ValueError,
     r"boundaries must be strictly increasing"),
    ([constant(1.0), constant(2.0)], [float("nan")], ValueError, r"boundaries must be finite"),
    ([constant(1.0), constant(2.0)], [float("inf")], ValueError, r"boundaries must be finite"),
    ([constant(1.0), optax.constant_schedule(2.0)], [5], TypeError,
     r"schedules\[1\] must be a Schedule"),
    ([2.0], [], TypeError, r"schedules\[0\] must be a Schedule"),
])
def test_join_errors(schedules, boundaries, error, match):
    with pytest.raises(error, match=match):
        join_schedules(schedules, boundaries)


# ----------------------------------------------------------------------------------------
# warmup


def test_warmup_by_hand():
    ramped = warmup(Schedule("linear", 0, 10, 1.0, 0.0), warmup_epochs=4)
    assert isinstance(ramped, WarmupSchedule)
    # The ramp goes 0 -> s(4) = 0.6 over epochs 0..4, then s(e) = 1 - e / 10.
    epochs = jnp.arange(-2, 12, dtype=jnp.int32)
    expected = [0.0, 0.0, 0.0, 0.15, 0.3, 0.45, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0]
    for values in (ramped(epochs), jit_evaluate(ramped, epochs),
                   jit_over_epochs(ramped, epochs)):
        np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-6, atol=1e-7)
    # A non-zero start: 0.2 -> 0.6 over 4 epochs, 0.1 per epoch.
    lifted = warmup(Schedule("linear", 0, 10, 1.0, 0.0), 4, init_value=0.2)
    np.testing.assert_allclose(np.asarray(jit_evaluate(lifted, jnp.array([0, 1, 3, 4, 5]))),
                               [0.2, 0.3, 0.5, 0.6, 0.5], rtol=1e-6)


@pytest.mark.parametrize("warmup_epochs", [4, 2.5])
def test_warmup_is_continuous_at_the_end_of_the_ramp(warmup_epochs):
    inner = Schedule("cosine", 0, 20, 3.0, 1.0)
    ramped = warmup(inner, warmup_epochs, init_value=0.5)
    delta = 1e-3
    around = jnp.array([warmup_epochs - delta, warmup_epochs, warmup_epochs + delta])
    below, at, above = np.asarray(jit_over_epochs(ramped, around))
    np.testing.assert_allclose(at, float(inner(warmup_epochs)), rtol=1e-6)
    # Both slopes are below 1 per epoch, so the values are within 1e-3 of each other.
    assert abs(below - at) < delta and abs(above - at) < delta


def test_warmup_of_constant_is_optax_linear_schedule():
    ramped = warmup(constant(3.0), warmup_epochs=6, init_value=0.6)
    epochs = jnp.arange(0.0, 15.0, 0.25)
    expected = optax.linear_schedule(0.6, 3.0, 6)(epochs)
    np.testing.assert_allclose(np.asarray(jit_over_epochs(ramped, epochs)),
                               np.asarray(expected), rtol=1e-6)


def test_warmup_cosine_is_optax_warmup_cosine_decay():
    # optax.warmup_cosine_decay_schedule(init, peak, w, total, end) is a linear ramp
    # init -> peak over [0, w], then a cosine peak -> end over [w, total]. Warmup keeps
    # epochs absolute, so the same curve is a cosine Schedule from w to total.
    ramped = warmup(Schedule("cosine", 5, 25, 2.0, 0.2), 5, init_value=0.1)
    epochs = jnp.arange(0.0, 40.0, 0.5)
    expected = optax.warmup_cosine_decay_schedule(0.1, 2.0, 5, 25, 0.2)(epochs)
    np.testing.assert_allclose(np.asarray(jit_over_epochs(ramped, epochs)),
                               np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_warmup_vmap_over_a_batch_grad_and_nesting():
    first = warmup(constant(4.0), 4)
    second = warmup(constant(1.0), 2, init_value=3.0)
    values = jit_over_batch(stack_trees(first, second), jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(values), [1.0, 2.0], rtol=1e-6)
    # w(2) = init + 0.5 (peak - init): d/d(init) = 0.5, d/d(the constant) = 0.5.
    grads = jax.grad(evaluate)(first, jnp.float32(2))
    np.testing.assert_allclose([float(grads.init_value), float(grads.schedule.initial_value)],
                               [0.5, 0.5], rtol=1e-6)
    # A warm-up in front of a join: peak = join(2) = 1, then 1 - 0.1 (e - 5) after epoch 5.
    nested = warmup(join_schedules([constant(1.0), Schedule("linear", 0, 10, 1.0, 0.0)], [5]), 2)
    np.testing.assert_allclose(
        np.asarray(jit_over_epochs(nested, jnp.array([0.0, 1.0, 2.0, 5.0, 10.0, 20.0]))),
        [0.0, 0.5, 1.0, 1.0, 0.5, 0.0], rtol=1e-6)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((constant(1.0), 0), {}, ValueError, r"warmup requires warmup_epochs > 0, got warmup_epochs=0"),
    ((constant(1.0), -2.5), {}, ValueError, r"warmup_epochs > 0, got warmup_epochs=-2.5"),
    ((constant(1.0), float("nan")), {}, ValueError, r"warmup_epochs must be finite"),
    ((constant(1.0), True), {}, TypeError, r"warmup_epochs must be a real number, got bool"),
    ((constant(1.0), "4"), {}, TypeError, r"warmup_epochs must be a real number, got str"),
    ((constant(1.0), 4), {"init_value": float("inf")}, ValueError,
     r"init_value must be finite"),
    ((constant(1.0), 4), {"init_value": None}, TypeError, r"init_value must be a real number"),
    ((3.0, 4), {}, TypeError, r"schedule must be a Schedule"),
    ((optax.constant_schedule(1.0), 4), {}, TypeError, r"schedule must be a Schedule"),
])
def test_warmup_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        warmup(*args, **kwargs)
