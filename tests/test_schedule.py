"""Tests of ``Schedule``, ``stack``, the factories and the built-in schedule functions.

Every expected number is derived independently: by hand (written as literals), from
REFERENCE.md's example, or from the NumPy float64 formulas below (REFERENCE.md's
"Built-in schedule functions", written out again here, not imported from the library).
"""

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import HYPOTHESIS_SETTINGS, count_compilations
from nectargan_jax.scheduling import (
    Schedule,
    _functions,
    constant,
    cosine,
    exponential,
    join_schedules,
    linear,
    register_schedule,
    schedule_functions,
    stack,
)

EPSILON = 1e-9  # the exponential's default epsilon (REFERENCE.md)


def evaluate(schedule, epoch):
    return schedule(epoch)


# Module-level jitted evaluators, shared by the tests so that each (kind, options,
# shape) compiles once for the whole file.
jit_evaluate = jax.jit(evaluate)
jit_over_epochs = jax.jit(jax.vmap(evaluate, in_axes=(None, 0)))
jit_over_batch = jax.jit(jax.vmap(evaluate))


@jax.jit
def scan_over_epochs(schedule, epochs):
    return lax.scan(lambda carry, epoch: (carry, schedule(epoch)), None, epochs)[1]


def reference_values(kind, start, end, initial, target, epoch, epsilon=EPSILON,
                     allow_zero_weights=True, silent=False):
    """REFERENCE.md's schedule formulas in float64 NumPy, broadcast over every argument."""
    start, end, initial, target, epoch = np.broadcast_arrays(
        *(np.asarray(x, np.float64) for x in (start, end, initial, target, epoch)))
    sample = np.clip((epoch - start) / (end - start), 0.0, 1.0)
    silent_step = None
    with np.errstate(all="ignore"):
        if kind == "linear":
            value = initial + sample * (target - initial)
        elif kind == "cosine":
            value = initial + (target - initial) * (1.0 - np.cos(np.pi * sample)) / 2.0
        else:
            assert kind == "exponential"
            has_zero = (initial == 0) | (target == 0)
            if allow_zero_weights:
                initial = np.where(has_zero, np.maximum(initial, epsilon), initial)
                target = np.where(has_zero, np.maximum(target, epsilon), target)
            elif silent:
                silent_step = np.where(has_zero, np.where(sample >= 1, target, initial), np.nan)
            value = initial * (target / initial) ** sample
    lowest = np.maximum(0.0, np.minimum(initial, target))
    highest = np.maximum(initial, target)
    clamped = np.minimum(highest, np.maximum(lowest, value))
    if silent_step is not None:
        clamped = np.where(has_zero, silent_step, clamped)
    return clamped


def effective_values(kind, initial, target, options):
    """(initial, target) after the exponential's epsilon raise, in float32 like the core."""
    initial, target = np.float32(initial), np.float32(target)
    raised = (kind == "exponential" and options.get("allow_zero_weights", True)
              and (initial == 0 or target == 0))
    if raised:
        eps = np.float32(options.get("epsilon", EPSILON))
        return max(initial, eps), max(target, eps)
    return initial, target


def tolerances(kind, initial, target):
    """float32 vs float64: 1e-5 relative; linear/cosine also lose ~1 ulp of the larger value
    when the result is near 0 (cancellation), so they get that as absolute slack; and a
    result below float32's smallest normal number is flushed to 0 by XLA on the CPU."""
    tiny = float(np.finfo(np.float32).tiny)
    if kind == "exponential":
        return {"rtol": 1e-5, "atol": tiny}
    return {"rtol": 1e-5, "atol": max(tiny, 1e-6 * max(abs(initial), abs(target)))}


# ----------------------------------------------------------------------------------------
# (a) REFERENCE.md's own example.


@pytest.mark.parametrize("jitted", [False, True])
def test_reference_example_linear_and_exponential(jitted):
    # The reference's Schedule(schedule=k, end_epoch=10, target_value=0.0) is shifted by -1
    # to start -1, end 9, and evaluated at epochs 0..9, so its sample is (n + 1) / 10.
    # The core has no shift: Schedule(k, start_epoch=0, end_epoch=10) at epoch m has
    # sample m / 10, so reference epoch n is core epoch m = n + 1, i.e. epochs 1..10.
    epochs = jnp.arange(1, 11, dtype=jnp.int32)
    run = jit_evaluate if jitted else evaluate
    linear_values = np.asarray(run(Schedule("linear", 0, 10, 1.0, 0.0), epochs))
    exponential_values = np.asarray(run(Schedule("exponential", 0, 10, 1.0, 0.0), epochs))

    np.testing.assert_allclose(
        linear_values, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0], rtol=1e-6,
        atol=1e-7)

    # REFERENCE.md lists the exponential to 5 decimal places, then to 6 significant digits
    # (both truncated), and "~0.0" for the last one (the epsilon, 1e-9).
    np.testing.assert_allclose(
        exponential_values[:4], [0.12589, 0.01584, 0.00199, 0.00025], rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        exponential_values[4:9],
        [3.16227e-05, 3.98107e-06, 5.01187e-07, 6.30957e-08, 7.94328e-09], rtol=1e-5)
    np.testing.assert_allclose(exponential_values[9], 1e-9, rtol=1e-6)
    # By hand: 1 * (1e-9 / 1) ** (m / 10) = 10 ** (-0.9 m), at full precision.
    np.testing.assert_allclose(exponential_values, 10.0 ** (-0.9 * np.arange(1, 11)),
                               rtol=2e-6)


