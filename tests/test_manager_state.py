"""A manager is a plain value: all state in its leaves, structure in equal aux data.

Each test here failed on the manager that kept a host-side spill store in its aux data
(drains that differed, leaking branches, recompiles, lost checkpoints), stored a pytree
loss's arrays as static data, grew its structure on a first ``keep_map`` call, or let a
donated step delete a schedule the caller still used.
"""

import copy
import functools
import os
import pickle
import subprocess
import sys
import textwrap

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import count_compilations
from nectargan_jax.manager import reporting
from nectargan_jax import LossManager, Schedule
from nectargan_jax.scheduling import current_learning_rate, scheduled_optimizer
from nectargan_jax.pytree import pytree_dataclass, static_field
from nectargan_jax.losses import l1, mse

ZERO = jnp.zeros((1, 2, 2, 3), jnp.float32)


def build(capacity=16):
    """'a': L1 weighted 3; 'b': MSE weighted linear 1 -> 0 over epochs [0, 10]."""
    return (LossManager(capacity=capacity)
            .register("a", l1, 3.0, tags="G")
            .register("b", mse, Schedule("linear", 0, 10, 1.0, 0.0), tags="D"))


def step(m, x, epoch):
    (total, _, _), m = m.compute_many({"a": (x, ZERO), "b": (x, ZERO)}, epoch)
    return total, m


def run(m, values, jitted=jax.jit(step)):
    """One step per value v at epoch v: 'a' records 3v, 'b' records v^2 (1 - v/10)."""
    for v in values:
        _, m = jitted(m, jnp.full((1, 2, 2, 3), v, jnp.float32), jnp.float32(v))
    return m


def a_records(values):
    return 3.0 * np.asarray(values, np.float64)


def test_two_managers_built_the_same_way_share_one_compiled_step():
    @jax.jit
    def jitted(m, x, e):
        return step(m, x, e)

    x = jnp.ones((1, 2, 2, 3))
    first, second = build(), build()
    assert jax.tree.structure(first) == jax.tree.structure(second)
    with count_compilations() as log:
        jitted(first, x, jnp.float32(1))
        jitted(second, x, jnp.float32(1))
    assert log.count("jitted") == 1


def test_draining_the_same_manager_twice_gives_the_same_records():
    m = run(build(), range(10))
    first, _ = m.drain()
    second, _ = m.drain()
    np.testing.assert_allclose(first["a"][0], a_records(range(10)))
    np.testing.assert_allclose(second["a"][0], a_records(range(10)))
    over = run(build(capacity=8), range(10))  # 2 past capacity: every drain says so
    for _ in range(2):
        with pytest.raises(OverflowError, match="loss 'a' dropped 2 records"):
            over.drain()


def test_a_discarded_branch_never_leaks_into_the_kept_one():
    base = run(build(capacity=8), range(5))
    run(base, [100.0] * 8)  # a branch whose result is thrown away
    records, kept = base.drain()
    np.testing.assert_allclose(records["a"][0], a_records(range(5)))
    records, _ = run(kept, [5.0, 6.0]).drain()
    np.testing.assert_allclose(records["a"][0], a_records([5.0, 6.0]))


def test_a_failed_flush_keeps_every_record_for_the_retry():
    class FlakyLog:
        def __init__(self):
            self.calls, self.written = 0, []

        def append(self, records):
            self.calls += 1
            if self.calls == 1:
                raise OSError("disk full")
            self.written.append(records)

    m, log = run(build(), range(10)), FlakyLog()
    with pytest.raises(OSError, match="disk full"):
        m.flush(log)
    emptied = m.flush(log)
    np.testing.assert_allclose(log.written[0]["a"][0], a_records(range(10)))
    assert emptied.drain()[0]["a"][0].size == 0
    with pytest.raises(TypeError, match="sink must have an append"):
        m.flush("runs/loss_log.json")


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_deepcopy_and_pickle_give_an_equal_manager_with_its_records(clone):
    m = run(build(), range(4))
    other = clone(m)
    assert jax.tree.structure(other) == jax.tree.structure(m)
    np.testing.assert_allclose(other.drain()[0]["a"][0], a_records(range(4)))
    np.testing.assert_allclose(run(other, [4.0]).drain()[0]["b"][1], [1.0, 0.9, 0.8, 0.7, 0.6])


ORBAX_RESTORE = textwrap.dedent("""
    import sys
    import jax, numpy as np
    import orbax.checkpoint as ocp
    from test_manager_state import build
    target = jax.tree.map(ocp.utils.to_shape_dtype_struct, build())
    restored = ocp.StandardCheckpointer().restore(sys.argv[1], target)
    records, _ = restored.drain()
    print(records["a"][0].tolist(), records["b"][1].tolist())
""")


def test_an_orbax_checkpoint_restores_every_record_in_a_fresh_process(tmp_path):
    import orbax.checkpoint as ocp

    m = run(build(), [1.0, 2.0, 3.0])
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "lm", m)
    checkpointer.wait_until_finished()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", ORBAX_RESTORE, str(tmp_path / "lm")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[3.0, 6.0, 9.0] [0.8999999761581421, 0.800000011920929, " \
                                 "0.699999988079071]"


