"""LossManager: registration, computation under jax transformations, records, queries."""

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np
import pytest

from nectargan_jax.manager import reporting
from nectargan_jax import LossManager
from nectargan_jax.losses import LossSpec
from nectargan_jax.losses._functions import l1, mse
from nectargan_jax.scheduling import Schedule, from_optax
from nectargan_jax.weighting import uncertainty
import optax

X = jnp.ones((1, 3, 4, 4), jnp.float32)
ZERO = jnp.zeros((1, 3, 4, 4), jnp.float32)


def two_losses(capacity=16, **kwargs):
    """'a': L1 weighted 100 (tag G); 'b': MSE with linear 1 -> 0 over epochs [0, 10] (D)."""
    return (LossManager(capacity=capacity, **kwargs)
            .register("a", l1, 100.0, tags=("G",))
            .register("b", mse, Schedule("linear", 0, 10, 1.0, 0.0), tags=("D",)))


def test_register_returns_new_manager_and_keeps_the_old():
    empty = LossManager()
    one = empty.register("a", l1)
    assert empty.names == () and one.names == ("a",)


def test_each_loss_owns_its_weight_fixing_shared_default_d1():
    # The reference shares one default Schedule: 'a' at 100 then 'b' at 1 weighs both 1.
    lm = LossManager().register("a", l1, 100.0).register("b", l1, 1.0)
    assert reporting.loss_weights(lm) == {"a": 100.0, "b": 1.0}
    a, lm = lm.compute("a", X, ZERO)
    b, lm = lm.compute("b", X, ZERO)
    assert (float(a), float(b)) == (100.0, 1.0)


def test_compute_weights_by_the_schedule_at_the_epoch():
    lm = two_losses()
    # |1 - 0| = 1 everywhere, so the weighted loss is the weight itself.
    for epoch, expected in [(0, 1.0), (2.5, 0.75), (10, 0.0), (12, 0.0)]:
        value, lm = lm.compute("b", X, ZERO, epoch)
        assert float(value) == pytest.approx(expected)


def test_compute_many_returns_total_values_and_records_applied_weights_d2():
    lm = two_losses()
    (total, values, _), lm = jax.jit(lambda m, e: m.compute_many(
        {"a": (2 * X, ZERO), "b": (2 * X, ZERO)}, e))(lm, jnp.float32(4))
    # a: |2| * 100 = 200; b: 2^2 * (1 - 0.4) = 2.4
    assert float(values["a"]) == pytest.approx(200.0)
    assert float(values["b"]) == pytest.approx(2.4)
    assert float(total) == pytest.approx(202.4)
    records, _ = lm.drain()
    np.testing.assert_allclose(records["b"][1], [0.6], rtol=1e-6)  # the weight applied
    np.testing.assert_allclose(records["a"][0], [200.0])


def test_gradients_flow_through_the_weighted_loss_not_the_records():
    lm = two_losses()

    def objective(x, m):
        (total, _, _), m = m.compute_many({"a": (x, ZERO), "b": (x, ZERO)}, jnp.float32(5))
        return total, m

    x = jnp.full((1, 3, 4, 4), 2.0)
    grad, new = jax.jit(jax.grad(objective, has_aux=True))(x, lm)
    n = x.size
    # d/dx [100 * mean|x|] = 100/n ; d/dx [0.5 * mean x^2] = 0.5 * 2x / n = 2/n at x = 2
    np.testing.assert_allclose(grad, np.full(x.shape, (100 + 2.0) / n), rtol=1e-5)
    assert reporting.loss_values(new) == {"a": 200.0, "b": 2.0}


def test_vmap_over_a_batch_of_managers_sweeps_weights():
    lm = two_losses()
    sweep = jax.vmap(lambda w: lm.set_weight("a", w))(jnp.array([1.0, 10.0, 100.0]))
    step = jax.jit(jax.vmap(lambda m: m.compute("a", X, ZERO)))
    values, sweep = step(sweep)
    np.testing.assert_allclose(values, [1.0, 10.0, 100.0])
    np.testing.assert_allclose(reporting.loss_values(sweep, ["G"])["a"], [1.0, 10.0, 100.0])