# ----------------------------------------------------------------------------------------
# (b) pix2pix learning rate: 2e-4 held to epoch 100, then linear to 0 at epoch 200.


@pytest.mark.parametrize("jitted", [False, True])
def test_pix2pix_learning_rate_schedule(jitted):
    schedule = Schedule("linear", 100, 200, 2e-4, 0.0)
    epochs = jnp.array([0, 50, 100, 101, 150, 199, 200, 250], dtype=jnp.int32)
    # By hand: 2e-4 * (1 - (e - 100) / 100) between 100 and 200.
    expected = [2e-4, 2e-4, 2e-4, 1.98e-4, 1e-4, 2e-6, 0.0, 0.0]
    values = (jit_evaluate if jitted else evaluate)(schedule, epochs)
    np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-6, atol=1e-10)


# ----------------------------------------------------------------------------------------
# (c) boundaries, (d) clamping, (f) cosine and constant.


@pytest.mark.parametrize("kind, middle", [("linear", 2.5), ("cosine", 2.5), ("exponential", 2.0)])
def test_boundary_values(kind, middle):
    # 4 -> 1 between epochs 10 and 20; the midpoint is (4 + 1) / 2, or sqrt(4 * 1).
    schedule = Schedule(kind, start_epoch=10, end_epoch=20, initial_value=4.0,
                        target_value=1.0)
    epochs = jnp.array([-5, 0, 9, 10, 15, 20, 21, 1000], dtype=jnp.int32)
    expected = [4.0, 4.0, 4.0, 4.0, middle, 1.0, 1.0, 1.0]
    for values in (schedule(epochs), jit_evaluate(schedule, epochs)):
        np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-6)
        assert float(values[3]) == 4.0  # at start: exactly the initial value
        assert float(values[0]) == 4.0  # before start


def test_fractional_epochs():
    schedule = Schedule("linear", 0.5, 2.5, 1.0, 3.0)
    values = jit_evaluate(schedule, jnp.array([0.0, 0.5, 1.0, 2.0, 2.5, 3.0]))
    np.testing.assert_allclose(np.asarray(values), [1.0, 1.0, 1.5, 2.5, 3.0, 3.0], rtol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_clamped_at_zero_and_both_negative(kind):
    epochs = jnp.arange(0, 6, dtype=jnp.int32)
    # 2 -> -2 over 0..4: crosses 0 at epoch 2 (both kinds, by symmetry) and stays at 0.
    falling = jit_evaluate(Schedule(kind, 0, 4, 2.0, -2.0), epochs)
    assert np.asarray(falling)[2:].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert float(falling[0]) == 2.0
    assert 0.0 < float(falling[1]) < 2.0
    # Both negative: the bounds collapse to max(initial, target) = -1 at every epoch.
    negative = jit_evaluate(Schedule(kind, 0, 4, -3.0, -1.0), epochs)
    assert np.asarray(negative).tolist() == [-1.0] * 6


def test_linear_clamped_values_by_hand():
    values = jit_evaluate(Schedule("linear", 0, 4, 2.0, -2.0), jnp.arange(0, 6))
    np.testing.assert_allclose(np.asarray(values), [2.0, 1.0, 0.0, 0.0, 0.0, 0.0])


def test_cosine_by_hand():
    # 1 -> 0 over 0..4: (1 + cos(pi e / 4)) / 2.
    values = jit_evaluate(Schedule("cosine", 0, 4, 1.0, 0.0), jnp.arange(-1, 6))
    expected = [1.0, 1.0, 0.8535533905932737, 0.5, 0.14644660940672624, 0.0, 0.0]
    np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-6, atol=1e-7)
    # Rising 2 -> 6 over 10..20: 2 + 4 * (1 - cos(pi p)) / 2; p = 1/4 gives 2.585786...
    rising = jit_evaluate(Schedule("cosine", 10, 20, 2.0, 6.0), jnp.array([12.5, 15.0, 17.5]))
    np.testing.assert_allclose(np.asarray(rising), [2.585786437626905, 4.0, 5.414213562373095],
                               rtol=1e-6)


