"""Weight rules in the manager: products, gate, clip, EMA, freeze and their plumbing.

Expected weights are written out by hand or computed in float64 NumPy from the
definitions in the docstrings, never read back from the code under test.
"""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import count_compilations
from nectargan_jax import LossManager
from nectargan_jax.scheduling import linear, piecewise_linear
from nectargan_jax.weighting import (Rule, adaptive_last_layer, applied, clip,
                                     ema, freeze, gate, grad_norm_balance, uncertainty)

SHAPE = (2,)


def mean_of_x(x, y):
    """A scripted loss: the value of ``x`` (filled with one number)."""
    del y
    return jnp.mean(x)


def scripted(value):
    return jnp.full(SHAPE, value, jnp.float32), jnp.zeros(SHAPE, jnp.float32)


def run(manager, names, losses, epochs, jitted=True):
    """One call per row of ``losses`` (one value per name) at ``epochs[t]``."""
    def step(m, xs, epoch):
        return m.compute_many({n: (x, jnp.zeros_like(x)) for n, x in zip(names, xs)}, epoch)
    step = jax.jit(step) if jitted else step
    for row, epoch in zip(losses, epochs):
        xs = [jnp.full(SHAPE, v, jnp.float32) for v in row]
        _, manager = step(manager, xs, jnp.float32(epoch))
    return manager


def recorded(manager):
    records, _ = manager.drain()
    return {name: (np.asarray(v, np.float64), np.asarray(w, np.float64))
            for name, (v, w) in records.items()}


def test_a_product_of_a_number_a_schedule_and_a_step_gate():
    # weight(step, epoch) = 0.5 * (10 - epoch) / 10 * [step >= 2]
    rule = gate(2) * linear(0, 10, 1.0, 0.0) * 0.5
    lm = LossManager(capacity=8).register("a", mean_of_x, weight=rule)
    lm = run(lm, ["a"], [[4.0]] * 5, epochs=[0, 1, 2, 3, 4])
    values, weights = recorded(lm)["a"]
    expected = np.array([0, 0, 0.5 * 0.8, 0.5 * 0.7, 0.5 * 0.6])
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    np.testing.assert_allclose(values, 4.0 * expected, rtol=1e-6)


def test_an_epoch_gate_and_a_rule_times_the_loss_schedule():
    # The registered number stays the loss's schedule: 3 * [epoch >= 2].
    lm = (LossManager(capacity=8).register("a", mean_of_x, weight=3.0)
          .with_rule(gate(2, unit="epoch"), ["a"]))
    lm = run(lm, ["a"], [[1.0]] * 4, epochs=[0, 1, 2, 7])
    np.testing.assert_array_equal(recorded(lm)["a"][1], [0.0, 0.0, 3.0, 3.0])


def test_clip_bounds_the_weight_and_flags_the_clamp():
    lm = LossManager(capacity=8).register(
        "a", mean_of_x, weight=clip(linear(0, 10, 0.0, 1.0), 0.2, 0.5))
    names, epochs = ["a"], [0, 3, 5, 8]

    def step(m, x, epoch):
        return m.objective({"a": (x, x)}, epoch, steps=m.history.total)

    flags = [bool(step(lm, jnp.ones(SHAPE), jnp.float32(e)).clamped[0]) for e in epochs]
    assert flags == [True, False, True, True]  # 0.0 < 0.2; 0.3 inside; 0.5 at; 0.8 > 0.5
    lm = run(lm, names, [[2.0]] * 4, epochs)
    np.testing.assert_allclose(recorded(lm)["a"][1], [0.2, 0.3, 0.5, 0.5], rtol=1e-6)


def test_ema_of_a_group_weight_follows_its_definition():
    # The inner weight is linear 0 -> 1 over epochs [0, 4]; w_0 = inner_0 and
    # w_t = d w_{t-1} + (1 - d) inner_t, for both losses of the group.
    decay, epochs = 0.75, [0, 1, 2, 3, 4, 4]
    lm = (LossManager(capacity=8).register("a", mean_of_x).register("b", mean_of_x, 2.0)
          .with_rule(ema(linear(0, 4, 0.0, 1.0), decay), ["a", "b"]))
    lm = run(lm, ["a", "b"], [[1.0, 1.0]] * len(epochs), epochs)
    inner = np.array(epochs, np.float64) / 4
    expected = [inner[0]]
    for value in inner[1:]:
        expected.append(decay * expected[-1] + (1 - decay) * value)
    got = recorded(lm)
    np.testing.assert_allclose(got["a"][1], expected, rtol=1e-6)
    np.testing.assert_allclose(got["b"][1], 2.0 * np.array(expected), rtol=1e-6)


