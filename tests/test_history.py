"""Nothing is lost: every record reaches the drain, in order, past the device capacity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nectargan_jax.losses import LossManager
from nectargan_jax.losses._functions import l1
from nectargan_jax.losses._log import LossLog
from nectargan_jax.scheduling import Schedule

CAPACITY = 8
STEPS = 10 * CAPACITY + 3
ZERO = jnp.zeros((1, 1, 2, 2), jnp.float32)


def manager():
    return (LossManager(capacity=CAPACITY)
            .register("a", l1, 2.0)
            .register("b", l1, Schedule("linear", 0, STEPS, 1.0, 0.0)))


def step(m, i):
    """At step i both losses see |i| everywhere: 'a' records 2i, 'b' records i * w(i)."""
    x = jnp.full((1, 1, 2, 2), i, jnp.float32)
    _, _, m = m.compute_many({"a": (x, ZERO), "b": (x, ZERO)}, i)
    return m, None


def expected():
    i = np.arange(STEPS, dtype=np.float64)
    w = np.clip(1.0 - i / STEPS, 0.0, 1.0)
    return 2.0 * i, i * w, w


def check(records):
    a, b, w = expected()
    np.testing.assert_allclose(records["a"][0], a, rtol=1e-6)
    np.testing.assert_allclose(records["a"][1], np.full(STEPS, 2.0))
    np.testing.assert_allclose(records["b"][0], b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(records["b"][1], w, rtol=1e-5, atol=1e-6)


def test_ten_times_capacity_in_one_scan_loses_nothing():
    m, _ = jax.jit(lambda m: jax.lax.scan(step, m, jnp.arange(STEPS, dtype=jnp.float32)))(
        manager())
    records, m = m.drain()
    check(records)
    assert len(m.sink) == 0
    again, _ = m.drain()
    assert again["a"][0].size == 0


def test_ten_times_capacity_in_jitted_steps_loses_nothing():
    m = manager()
    jstep = jax.jit(step)
    for i in range(STEPS):
        m, _ = jstep(m, jnp.float32(i))
    check(m.drain()[0])


def test_records_reach_the_log_in_order_across_flushes(tmp_path):
    log = LossLog(tmp_path / "run")
    m = manager()
    jstep = jax.jit(step)
    for i in range(STEPS):
        m, _ = jstep(m, jnp.float32(i))
        if i in (5, 40):
            m = m.flush(log)
    m = m.flush(log)
    functions = log.read()["LOSSMANAGER_LOG"]["loss_functions"]
    check({k: (np.array(v["loss"]), np.array(v["weights"])) for k, v in functions.items()})


def test_a_replayed_step_does_not_duplicate_spilled_records():
    m = manager()
    jstep = jax.jit(step)
    for i in range(CAPACITY - 1):
        m, _ = jstep(m, jnp.float32(i))
    before = m
    m, _ = jstep(before, jnp.float32(CAPACITY - 1))  # fills the rows: spilled
    m, _ = jstep(before, jnp.float32(CAPACITY - 1))  # the same step again
    records, _ = m.drain()
    np.testing.assert_allclose(records["a"][0], 2.0 * np.arange(CAPACITY))


def test_overflow_error_mode_has_no_callback_and_reports_dropped_records():
    m = LossManager(capacity=CAPACITY, overflow="error").register("a", l1, 2.0)
    x = jnp.ones((1, 1, 2, 2))

    def one(m):
        return m.compute("a", x, ZERO)[1]

    assert "callback" not in str(jax.make_jaxpr(one)(m))
    assert "callback" in str(jax.make_jaxpr(one)(manager().replace(overflow="spill")))
    jone = jax.jit(one)
    for _ in range(CAPACITY):
        m = jone(m)
    records, m = m.drain()
    np.testing.assert_allclose(records["a"][0], np.full(CAPACITY, 2.0))
    for _ in range(CAPACITY + 3):
        m = jone(m)
    with pytest.raises(OverflowError, match=r"loss 'a' dropped 3 records: more than capacity=8"):
        m.drain()


def test_unknown_overflow_mode_is_rejected():
    with pytest.raises(ValueError, match=r"overflow must be one of \('spill', 'error'\)"):
        LossManager(overflow="grow")