def test_constant_kind():
    epochs = jnp.array([-10, 0, 5, 10_000_000], dtype=jnp.int32)
    assert np.asarray(jit_evaluate(constant(3.0), epochs)).tolist() == [3.0] * 4
    assert np.asarray(constant(0.25)(epochs)).tolist() == [0.25] * 4
    assert np.asarray(jit_evaluate(constant(2), jnp.int32(7))).tolist() == 2.0
    assert np.asarray(Schedule("constant", 0, 10, 1.5, 1.5)(epochs)).tolist() == [1.5] * 4


def test_default_schedule_is_one_everywhere():
    assert np.asarray(Schedule()(jnp.array([0, 123, 10_000_000]))).tolist() == [1.0] * 3


def test_integer_numbers_work():
    values = jit_evaluate(Schedule("linear", 0, 4, 2, 0), jnp.arange(0, 6, dtype=jnp.int32))
    np.testing.assert_allclose(np.asarray(values), [2.0, 1.5, 1.0, 0.5, 0.0, 0.0])


# ----------------------------------------------------------------------------------------
# (e) exponential options.


@pytest.mark.parametrize("run", [evaluate, jit_evaluate], ids=["eager", "jit"])
class TestExponentialOptions:
    epochs = jnp.array([-1, 0, 5, 9, 10, 11], dtype=jnp.int32)

    def test_zero_target_decays_to_epsilon(self, run):
        # 1 -> 0 with allow_zero_weights: 0 is raised to 1e-9, so 10 ** (-9 p).
        values = run(Schedule("exponential", 0, 10, 1.0, 0.0), self.epochs)
        expected = [1.0, 1.0, 10 ** -4.5, 10 ** -8.1, 1e-9, 1e-9]
        np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-5)

    def test_tiny_value_also_raised_when_the_other_is_zero(self, run):
        # initial 1e-12, target 0: both become max(v, 1e-9) = 1e-9, a flat line.
        values = run(Schedule("exponential", 0, 10, 1e-12, 0.0), self.epochs)
        np.testing.assert_allclose(np.asarray(values), [1e-9] * 6, rtol=1e-6)

    def test_zero_initial_rises_from_epsilon(self, run):
        # 0 -> 1: 1e-9 * (1 / 1e-9) ** p = 10 ** (-9 (1 - p)).
        values = run(Schedule("exponential", 0, 10, 0.0, 1.0), self.epochs)
        expected = [1e-9, 1e-9, 10 ** -4.5, 10 ** -0.9, 1.0, 1.0]
        np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-5)

    def test_no_raise_without_a_zero(self, run):
        # 1e-12 -> 1 has no zero, so no epsilon: the midpoint is sqrt(1e-12 * 1) = 1e-6.
        values = run(Schedule("exponential", 0, 10, 1e-12, 1.0), self.epochs)
        expected = [1e-12, 1e-12, 1e-6, 10 ** -1.2, 1.0, 1.0]
        np.testing.assert_allclose(np.asarray(values), expected, rtol=1e-5)

    def test_custom_epsilon(self, run):
        # epsilon 1e-4: 1 -> 0 becomes 1 -> 1e-4, i.e. 10 ** (-4 p).
        schedule = Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": 1e-4})
        expected = [1.0, 1.0, 1e-2, 10 ** -3.6, 1e-4, 1e-4]
        np.testing.assert_allclose(np.asarray(run(schedule, self.epochs)), expected, rtol=1e-5)

    def test_silent_steps_at_the_end(self, run):
        options = {"allow_zero_weights": False, "silent": True}
        falling = run(Schedule("exponential", 0, 10, 1.0, 0.0, options=options), self.epochs)
        assert np.asarray(falling).tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        rising = run(Schedule("exponential", 0, 10, 0.0, 2.0, options=options), self.epochs)
        assert np.asarray(rising).tolist() == [0.0, 0.0, 0.0, 0.0, 2.0, 2.0]
        # Without a zero the options change nothing: 1 -> 4 is 4 ** p.
        ramp = run(Schedule("exponential", 0, 10, 1.0, 4.0, options=options), self.epochs)
        np.testing.assert_allclose(
            np.asarray(ramp), [1.0, 1.0, 2.0, 4 ** 0.9, 4.0, 4.0], rtol=1e-6)

    def test_strict_without_zero(self, run):
        options = {"allow_zero_weights": False, "silent": False}
        values = run(Schedule("exponential", 0, 10, 8.0, 2.0, options=options), self.epochs)
        # 8 * (1/4) ** p: 8, 8, 4, 8 * 4 ** -0.9, 2, 2.
        np.testing.assert_allclose(
            np.asarray(values), [8.0, 8.0, 4.0, 8 * 4 ** -0.9, 2.0, 2.0], rtol=1e-6)