def test_freeze_replays_recorded_weights_exactly():
    rule = ema(gate(1) * linear(0, 6, 0.3, 1.7), 0.6)
    epochs = [0, 1, 2, 3, 4, 5, 6]
    lm = LossManager(capacity=8).register("a", mean_of_x, weight=rule)
    weights = recorded(run(lm, ["a"], [[1.0]] * 7, epochs))["a"][1]
    replay = LossManager(capacity=8).register("a", mean_of_x,
                                              weight=freeze(weights.astype(np.float32)))
    np.testing.assert_array_equal(recorded(run(replay, ["a"], [[1.0]] * 7, epochs))["a"][1],
                                  weights)


def test_freeze_interpolates_between_recorded_steps():
    lm = LossManager(capacity=8).register("a", mean_of_x,
                                          weight=freeze([1.0, 3.0], steps=[0, 4]))
    lm = run(lm, ["a"], [[1.0]] * 6, [0] * 6)
    np.testing.assert_allclose(recorded(lm)["a"][1], [1.0, 1.5, 2.0, 2.5, 3.0, 3.0])


@pytest.mark.parametrize("points, values, message", [
    ([], [], "non-empty"),
    ([0, 1], [1.0], "same length"),
    ([0, 2, 2], [1, 2, 3], "strictly increasing"),
    ([0, 1], [1.0, float("nan")], "finite"),
])
def test_piecewise_linear_rejects_bad_points(points, values, message):
    with pytest.raises(ValueError, match=message):
        piecewise_linear(points, values)


def test_rule_state_survives_a_restart_mid_run():
    """Pickled after 3 calls and resumed, the EMA gives the uninterrupted weights."""
    def build():
        return (LossManager(capacity=8).register("a", mean_of_x).register("b", mean_of_x)
                .with_rule(ema(linear(0, 6, 0.0, 3.0), 0.5), ["a", "b"]))
    epochs = [0, 1, 2, 3, 4, 5]
    straight = recorded(run(build(), ["a", "b"], [[1.0, 2.0]] * 6, epochs))
    first = run(build(), ["a", "b"], [[1.0, 2.0]] * 3, epochs[:3])
    resumed = pickle.loads(pickle.dumps(first))
    resumed = run(resumed, ["a", "b"], [[1.0, 2.0]] * 3, epochs[3:])
    np.testing.assert_array_equal(recorded(resumed)["a"][1], straight["a"][1])


def test_jit_vmap_and_scan_agree_and_compile_once():
    def build(scale):
        return (LossManager(capacity=8).register("a", mean_of_x)
                .register("b", mean_of_x, weight=ema(gate(1) * scale, 0.5)))

    def step(m, xs):
        x, epoch = xs
        (total, _, _), m = m.compute_many({"a": (x, x * 0), "b": (x, x * 0)}, epoch)
        return m, total

    xs = jnp.arange(1.0, 5.0)[:, None] * jnp.ones((1,) + SHAPE)
    epochs = jnp.arange(4.0)
    eager = build(2.0)
    for x, e in zip(xs, epochs):
        eager, _ = step(eager, (x, e))
    scan = jax.jit(lambda m: jax.lax.scan(step, m, (xs, epochs)))
    with count_compilations() as log:
        scanned, _ = scan(build(2.0))
        again, _ = scan(build(3.0))  # built apart, other numbers: the same program
    batch = jax.tree.map(lambda a, b: jnp.stack([a, b]), build(2.0), build(3.0))
    vmapped, _ = jax.vmap(lambda m: jax.lax.scan(step, m, (xs, epochs)))(batch)
    # w_b: 0, then 0.5 * 0 + 0.5 * s, then 0.75 s, then 0.875 s (s the scale).
    expected = np.array([0.0, 0.5, 0.75, 0.875])
    for manager, scale in ((eager, 2.0), (scanned, 2.0), (again, 3.0)):
        np.testing.assert_allclose(recorded(manager)["b"][1], scale * expected, rtol=1e-6)
    weights = vmapped.drain()[0]["b"][1]
    np.testing.assert_allclose(weights, np.outer([2.0, 3.0], expected), rtol=1e-6)
    assert log.count() == 1, log.names


def test_a_group_rule_needs_all_its_losses_in_one_call():
    lm = (LossManager().register("a", mean_of_x).register("b", mean_of_x)
          .with_rule(ema(1.0), ["a", "b"]))
    with pytest.raises(ValueError, match=r"share a weight rule.*missing from the inputs: \['b'\]"):
        lm.compute("a", *scripted(1.0))