def test_manager_as_a_scan_carry():
    lm = two_losses()

    def body(m, epoch):
        value, m = m.compute("b", X, ZERO, epoch)
        return m, value

    lm, values = jax.jit(lambda m: jax.lax.scan(body, m, jnp.arange(11, dtype=jnp.float32)))(lm)
    np.testing.assert_allclose(values, np.linspace(1.0, 0.0, 11), atol=1e-6)
    records, _ = lm.drain()
    np.testing.assert_allclose(records["b"][1], np.linspace(1.0, 0.0, 11), atol=1e-6)


def _total_and_manager(out, manager):
    return out.total, manager


def test_a_step_makes_no_host_transfer():
    lm = two_losses()
    step = jax.jit(lambda m, x, e: _total_and_manager(
        *m.compute_many({"a": (x, ZERO), "b": (x, ZERO)}, e)))
    epoch = jnp.float32(3)
    _, lm = step(lm, X, epoch)  # compile outside the guard
    with jax.transfer_guard("disallow"):
        for _ in range(5):
            _, lm = step(lm, X, epoch)
    assert int(lm.history.total[0]) == 6


def test_changing_epoch_or_weight_numbers_does_not_retrace():
    traces = []

    @jax.jit
    def step(m, e):
        traces.append(1)
        return m.compute("b", X, ZERO, e)

    lm = two_losses()
    for epoch in range(5):
        _, lm = step(lm, jnp.float32(epoch))
    lm = lm.set_weight("b", Schedule("linear", 3, 7, 5.0, 2.0))
    _, lm = step(lm, jnp.float32(1))
    assert len(traces) == 1
    lm = lm.set_weight("b", Schedule("cosine", 3, 7, 5.0, 2.0))  # a new kind: new structure
    _, lm = step(lm, jnp.float32(1))
    assert len(traces) == 2


def test_optax_schedule_as_a_weight():
    lm = LossManager().register("a", l1, from_optax(optax.linear_schedule(1.0, 0.0, 100),
                                                    steps_per_epoch=10))
    value, _ = lm.compute("a", X, ZERO, 2.5)  # step 25 of 100: 0.75
    assert float(value) == pytest.approx(0.75)


def test_keep_map_keeps_the_latest_weighted_map():
    lm = LossManager().register("a", l1, 2.0, keep_map=(1, 3, 4, 4))
    np.testing.assert_array_equal(reporting.loss_tensors(lm)["a"], np.zeros((1, 3, 4, 4)))
    x = jnp.arange(48, dtype=jnp.float32).reshape(1, 3, 4, 4)
    value, lm = jax.jit(lambda m: m.compute("a", x, ZERO))(lm)
    np.testing.assert_allclose(reporting.loss_tensors(lm)["a"],
                               2.0 * np.arange(48).reshape(x.shape))
    assert float(value) == pytest.approx(2.0 * 23.5)