# ----------------------------------------------------------------------------------------
# (g) properties against the NumPy formulas, eager / jit / vmap / stacked / scan.

KINDS = [
    ("linear", {}),
    ("cosine", {}),
    ("exponential", {}),
    ("exponential", {"epsilon": 1e-6}),
    ("exponential", {"allow_zero_weights": False, "silent": True}),
]
# XLA on the CPU flushes subnormal floats to zero, so they are left out.
float32s = st.floats(min_value=-10.0, max_value=10.0, width=32, allow_subnormal=False)
non_negative_float32s = st.one_of(st.just(0.0), st.floats(min_value=2 ** -10, max_value=10.0,
                                                          width=32))
half_epochs = st.integers(min_value=-400, max_value=1000).map(lambda n: n / 2)


@st.composite
def schedule_numbers(draw, kind):
    start = draw(half_epochs)
    end = start + draw(st.integers(min_value=1, max_value=400)) / 2
    values = non_negative_float32s if kind == "exponential" else float32s
    return start, end, draw(values), draw(values)


@st.composite
def schedules(draw):
    kind, options = draw(st.sampled_from(KINDS))
    return kind, options, draw(schedule_numbers(kind))


EPOCHS_16 = st.lists(half_epochs, min_size=16, max_size=16).map(
    lambda es: jnp.asarray(es, jnp.float32))


@HYPOTHESIS_SETTINGS
@given(schedules(), EPOCHS_16)
def test_matches_numpy_formula_eager_jit_vmap_scan(drawn, epochs):
    kind, options, (start, end, initial, target) = drawn
    schedule = Schedule(kind, start, end, initial, target, options=options)
    expected = reference_values(kind, start, end, initial, target, np.asarray(epochs),
                                **options)
    tol = tolerances(kind, initial, target)
    for values in (schedule(epochs), jit_evaluate(schedule, epochs),
                   jit_over_epochs(schedule, epochs), scan_over_epochs(schedule, epochs)):
        np.testing.assert_allclose(np.asarray(values), expected, **tol)


@HYPOTHESIS_SETTINGS
@given(st.sampled_from(KINDS).flatmap(
    lambda ko: st.tuples(st.just(ko), st.lists(schedule_numbers(ko[0]), min_size=8,
                                               max_size=8))),
       st.lists(half_epochs, min_size=8, max_size=8))
def test_stacked_batch_matches_numpy_formula(drawn, epochs):
    (kind, options), numbers = drawn
    batch = stack([Schedule(kind, *n, options=options) for n in numbers])
    assert batch.initial_value.shape == (8,)
    values = np.asarray(jit_over_batch(batch, jnp.asarray(epochs, jnp.float32)))
    for value, n, epoch in zip(values, numbers, epochs):
        expected = reference_values(kind, *n, epoch, **options)
        np.testing.assert_allclose(value, expected, **tolerances(kind, n[2], n[3]))


@HYPOTHESIS_SETTINGS
@given(schedules(), EPOCHS_16)
def test_within_bounds_and_endpoints(drawn, epochs):
    kind, options, (start, end, initial, target) = drawn
    schedule = Schedule(kind, start, end, initial, target, options=options)
    values = np.asarray(jit_evaluate(schedule, epochs))
    # Bounds of REFERENCE.md, with the exponential's epsilon-raised values where they apply.
    eff_initial, eff_target = effective_values(kind, initial, target, options)
    lowest = max(np.float32(0.0), min(eff_initial, eff_target))
    highest = max(eff_initial, eff_target)
    if lowest <= highest:
        assert np.all(values >= lowest) and np.all(values <= highest)
    else:  # both negative: the interval is empty and min(highest, ...) wins everywhere
        assert np.all(values == highest)
    # Endpoints hold exactly, for scalar epochs and for arrays of epochs (where XLA may
    # divide by the span as a multiplication by its reciprocal).
    def at(epoch):
        return float(jit_evaluate(schedule, jnp.float32(epoch)))

    before = [start - 7, start]
    after = [end, end + 0.5, end + 7, end + 1e3]
    at_start = min(highest, max(lowest, eff_initial))
    at_end = min(highest, max(lowest, eff_target))
    assert [at(e) for e in before] == [at_start] * 2
    assert [at(e) for e in after] == [at_end] * 4
    as_array = np.asarray(jit_evaluate(schedule, jnp.asarray(before + after, jnp.float32)))
    assert as_array.tolist() == [at_start] * 2 + [at_end] * 4


@HYPOTHESIS_SETTINGS
@given(schedule_numbers("linear"), EPOCHS_16)
def test_linear_is_monotone(numbers, epochs):
    start, end, initial, target = numbers
    ordered = jnp.sort(epochs)
    values = np.asarray(jit_evaluate(Schedule("linear", *numbers), ordered))
    steps = np.diff(values)
    if target >= initial:
        assert np.all(steps >= 0)
    else:
        assert np.all(steps <= 0)