def test_rule_plumbing_errors_are_clear():
    lm = LossManager().register("a", mean_of_x, weight=gate(3))
    with pytest.raises(KeyError, match="no loss named 'z'"):
        lm.with_rule(ema(1.0), ["a", "z"])
    with pytest.raises(TypeError, match="names must be a non-empty sequence"):
        lm.with_rule(ema(1.0), "a")
    with pytest.raises(ValueError, match="distinct"):
        lm.with_rule(ema(1.0), ["a", "a"])
    with pytest.raises(TypeError, match="must be a rule, a schedule or a real number"):
        lm.with_rule("fast", ["a"])
    with pytest.raises(ValueError, match="follows a rule"):
        lm.weight("a", 0)
    with pytest.raises(ValueError, match=r"one array per trainable leaf \(0\)"):
        lm.with_weight_params((jnp.zeros(1),))
    with pytest.raises(TypeError, match="grads must be a mapping"):
        lm.compute("a", *scripted(1.0), grads=[1.0])
    with pytest.raises(ValueError, match="unit must be one of"):
        gate(3, unit="iteration")
    with pytest.raises(ValueError, match="minimum <= maximum"):
        clip(1.0, 2.0, 1.0)
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        ema(1.0, 1.0)


def test_set_weight_replaces_a_loss_rule_and_keeps_group_rules():
    lm = (LossManager(capacity=8).register("a", mean_of_x, weight=gate(5))
          .register("b", mean_of_x).with_rule(0.5, ["a", "b"]))
    lm = lm.set_weight("a", 4.0)
    with pytest.raises(ValueError, match="follows a rule"):
        lm.weight("b", 0)  # still under the group rule
    lm = run(lm, ["a", "b"], [[1.0, 1.0]], [0])
    got = recorded(lm)
    assert got["a"][1].tolist() == [2.0] and got["b"][1].tolist() == [0.5]


class CountingRule(Rule):
    """A user's rule (a pytree by subclassing alone) whose bind puts one buffer in two
    leaves of its state and keeps a caller's array."""

    factor: jax.Array

    def bind(self, names):
        zeros = jnp.zeros((), jnp.float32)
        return self.replace(state=(zeros, zeros))

    def __call__(self, ctx):
        calls, seen = self.state
        return applied(self.factor, self.replace(state=(calls + 1, seen + 1)),
                       len(ctx.names))


def test_a_donated_step_owns_the_buffers_a_rule_binds():
    factor = jnp.float32(3.0)  # the caller keeps using it after the step
    lm = (LossManager(capacity=8).register("a", mean_of_x, weight=CountingRule(factor))
          .register("b", mean_of_x).with_rule(CountingRule(factor), ["b"]))
    step = jax.jit(lambda m, x: m.compute_many({"a": (x, x), "b": (x, x)}, 0.0)[1],
                   donate_argnums=0)
    for _ in range(2):
        lm = step(lm, jnp.ones(SHAPE, jnp.float32))
    assert float(factor) == 3.0
    got = recorded(lm)
    assert got["a"][1].tolist() == [3.0, 3.0] and got["b"][1].tolist() == [3.0, 3.0]


def test_a_rule_subclass_is_a_pytree_whose_bind_fills_only_its_state():
    rule = CountingRule(jnp.float32(2.0))
    assert rule.state is None and jax.tree.leaves(rule) == [2.0]
    bound = rule.bind(("a",))
    assert float(bound.factor) == 2.0 and len(jax.tree.leaves(bound)) == 3
    assert [float(x) for x in jax.tree.leaves(bound.state)] == [0.0, 0.0]
    rebuilt = jax.tree.unflatten(jax.tree.structure(bound), jax.tree.leaves(bound))
    assert isinstance(rebuilt, CountingRule) and rebuilt.state == bound.state


def test_rules_declare_the_gradients_they_read():
    lm = (LossManager().register("gan", mean_of_x, weight=gate(3) * adaptive_last_layer("nll"))
          .register("a", mean_of_x).register("b", mean_of_x)
          .with_rule(ema(grad_norm_balance()), ["a", "b"]))
    assert lm.gradients() == ("a", "b", "gan", "nll")
    assert LossManager().register("a", mean_of_x, weight=gate(3)).gradients() == ()


def test_weight_params_are_the_trainable_leaves_of_every_rule():
    lm = (LossManager().register("a", mean_of_x, weight=ema(2.0))
          .register("b", mean_of_x).register("c", mean_of_x)
          .with_rule(uncertainty(-0.5), ["a", "b"]).with_rule(clip(uncertainty(1.0)), ["c"]))
    params = lm.weight_params()
    assert [p.tolist() for p in params] == [[-0.5, -0.5], [1.0]]
    changed = lm.with_weight_params((jnp.array([0.0, 2.0]), jnp.array([3.0])))
    assert [p.tolist() for p in changed.weight_params()] == [[0.0, 2.0], [3.0]]
    # exp(-s) / 2 from the new log-variances (0, 2 and 3), times a's own weight 2
    out, _ = changed.compute_many({n: scripted(1.0) for n in "abc"}, 0)
    np.testing.assert_allclose([float(out.weights[n]) for n in "abc"],
                               [1.0, 0.5 * np.exp(-2.0), 0.5 * np.exp(-3.0)], rtol=1e-6)
    with pytest.raises(ValueError, match=r"params\[1\] must have the shape .* \(1,\); got "
                                         r"shape \(2,\)"):
        lm.with_weight_params((jnp.zeros(2), jnp.zeros(2)))
