"""Nothing is lost: every record reaches the drain in order, and an overflow is an error.

The device buffer holds ``capacity`` records per loss; the host drains before it fills.
Expected values are written out by hand: at step i both losses see |i| everywhere, so
'a' (weight 2) records 2i and 'b' (linear 1 -> 0 over [0, STEPS]) records i * w(i).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nectargan_jax import LossLog, LossManager
from nectargan_jax.losses import l1
from nectargan_jax.scheduling import Schedule

CAPACITY = 8
STEPS = 10 * CAPACITY + 3
ZERO = jnp.zeros((1, 2, 2, 1), jnp.float32)


def manager(capacity=CAPACITY):
    return (LossManager(capacity=capacity)
            .register("a", l1, 2.0)
            .register("b", l1, Schedule("linear", 0, STEPS, 1.0, 0.0)))


def step(m, i):
    x = jnp.full((1, 2, 2, 1), i, jnp.float32)
    (total, values, _), m = m.compute_many({"a": (x, ZERO), "b": (x, ZERO)}, i)
    return m, (values["a"], values["b"])


def expected(first=0, last=STEPS):
    i = np.arange(first, last, dtype=np.float64)
    w = np.clip(1.0 - i / STEPS, 0.0, 1.0)
    return 2.0 * i, i * w, w


def check(records, first=0, last=STEPS):
    a, b, w = expected(first, last)
    np.testing.assert_allclose(records["a"][0], a, rtol=1e-6)
    np.testing.assert_allclose(records["a"][1], np.full(last - first, 2.0))
    np.testing.assert_allclose(records["b"][0], b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(records["b"][1], w, rtol=1e-5, atol=1e-6)


def test_a_scan_of_many_steps_within_capacity_loses_nothing():
    m, _ = jax.jit(lambda m: jax.lax.scan(step, m, jnp.arange(STEPS, dtype=jnp.float32)))(
        manager(capacity=STEPS))
    records, m = m.drain()
    check(records)
    again, _ = m.drain()
    assert again["a"][0].size == 0


def test_a_scan_longer_than_capacity_returns_its_records_from_the_scan():
    # The step's values come out of the scan as ys: nothing depends on the buffer.
    m, (a, b) = jax.jit(lambda m: jax.lax.scan(step, m, jnp.arange(STEPS, dtype=jnp.float32)))(
        manager())
    check({"a": (a, np.full(STEPS, 2.0)), "b": (b, expected()[2])})
    with pytest.raises(OverflowError, match=rf"loss 'a' dropped {STEPS - CAPACITY} records"):
        m.drain()


def test_jitted_steps_flushed_every_capacity_steps_reach_the_log_in_order(tmp_path):
    log = LossLog(tmp_path / "run")
    m = manager()
    jstep = jax.jit(step)
    for i in range(STEPS):
        m, _ = jstep(m, jnp.float32(i))
        if (i + 1) % CAPACITY == 0:
            m = m.flush(log)
    m = m.flush(log)
    functions = log.read()["LOSSMANAGER_LOG"]["loss_functions"]
    check({k: (np.array(v["loss"]), np.array(v["weights"])) for k, v in functions.items()})


def test_an_overflow_names_the_loss_and_the_dropped_count_and_the_step_has_no_callback():
    m = LossManager(capacity=CAPACITY).register("a", l1, 2.0)
    x = jnp.ones((1, 2, 2, 1))

    def one(m):
        return m.compute("a", x, ZERO)[1]

    assert "callback" not in str(jax.make_jaxpr(one)(m))
    jone = jax.jit(one)
    for _ in range(CAPACITY):
        m = jone(m)
    records, m = m.drain()
    np.testing.assert_allclose(records["a"][0], np.full(CAPACITY, 2.0))
    for _ in range(CAPACITY + 3):
        m = jone(m)
    with pytest.raises(OverflowError, match=r"loss 'a' dropped 3 records: it recorded 11 "
                                            r"values since the last drain, more than capacity=8"):
        m.drain()


def test_the_counters_saturate_instead_of_wrapping_negative():
    top = np.iinfo(np.int32).max
    m = LossManager(capacity=2, keep_history=False).register("a", l1, 2.0)
    history = m.history.replace(counts=jnp.asarray([[top - 1, top - 1]], jnp.int32))
    m = m.replace(history=history)
    x = jnp.ones((1, 2, 2, 1))
    for _ in range(3):
        _, m = m.compute("a", x, ZERO)
    assert np.asarray(m.history.counts).tolist() == [[top - 1, top]]
    kept = LossManager(capacity=2).register("a", l1, 2.0)
    kept = kept.replace(history=kept.history.replace(
        counts=jnp.asarray([[top - 1, top - 1]], jnp.int32)))
    for _ in range(3):
        _, kept = kept.compute("a", x, ZERO)
    assert np.asarray(kept.history.counts).tolist() == [[top, top]]