# ----------------------------------------------------------------------------------------
# (h) gradients with respect to the numbers.


def test_grad_wrt_numbers_linear():
    # s(5) = i + p (t - i), p = (5 - a) / (b - a) = 0.5 with a = 0, b = 10, i = 1, t = 0:
    # ds/di = 1 - p = 0.5, ds/dt = p = 0.5,
    # ds/da = (t - i) (e - b) / (b - a)^2 = (-1)(-5)/100 = 0.05,
    # ds/db = -(t - i) (e - a) / (b - a)^2 = 5/100 = 0.05.
    grads = jax.jit(jax.grad(evaluate))(Schedule("linear", 0, 10, 1.0, 0.0), jnp.float32(5))
    assert isinstance(grads, Schedule)
    np.testing.assert_allclose(
        [grads.initial_value, grads.target_value, grads.start_epoch, grads.end_epoch],
        [0.5, 0.5, 0.05, 0.05], rtol=1e-6)
    # The same through a Schedule built from the traced number.
    # Before start (epoch -1) the value is the initial value: derivative 1 w.r.t. it.
    d_initial = jax.jit(jax.vmap(jax.grad(
        lambda i, e: Schedule("linear", 0, 10, i, 0.0)(e)), in_axes=(None, 0)))(
            1.0, jnp.array([5.0, -1.0]))
    np.testing.assert_allclose(np.asarray(d_initial), [0.5, 1.0], rtol=1e-6)


def test_grad_wrt_numbers_exponential():
    # s = i^(1-p) t^p with i = 1, t = 4, p = 0.5: s = 2, ds/di = (1-p) (t/i)^p = 1,
    # ds/dt = p (t/i)^(p-1) = 0.25, ds/da = s ln(t/i) (e - b)/(b - a)^2 = -0.05 * 2 ln 4.
    grads = jax.jit(jax.grad(evaluate))(Schedule("exponential", 0, 10, 1.0, 4.0), jnp.float32(5))
    np.testing.assert_allclose(
        [grads.initial_value, grads.target_value, grads.start_epoch],
        [1.0, 0.25, -0.1 * np.log(4.0)], rtol=1e-5)


# ----------------------------------------------------------------------------------------
# (i) compilations.


def test_count_compilations_counts_real_compilations():
    def add_one(x):
        return x + 1

    jitted = jax.jit(add_one)
    three, four = jnp.zeros(3), jnp.zeros(4)
    with count_compilations() as first:
        jitted(three)
        jitted(three)
    with count_compilations() as new_shape:
        jitted(four)
    with count_compilations() as cached:
        jitted(four)
    assert (first.count("add_one"), new_shape.count("add_one"), cached.count("add_one")) == (
        1, 1, 0)


def test_new_epochs_and_numbers_never_recompile():
    def evaluate_once(schedule, epoch):
        return schedule(epoch)

    jitted = jax.jit(evaluate_once)
    linears = [Schedule("linear", 0, 10, 1.0, 0.0), Schedule("linear", 5, 50, 2.0, 0.5),
               Schedule("linear", -3, 7, 0, 4)]
    epochs = [jnp.int32(e) for e in (0, 3, 99)]
    with count_compilations() as log:
        values = [[float(jitted(s, e)) for e in epochs] for s in linears]
    assert log.count("evaluate_once") == 1
    # By hand: 1 -> 0 over 0..10; 2 -> 0.5 over 5..50; 0 -> 4 over -3..7.
    np.testing.assert_allclose(values, [[1.0, 0.7, 0.0], [2.0, 2.0, 0.5], [1.2, 2.4, 4.0]],
                               rtol=1e-6)

    float_epochs = [jnp.float32(e) for e in (0.5, 7.25)]
    with count_compilations() as log:
        for schedule in linears:
            for epoch in float_epochs:
                jitted(schedule, epoch)
    assert log.count("evaluate_once") == 1  # a new epoch dtype (float32), then cached

    cosine = Schedule("cosine", 0, 10, 1.0, 0.0)
    with count_compilations() as log:
        jitted(cosine, epochs[0])
        jitted(Schedule("cosine", 2, 3, 5.0, 6.0), epochs[1])
    assert log.count("evaluate_once") == 1  # a new kind is new structure: one compilation


# ----------------------------------------------------------------------------------------
# (j) errors: clear, early, naming the argument.