class ScaledL1(nnx.Module):
    """A loss with a parameter: ``scale * mean|x - y|``."""

    def __init__(self, scale):
        self.scale = nnx.Param(jnp.asarray(scale, jnp.float32))

    def __call__(self, x, y):
        return self.scale[...] * l1(x, y)


def test_a_loss_with_parameters_uses_its_current_parameters_jitted_and_eager():
    m = LossManager().register("s", ScaledL1(2.0))
    x = jnp.ones((1, 2, 2, 3))
    jitted = jax.jit(lambda m: m.compute("s", x, ZERO)[0])
    assert float(jitted(m)) == 2.0 and float(m.compute("s", x, ZERO)[0]) == 2.0
    m.entries[0].module.scale[...] = jnp.float32(5.0)  # the weights change
    assert float(jitted(m)) == 5.0 and float(m.compute("s", x, ZERO)[0]) == 5.0
    assert len(jax.tree.leaves(m.entries[0])) == 1  # the scale (the weight: a row of numbers)
    _, m = jax.jit(lambda m: m.compute("s", x, ZERO))(m)  # a manager rebuilt from leaves
    m.entries[0].module.scale[...] = jnp.float32(7.0)
    assert float(jitted(m)) == 7.0 and float(m.compute("s", x, ZERO)[0]) == 7.0


def test_static_fields_refuse_arrays_and_unhashable_values():
    @pytree_dataclass
    class Holder:
        meta: object = static_field(default=())

    with pytest.raises(TypeError, match=r"Holder.meta is static pytree data and must not hold "
                                        r"arrays .* \[1\]: an array of shape \(3,\)"):
        Holder(("x", jnp.ones(3)))
    with pytest.raises(TypeError, match="Holder.meta is static pytree data and must be hashable"):
        Holder(["x"])
    with pytest.raises(TypeError, match="closure of weighted: an array"):
        table = jnp.ones(3)

        def weighted(x, y):
            return l1(x, y) * table[0]
        LossManager().register("w", weighted)
    with pytest.raises(TypeError, match="partial argument: an array"):
        LossManager().register("w", functools.partial(lambda x, y, s: l1(x, y) * s,
                                                      s=jnp.float32(2)))


def test_a_keep_map_manager_is_a_scan_carry_and_compiles_once():
    m = LossManager().register("a", l1, 2.0, keep_map=(1, 2, 2, 3))

    def body(m, v):
        value, m = m.compute("a", jnp.full((1, 2, 2, 3), v), ZERO)
        return m, value

    @jax.jit
    def scan(m, vs):
        return jax.lax.scan(body, m, vs)

    with count_compilations() as log:
        m, values = scan(m, jnp.arange(4.0))
        m, _ = scan(m, jnp.arange(4.0) + 10)
    assert log.count("scan") == 1
    np.testing.assert_allclose(values, [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(reporting.loss_tensors(m)["a"], np.full((1, 2, 2, 3), 26.0))


def test_a_schedule_shared_by_the_learning_rate_and_two_losses_survives_donation():
    s = Schedule("linear", 0, 10, 1.0, 0.0)
    m = LossManager().register("a", l1, s).register("b", mse, s)
    tx = scheduled_optimizer(optax.sgd, s)
    params = jnp.ones(3)
    opt_state = tx.init(params)

    @functools.partial(jax.jit, donate_argnums=0)
    def train(m, x, e):
        return step(m, x, e)[1]

    for e in range(3):
        m = train(m, jnp.full((1, 2, 2, 3), 2.0), jnp.float32(e))
        _, opt_state = tx.update(jnp.ones(3), opt_state, params)
    assert float(s(5)) == 0.5  # the caller's schedule is intact
    np.testing.assert_allclose(float(current_learning_rate(opt_state)), 0.8, rtol=1e-6)
    np.testing.assert_allclose(m.drain()[0]["b"][1], [1.0, 0.9, 0.8], rtol=1e-6)


def test_loss_values_show_a_loss_not_yet_run_and_repr_is_short():
    m = run(build(), [2.0]).register("c", l1, 1.0, tags="G")
    assert reporting.format_losses(1, 10, reporting.loss_values(m, missing="n/a")) == \
        "(epoch: 1, iters: 10) Loss: a: 6.0 b: 3.2 c: n/a"
    assert reporting.loss_values(m, "D", missing="n/a") == {"b": 3.2}
    assert repr(m) == ("LossManager([a: weight 3, 1 held, b: weight 0.8, 1 held, "
                       "c: weight 1, 0 held], capacity=16)")


@pytest.mark.parametrize("keep_history", [True, False])
def test_a_step_runs_under_strict_dtype_promotion(keep_history):
    with jax.numpy_dtype_promotion("strict"):
        m = run(build().replace(keep_history=keep_history, history=None), [1.0, 2.0])
    assert reporting.loss_values(m) == {"a": 6.0, "b": 3.2}