def test_bad_input_gives_clear_errors_and_records_nothing():
    lm = two_losses()
    with pytest.raises(ValueError, match="already registered"):
        lm.register("a", l1)
    with pytest.raises(KeyError, match=r"registered losses: \['a', 'b'\]"):
        lm.compute("c", X, ZERO)
    with pytest.raises(ValueError, match=r"x.shape=\(1, 3, 4, 4\) and y.shape=\(1, 3, 2, 2\)"):
        lm.compute("a", X, jnp.zeros((1, 3, 2, 2)))
    with pytest.raises(TypeError, match="weight of loss 'c' must be a number or a Schedule"):
        lm.register("c", l1, weight="high")
    with pytest.raises(TypeError, match="weight of loss 'c'"):
        lm.register("c", l1, weight=optax.linear_schedule(1.0, 0.0, 10))
    with pytest.raises(TypeError, match="keep_map needs a function that accepts"):
        lm.register("c", lambda x, y: jnp.mean(x - y), keep_map=(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"keep_map must be the shape .* got keep_map=True"):
        lm.register("c", l1, keep_map=True)
    with pytest.raises(ValueError, match="capacity"):
        LossManager(capacity=0)
    assert int(lm.history.total.sum()) == 0


def test_non_finite_values_are_reported_with_loss_and_step_when_checking():
    lm = two_losses(check_finite=True)
    step = checkify.checkify(jax.jit(lambda m, x: m.compute("a", x, ZERO)))
    err, (_, lm) = step(lm, X)
    assert err.get() is None
    err, (_, bad) = step(lm, X * jnp.nan)
    with pytest.raises(Exception, match="non-finite value in loss 'a' at step 1"):
        err.throw()
    # The caller keeps the manager from before the failed call: one record, finite.
    records, _ = lm.drain()
    np.testing.assert_allclose(records["a"][0], [100.0])


def test_queries_filter_by_tags_and_round():
    lm = (LossManager().register("g1", l1, 1 / 3, tags=("G",))
          .register("g2", l1, 2.0, tags=("G", "extra")).register("d", l1, 1.0, tags="D"))
    _, lm = lm.compute_many({n: (X, ZERO) for n in lm.names})
    assert reporting.loss_values(lm, precision=3) == {"g1": 0.333, "g2": 2.0, "d": 1.0}
    assert list(reporting.loss_values(lm, ["G"])) == ["g1", "g2"]
    assert list(reporting.loss_values(lm, ["extra", "D"])) == ["g2", "d"]
    assert list(reporting.loss_values(lm, "G")) == ["g1", "g2"]  # a string is one tag
    with pytest.raises(KeyError, match=r"query 'GEN' matches no loss; known tags: "
                                       r"\['D', 'G', 'extra'\], losses: \['g1', 'g2', 'd'\]"):
        reporting.loss_values(lm, "GEN")  # not the characters G, E, N
    with pytest.raises(KeyError, match="matches no loss"):
        reporting.loss_values(lm, [])
    with pytest.raises(TypeError, match="query must be None, a tag"):
        reporting.loss_values(lm, 5)
    assert list(lm.registered(["D"])) == ["d"]
    assert reporting.loss_weights(lm, ["G"], precision=1) == {"g1": 0.3, "g2": 2.0}
    assert set(reporting.loss_tensors(lm, ["D"])) == {"d"}


def test_loss_values_before_any_computation_raise():
    with pytest.raises(IndexError, match="'a' has not been computed yet"):
        reporting.loss_values(two_losses())


def test_console_strings_match_the_reference_format():
    lm = two_losses()
    _, lm = lm.compute_many({"a": (X / 3, ZERO), "b": (X, ZERO)}, 5)
    assert reporting.format_losses(3, 120, reporting.loss_values(lm)) == \
        "(epoch: 3, iters: 120) Loss: a: 33.33 b: 0.5"
    assert reporting.format_weights(reporting.loss_weights(lm, precision=1)) == \
        "Loss weights: a: 100.0 b: 0.5"


def test_keep_history_false_keeps_only_the_latest_values():
    lm = two_losses(keep_history=False)
    for epoch in range(3):
        _, lm = lm.compute("b", X, ZERO, epoch)
    records, _ = lm.drain()
    assert records["b"][0].size == 0
    assert reporting.loss_values(lm, ["D"]) == {"b": 0.8}


def test_with_spec_replaces_the_registered_losses():
    def spec(weight):
        return {"x": LossSpec(l1, weight, ("G",)), "y": LossSpec(mse)}

    lm = two_losses().with_spec(spec, 3.0)
    assert lm.names == ("x", "y")
    assert reporting.loss_weights(lm) == {"x": 3.0, "y": 1.0}
    with pytest.raises(TypeError, match="must be a LossSpec"):
        LossManager().with_spec(lambda: {"x": l1})
    with pytest.raises(TypeError, match="must return a mapping"):
        LossManager().with_spec(lambda: [l1])


def test_schedules_of_one_kind_evaluated_together_give_each_its_own_weight():
    # Three linear schedules share one vectorised evaluation; cosine and constant do not.
    lm = (LossManager()
          .register("l1", l1, Schedule("linear", 0, 10, 1.0, 0.0))
          .register("l2", l1, Schedule("linear", 2, 6, 4.0, 8.0))
          .register("c", l1, Schedule("cosine", 0, 10, 2.0, 0.0))
          .register("l3", l1, Schedule("linear", 5, 15, 10.0, 20.0))
          .register("k", l1, 3.0))
    (_, values, _), lm = jax.jit(lambda m: m.compute_many({n: (X, ZERO) for n in m.names}, 4.0))(lm)
    # linear: 1 - 0.4 = 0.6; 4 + 0.5 * 4 = 6; 10 (before start); cosine: 1 + cos(0.4 pi)
    expected = {"l1": 0.6, "l2": 6.0, "c": 1.0 + np.cos(0.4 * np.pi), "l3": 10.0, "k": 3.0}
    for name, value in expected.items():
        assert float(values[name]) == pytest.approx(value, rel=1e-5)
    np.testing.assert_allclose(lm.drain()[0]["c"][1], [expected["c"]], rtol=1e-5)


def test_bfloat16_losses_under_strict_dtype_promotion():
    # Each loss is l1(ones, zeros) = 1 in bfloat16; at epoch 5 the weights are 1.5 (linear
    # 2 -> 1 over epochs [0, 10]), 3 (a kept map) and 0.5 (uncertainty, exp(0) / 2).
    lm = (LossManager(capacity=4)
          .register("a", l1, weight=Schedule("linear", 0, 10, 2.0, 1.0))
          .register("b", l1, weight=3.0, keep_map=(2, 4, 4, 3))
          .register("c", l1).with_rule(uncertainty(), ["c"]))
    x = jnp.ones((2, 4, 4, 3), jnp.bfloat16)
    inputs = {name: (x, jnp.zeros_like(x)) for name in "abc"}
    with jax.numpy_dtype_promotion("strict"):
        (total, values, _), lm = jax.jit(lambda m: m.compute_many(inputs, 5.0))(lm)
    assert total.dtype == jnp.float32 and float(total) == 5.0
    assert {k: float(v) for k, v in values.items()} == {"a": 1.5, "b": 3.0, "c": 0.5}
    assert lm.history.maps[1].dtype == jnp.float32 and float(lm.history.maps[1].mean()) == 3.0


def test_the_evaluation_carries_the_weights_applied_and_evaluate_records_nothing():
    lm = two_losses().with_rule(uncertainty(-np.log(2.0)), ["b"])  # exp(-s) / 2 = 1
    out, after = jax.jit(lambda m: m.compute_many({"b": (X, ZERO), "a": (X, ZERO)}, 2.5))(lm)
    assert set(out.weights) == {"a", "b"}
    np.testing.assert_allclose([float(out.weights["b"]), float(out.weights["a"])],
                               [0.75, 100.0], rtol=1e-6)
    np.testing.assert_allclose(after.drain()[0]["b"][1], [0.75], rtol=1e-6)
    alone = lm.evaluate({"b": (X, ZERO)}, 2.5)
    # 0.75 * 1 plus uncertainty's offset s / 2 = -log(2) / 2
    np.testing.assert_allclose(float(alone.total), 0.75 - np.log(2.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(alone.weights["b"]), 0.75, rtol=1e-6)
    assert lm.drain()[0]["b"][0].size == 0


@pytest.mark.parametrize("host_call, name", [
    (lambda m: m.drain(), "LossManager.drain"),
    (lambda m: m.flush([]), "LossManager.flush"),
    (lambda m: reporting.loss_values(m), "loss_values"),
    (lambda m: reporting.loss_weights(m), "loss_weights"),
])
def test_host_methods_under_a_trace_say_so(host_call, name):
    lm = two_losses()
    _, lm = lm.compute_many({"a": (X, ZERO), "b": (X, ZERO)})
    message = f"{name} reads records on the host; call it outside jit/vmap"
    with pytest.raises(TypeError, match=message):
        jax.jit(host_call)(lm)
    with pytest.raises(TypeError, match=message):
        jax.vmap(host_call)(jax.tree.map(lambda a: a[None], lm))


def test_the_schedules_of_all_losses_are_one_leaf():
    lm = two_losses().register("c", l1, Schedule("cosine", 0, 4, 2.0, 1.0))
    numbers = np.asarray(lm.objective.numbers)
    # rows: (start, end, initial, target) of 'a' (constant 100), 'b' and 'c'
    np.testing.assert_array_equal(numbers[1:], [[0, 10, 1.0, 0.0], [0, 4, 2.0, 1.0]])
    assert numbers[0, 2] == 100.0
    assert len(jax.tree.leaves(lm)) == 4  # the numbers and the three of the history
    assert [float(lm.weight(n, 2.0)) for n in "abc"] == pytest.approx(
        [100.0, 0.8, 1.5 + 0.5 * np.cos(np.pi / 2)])