@pytest.mark.parametrize("kwargs, error, match", [
    ({"schedule": "lineer"}, ValueError, r"schedule='lineer' is not a registered schedule"),
    ({"schedule": 3}, TypeError, r"schedule must be a registered name or a callable"),
    ({"schedule": None}, TypeError, r"schedule must be a registered name or a callable"),
    ({"start_epoch": 5, "end_epoch": 5}, ValueError,
     r"end_epoch must be greater than start_epoch.*start_epoch=5\.0, end_epoch=5\.0"),
    ({"start_epoch": 5, "end_epoch": 2}, ValueError,
     r"end_epoch must be greater than start_epoch"),
    ({"schedule": "exponential", "initial_value": -1.0, "target_value": 1.0}, ValueError,
     r"initial_value >= 0 and target_value >= 0.*initial_value=-1\.0"),
    ({"schedule": "exponential", "initial_value": 1.0, "target_value": -0.5}, ValueError,
     r"initial_value >= 0 and target_value >= 0.*target_value=-0\.5"),
    ({"schedule": "exponential", "initial_value": 1.0, "target_value": 0.0,
      "options": {"allow_zero_weights": False}}, ValueError,
     r"allow_zero_weights=False and silent=False.*target_value=0\.0"),
    ({"schedule": "exponential", "initial_value": 0.0, "target_value": 1.0,
      "options": {"allow_zero_weights": False, "silent": False}}, ValueError,
     r"allow_zero_weights=False and silent=False.*initial_value=0\.0"),
    ({"options": {"epsilon": 1e-6}}, TypeError,
     r"schedule options \{'epsilon': 1e-06\} do not fit .*'linear'.*epsilon"),
    ({"schedule": "exponential", "options": {"eps": 1e-6}}, TypeError,
     r"do not fit the schedule function 'exponential'.*'eps'"),
    ({"options": 3}, TypeError, r"options must be a mapping"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Schedule(**{"start_epoch": 0, "end_epoch": 10, **kwargs})


@pytest.mark.parametrize("field", ["start_epoch", "end_epoch", "initial_value", "target_value"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"),
                                 np.float32("nan"), jnp.array(float("inf"))],
                         ids=["nan", "inf", "-inf", "np-nan", "jnp-inf"])
def test_non_finite_numbers(field, bad):
    with pytest.raises(ValueError, match=rf"{field} must be finite"):
        Schedule("linear", **{"start_epoch": 0, "end_epoch": 10, field: bad})


@pytest.mark.parametrize("field", ["start_epoch", "end_epoch", "initial_value", "target_value"])
@pytest.mark.parametrize("bad, shown", [
    (True, "bool"), (np.bool_(False), "bool"), (jnp.array(True), "dtype bool"),
    ("1.0", "str"), (None, "NoneType"), (1j, "complex"), (object(), "object"),
    (jnp.array(1 + 2j), "dtype complex64"),
])
def test_non_numbers(field, bad, shown):
    with pytest.raises(TypeError, match=rf"{field} must be a real number, got {shown}"):
        Schedule("linear", **{"start_epoch": 0, "end_epoch": 10, field: bad})


def test_replace_validates_like_a_new_schedule():
    schedule = Schedule("linear", 0, 10, 1.0, 0.0)
    with pytest.raises(ValueError, match="end_epoch must be greater than start_epoch"):
        schedule.replace(end_epoch=0)
    np.testing.assert_allclose(float(schedule.replace(end_epoch=20)(5)), 0.75)


def test_stack_errors():
    with pytest.raises(ValueError, match="stack requires at least one schedule"):
        stack([])
    with pytest.raises(ValueError,
                       match="stack requires schedules of one kind.*'cosine'.*'linear'"):
        stack([Schedule("linear", 0, 10), Schedule("cosine", 0, 10)])
    with pytest.raises(ValueError, match="stack requires schedules of one kind and options"):
        stack([Schedule("exponential", 0, 10),
               Schedule("exponential", 0, 10, options={"epsilon": 1e-6})])


def test_stack_by_hand():
    batch = stack([Schedule("linear", 0, 10, 1.0, 0.0), Schedule("linear", 0, 4, 2.0, 4.0),
                   Schedule("linear", 10, 20, 5.0, 5.0)])
    assert batch.start_epoch.shape == (3,) and batch.schedule == "linear"
    values = jit_over_batch(batch, jnp.array([5.0, 1.0, 30.0]))
    np.testing.assert_allclose(np.asarray(values), [0.5, 2.5, 5.0], rtol=1e-6)
    # vmap over epochs of each member: an outer product of schedules and epochs.
    grid = jax.vmap(jax.vmap(evaluate, in_axes=(None, 0)), in_axes=(0, None))(
        batch, jnp.array([0.0, 2.0]))
    np.testing.assert_allclose(np.asarray(grid), [[1.0, 0.8], [2.0, 3.0], [5.0, 5.0]],
                               rtol=1e-6)


def test_multiplier():
    # value / max(initial, target).
    np.testing.assert_allclose(float(Schedule("linear", 0, 10, 2.0, 4.0).multiplier(5)), 0.75)
    pix2pix = Schedule("linear", 100, 200, 2e-4, 0.0)
    multipliers = jax.jit(pix2pix.multiplier)(jnp.array([0, 100, 150, 175, 200]))
    np.testing.assert_allclose(np.asarray(multipliers), [1.0, 1.0, 0.5, 0.25, 0.0],
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(float(Schedule("exponential", 0, 10, 1.0, 4.0).max_value), 4.0)


# ----------------------------------------------------------------------------------------
# (k) custom schedule functions and the registry.


def halfway_step(schedule, epoch, at=0.5):
    """``initial_value`` until ``start + at * (end - start)``, then ``target_value``."""
    switch = schedule.start_epoch + at * (schedule.end_epoch - schedule.start_epoch)
    return jnp.where(epoch < switch, schedule.initial_value, schedule.target_value)


CUSTOM_NAME = "halfway_step_for_tests"


@pytest.fixture
def isolated_registry(monkeypatch):
    """A private copy of the registry for one test (there is no public unregister)."""
    monkeypatch.setattr(_functions, "_REGISTRY", dict(_functions._REGISTRY))


def test_custom_callable_under_jit_vmap_scan():
    schedule = Schedule(halfway_step, 0, 10, 3.0, 1.0)
    epochs = jnp.array([-1, 0, 4, 5, 9, 12], dtype=jnp.int32)
    expected = [3.0, 3.0, 3.0, 1.0, 1.0, 1.0]  # switch at epoch 5
    for values in (schedule(epochs), jit_evaluate(schedule, epochs),
                   jit_over_epochs(schedule, epochs), scan_over_epochs(schedule, epochs)):
        assert np.asarray(values).tolist() == expected
    early = Schedule(halfway_step, 0, 10, 3.0, 1.0, options={"at": 0.2})  # switch at 2
    assert np.asarray(jit_evaluate(early, epochs)).tolist() == [3.0, 3.0, 1.0, 1.0, 1.0, 1.0]
    batch = stack([schedule, Schedule(halfway_step, 10, 20, 7.0, 8.0)])
    assert np.asarray(jit_over_batch(batch, jnp.array([5, 14]))).tolist() == [1.0, 7.0]
    with pytest.raises(TypeError, match=r"schedule options \{'bogus': 1\} do not fit"):
        Schedule(halfway_step, 0, 10, options={"bogus": 1})


def test_register_schedule(isolated_registry):
    register_schedule(CUSTOM_NAME, halfway_step)
    assert schedule_functions()[CUSTOM_NAME] is halfway_step
    schedule = Schedule(CUSTOM_NAME, 0, 10, 3.0, 1.0)
    epochs = jnp.array([0, 4, 5, 12], dtype=jnp.int32)
    assert np.asarray(jit_evaluate(schedule, epochs)).tolist() == [3.0, 3.0, 1.0, 1.0]
    assert np.asarray(jit_over_epochs(schedule, epochs)).tolist() == [3.0, 3.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=rf"schedule name '{CUSTOM_NAME}' is already registered"):
        register_schedule(CUSTOM_NAME, halfway_step)
    with pytest.raises(ValueError, match="schedule name 'linear' is already registered"):
        register_schedule("linear", halfway_step)
    register_schedule(CUSTOM_NAME, _functions.linear, overwrite=True)
    overwritten = Schedule(CUSTOM_NAME, 0, 10, 3.0, 1.0)
    np.testing.assert_allclose(float(overwritten(5)), 2.0)
    # The jitted function sees the new function for new Schedules (no stale cache entry),
    # and a Schedule built before keeps the function it was built with.
    np.testing.assert_allclose(float(jit_evaluate(overwritten, jnp.int32(5))), 2.0)
    assert float(jit_evaluate(schedule, jnp.int32(5))) == 1.0


def test_lists_of_numbers_are_type_checked():
    with pytest.raises(TypeError, match=r"initial_value must hold real numbers, got 'a'"):
        Schedule("linear", 0, 10, ["a"], 0.0)
    with pytest.raises(TypeError, match=r"initial_value must hold real numbers, got True"):
        Schedule("linear", 0, 10, [True], 0.0)
    with pytest.raises(TypeError, match=r"boundaries must hold real numbers, got True"):
        join_schedules([constant(1.0), constant(2.0)], [True])


def test_register_schedule_bad_arguments(isolated_registry):
    with pytest.raises(TypeError, match="requires a non-empty string name"):
        register_schedule("", halfway_step)
    with pytest.raises(TypeError, match="requires a non-empty string name"):
        register_schedule(3, halfway_step)
    with pytest.raises(TypeError, match="requires a callable fn"):
        register_schedule(CUSTOM_NAME, 3.0)


def test_registry_view():
    functions = schedule_functions()
    assert {"constant", "linear", "exponential", "cosine"} <= set(functions)
    with pytest.raises(TypeError):
        functions["mine"] = halfway_step  # read-only view
    assert CUSTOM_NAME not in functions  # the registering tests cleaned up


# ----------------------------------------------------------------------------------------
# (l) no validation inside a trace.


def test_schedule_built_from_traced_numbers():
    @jax.jit
    def value_at(kind_args, epoch):
        start, end, initial, target = kind_args
        return (Schedule("linear", start, end, initial, target)(epoch),
                Schedule("exponential", start, end, initial, target)(epoch))

    numbers = (jnp.float32(0), jnp.float32(10), jnp.float32(1), jnp.float32(0))
    linear_value, exponential_value = value_at(numbers, jnp.float32(5))
    np.testing.assert_allclose(float(linear_value), 0.5)
    # A traced zero is raised to epsilon.
    np.testing.assert_allclose(float(exponential_value), 10 ** -4.5, rtol=1e-5)
    # Validation needs concrete values; traced ones are not inspected, so this does not
    # raise (end < start): the module documents that only concrete numbers are checked.
    inverted = (jnp.float32(10), jnp.float32(0), jnp.float32(1), jnp.float32(2))
    assert np.all(np.isfinite(np.asarray(value_at(inverted, jnp.float32(5)))))

    by_initial = jax.vmap(lambda i: Schedule("linear", 0, 10, i, 0.0)(5.0))(
        jnp.array([1.0, 2.0, 4.0]))
    np.testing.assert_allclose(np.asarray(by_initial), [0.5, 1.0, 2.0])


# ----------------------------------------------------------------------------------------
# (m) factories, like optax's linear_schedule; the curves stay in schedule_functions().

FACTORIES = {"linear": linear, "cosine": cosine, "exponential": exponential}


@pytest.mark.parametrize("kind", FACTORIES)
def test_factories_build_their_kind_and_match_the_numpy_formula(kind):
    numbers = (2, 12, 4.0, 0.5)
    schedule = FACTORIES[kind](*numbers)
    assert isinstance(schedule, Schedule) and schedule.schedule == kind
    assert schedule.options == ()
    assert jax.tree.structure(schedule) == jax.tree.structure(Schedule(kind, *numbers))
    epochs = np.arange(0, 15)
    np.testing.assert_allclose(jit_over_epochs(schedule, jnp.asarray(epochs, jnp.int32)),
                               reference_values(kind, *numbers, epochs),
                               **tolerances(kind, 4.0, 0.5))


def test_linear_factory_by_hand_with_keywords():
    lr = linear(start_epoch=100, end_epoch=200, initial_value=2e-4, target_value=0.0)
    values = jit_over_epochs(lr, jnp.array([0, 100, 150, 175, 200, 300], jnp.int32))
    np.testing.assert_allclose(values, [2e-4, 2e-4, 1e-4, 5e-5, 0.0, 0.0], rtol=1e-6,
                               atol=1e-11)


def test_exponential_factory_options():
    # By hand: at p = 1/2 the value is the geometric mean sqrt(initial * target).
    default = exponential(0, 10, 1.0, 0.0)  # 0 is raised to epsilon = 1e-9
    assert default.options == ()
    np.testing.assert_allclose(float(default(5)), 10 ** -4.5, rtol=1e-5)
    wide = exponential(0, 10, 1.0, 0.0, epsilon=1e-4)
    assert wide.options == (("epsilon", 1e-4),)
    np.testing.assert_allclose(float(wide(5)), 1e-2, rtol=1e-5)
    stepped = exponential(0, 10, 2.0, 0.0, allow_zero_weights=False, silent=True)
    assert stepped.options == (("allow_zero_weights", False), ("silent", True))
    assert np.asarray(jit_over_epochs(stepped, jnp.array([0, 9, 10], jnp.int32))).tolist() \
        == [2.0, 2.0, 0.0]
    with pytest.raises(ValueError, match="cannot reach or leave 0"):
        exponential(0, 10, 1.0, 0.0, allow_zero_weights=False)
    with pytest.raises(TypeError):
        exponential(0, 10, 1.0, 0.5, 1e-6)  # options are keyword-only


@pytest.mark.parametrize("make, match", [
    (lambda: linear(10, 10, 1.0, 0.0), "end_epoch must be greater than start_epoch"),
    (lambda: cosine(0, 10, float("nan"), 0.0), "initial_value must be finite"),
    (lambda: exponential(0, 10, -1.0, 1.0), "requires initial_value >= 0"),
    (lambda: constant(float("inf")), "initial_value must be finite"),
])
def test_factories_validate_like_schedule(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_curves_stay_reachable_by_name():
    curve = schedule_functions()["linear"]
    assert curve is not linear
    np.testing.assert_allclose(float(curve(linear(0, 10, 1.0, 0.0), jnp.float32(5))), 0.5)
    for kind in ("constant", "linear", "exponential", "cosine"):
        assert schedule_functions()[kind] is getattr(_functions, kind)
