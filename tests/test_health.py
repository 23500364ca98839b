"""GAN health checks: flags kept on the device with the records, reported at flush.

Every expected step, count and epoch below is worked out by hand from the scripted
losses (the loss function passes its input through), or from the definition in
``expected_collapse`` on plain Python numbers.
"""

import copy
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import count_compilations
from nectargan_jax import LossManager, Schedule
from nectargan_jax.health import GANHealthWarning, HealthChecks
from nectargan_jax.weighting import clip

ZERO = jnp.zeros((1,), jnp.float32)
NAN, INF = float("nan"), float("inf")
HEALTHY = (0.5, 0.5, 1.0)


def value(x, y):
    """The scripted loss: the mean of ``x - y`` (``y`` is 0, so ``x`` passes through)."""
    return jnp.mean(x - y)


def build(threshold=0.1, patience=3, **checks):
    """D_real, D_fake (weight 1) and G, weighted by the epoch clipped to [2, 5]."""
    health = HealthChecks(collapse=("D_real", "D_fake"), threshold=threshold,
                          patience=patience, **checks)
    return (LossManager(capacity=64, health=health)
            .register("D_real", value).register("D_fake", value)
            .register("G", value, weight=clip(Schedule("linear", 0, 10, 0.0, 10.0), 2.0, 5.0)))


def step(lm, losses, epoch):
    """One call computing the three losses: ``losses = (D_real, D_fake, G)``."""
    inputs = {name: (losses[i].reshape(1), ZERO) for i, name in
              enumerate(("D_real", "D_fake", "G"))}
    _, lm = lm.compute_many(inputs, epoch)
    return lm


jitted_step = jax.jit(step)


def run(lm, script, epochs=None):
    """One jitted call per row of ``script`` at epoch ``epochs[s]`` (3 by default)."""
    for s, losses in enumerate(script):
        epoch = 3.0 if epochs is None else epochs[s]
        lm = jitted_step(lm, jnp.asarray(losses, jnp.float32), jnp.float32(epoch))
    return lm


def expected_collapse(real, fake, threshold, patience):
    """The definition on Python numbers: steps flagged and the run at the end."""
    streak, flagged = 0, []
    for s, (r, f) in enumerate(zip(real, fake)):
        streak = streak + 1 if r < threshold and f < threshold else 0
        if streak >= patience:
            flagged.append(s)
    return flagged, streak


class ListLog:
    """A log that keeps what it is given (or fails every write)."""

    def __init__(self, fail=False):
        self.appended, self.fail = [], fail

    def append(self, records):
        if self.fail:
            raise OSError("disk full")
        self.appended.append(records)


def only_event(lm, kind):
    report, _ = lm.drain_health()
    events = [e for e in report.events if e.kind == kind]
    assert len(events) == 1, report
    return events[0]


def test_a_collapse_is_flagged_at_the_patience_th_consecutive_step_only():
    # Steps 1-2 are below 0.1 (a run of K-1 = 2), step 3 breaks it, step 4 has only
    # D_real below; steps 5, 6, 7 make a run of K = 3, flagged at step 7 and step 8.
    real = [0.5, 0.05, 0.05, 0.5, 0.05, 0.05, 0.05, 0.05, 0.05, 0.5]
    fake = [0.5, 0.05, 0.05, 0.5, 0.5, 0.05, 0.05, 0.05, 0.05, 0.5]
    script = [(r, f, 1.0) for r, f in zip(real, fake)]
    epochs = [3 + s // 5 for s in range(len(script))]  # G's weight stays inside [2, 5]
    assert expected_collapse(real, fake, 0.1, 3) == ([7, 8], 0)

    before = run(build(), script[:7], epochs)
    report, _ = before.drain_health()
    assert not report and report.events == ()  # a run of K - 1 = 2 at step 6 is not one
    assert int(before.health.pair[0]) == 2

    event = only_event(run(before, script[7:], epochs[7:]), "collapse")
    assert (event.losses, event.count, event.first_step, event.first_epoch) == (
        ("D_real", "D_fake"), 2, 7, 4.0)
    assert (event.started, event.run, event.threshold, event.patience) == (
        1, 0, pytest.approx(0.1), 3)
    assert str(event) == ("discriminator collapse: 'D_real' and 'D_fake' both below 0.1 for 3 "
                          "consecutive steps, flagged at 2 steps since the last report, first "
                          "at step 7 (epoch 4); recovered since.")


def test_a_loss_at_the_threshold_or_nan_does_not_count_as_won():
    script = [(0.1, 0.05, 1.0), (0.05, NAN, 1.0), (0.05, 0.05, 1.0)]
    lm = run(build(patience=1, non_finite=False), script)
    event = only_event(lm, "collapse")
    assert (event.count, event.first_step, event.run) == (1, 2, 1)
    assert "still collapsed at the end (a run of 1 steps)" in str(event)


def test_non_finite_losses_are_named_with_their_first_step_and_counted():
    # G: NaN at step 2, inf at step 5, -inf at step 7; D_fake: inf at step 4.
    script = [HEALTHY] * 9
    script[2], script[5], script[7] = (0.5, 0.5, NAN), (0.5, 0.5, INF), (0.5, 0.5, -INF)
    script[4] = (0.5, INF, 1.0)
    epochs = [s // 3 for s in range(9)]
    report, _ = run(build(), script, epochs).drain_health()
    by_loss = {e.losses: e for e in report.events if e.kind == "non_finite"}
    assert set(by_loss) == {("G",), ("D_fake",)}
    assert (by_loss["G",].count, by_loss["G",].first_step, by_loss["G",].first_epoch) == (
        3, 2, 0.0)
    assert (by_loss["D_fake",].count, by_loss["D_fake",].first_step,
            by_loss["D_fake",].first_epoch) == (1, 4, 1.0)
    assert ("GAN health: loss 'D_fake' was non-finite (NaN or infinite) at 1 step since the "
            "last report, first at step 4 (epoch 1).") in str(report).splitlines()


def test_the_step_is_the_losses_own_record_index():
    lm = LossManager(health=HealthChecks()).register("a", value).register("b", value)
    for k in range(6):  # 'a' every call, 'b' every other call: its records 0, 1, 2
        inputs = {"a": (jnp.ones(1), ZERO)}
        if k % 2:
            inputs["b"] = (jnp.full((1,), NAN if k == 5 else 1.0), ZERO)
        _, lm = lm.compute_many(inputs, epoch=k)
    event = only_event(lm, "non_finite")
    assert (event.losses, event.first_step, event.first_epoch) == (("b",), 2, 5.0)


def test_a_clip_rule_at_its_bound_is_counted_from_its_first_step():
    # G's weight is the epoch clipped to [2, 5]: at a bound for epochs 1, 6 and 5.
    epochs = [3, 4, 1, 6, 4, 5, 2.5]
    lm = run(build(), [HEALTHY] * len(epochs), epochs)
    event = only_event(lm, "clamped")
    assert (event.losses, event.count, event.first_step, event.first_epoch) == (
        ("G",), 3, 2, 1.0)
    np.testing.assert_allclose(lm.drain()[0]["G"][1], [3, 4, 2, 5, 4, 5, 2.5])
    assert str(event) == ("the weight of loss 'G' sat at its rule's clamp at 3 steps since the "
                          "last report, first at step 2 (epoch 1).")


def test_nothing_is_reported_when_healthy_and_checks_turned_off_stay_quiet():
    healthy = run(build(), [HEALTHY] * 5)
    report, _ = healthy.drain_health()
    assert not report and str(report) == "GAN health: no check fired."
    log = ListLog()
    healthy.flush(log)  # any warning fails the test (filterwarnings=error)
    assert len(log.appended) == 1
    sick = [(0.01, 0.01, NAN)] * 4
    off = run(build(non_finite=False, clamped=False, patience=5), sick, [9] * 4)
    assert not off.drain_health()[0]
    assert not LossManager().drain_health()[0]


def test_a_flush_warns_each_event_and_starts_a_new_window():
    lm = run(build(patience=2), [(0.05, 0.05, NAN), (0.05, 0.05, 1.0), (0.05, 0.05, 1.0)])
    log = ListLog()
    with pytest.warns(GANHealthWarning) as caught:
        lm = lm.flush(log)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert messages[0].startswith("discriminator collapse: 'D_real' and 'D_fake' both below "
                                  "0.1 for 2 consecutive steps, flagged at 2 steps")
    assert "first at step 1 (epoch 3); still collapsed at the end (a run of 3 steps)" \
        in messages[0]
    assert messages[1].startswith("loss 'G' was non-finite (NaN or infinite) at 1 step")
    assert len(log.appended) == 1 and len(log.appended[0]["G"][0]) == 3

    # The new window: the collapse goes on (steps 3 and 4), G's NaN is not repeated.
    lm = run(lm, [(0.05, 0.05, 1.0), (0.05, 0.05, 1.0), HEALTHY])
    report, _ = lm.drain_health()
    (event,) = report.events
    assert (event.kind, event.count, event.first_step, event.started, event.run) == (
        "collapse", 2, 3, 0, 0)
    assert str(event).startswith("discriminator collapse continues: ")
    with pytest.warns(GANHealthWarning):
        lm = lm.flush(log)
    lm.flush(log)  # nothing left to report


def test_a_failed_flush_keeps_the_events_for_the_retry():
    lm = run(build(), [HEALTHY, (0.5, 0.5, NAN)])
    with pytest.raises(OSError, match="disk full"):  # no warning: the write comes first
        lm.flush(ListLog(fail=True))
    log = ListLog()
    with pytest.warns(GANHealthWarning, match="loss 'G' .* first at step 1"):
        emptied = lm.flush(log)
    assert len(log.appended[0]["G"][0]) == 2
    assert not emptied.drain_health()[0]


def test_the_step_makes_no_host_transfer():
    lm = build()
    losses = jnp.asarray([0.05, 0.05, NAN], jnp.float32)
    epoch = jnp.float32(1.0)
    lm = jitted_step(lm, losses, epoch)  # compile outside the guard
    with jax.transfer_guard("disallow"):
        for _ in range(4):
            lm = jitted_step(lm, losses, epoch)
    event = only_event(lm, "collapse")
    assert (event.count, event.first_step) == (3, 2)


SCRIPT = [(0.05, 0.05, 1.0), (0.05, 0.08, NAN), (0.05, 0.05, 1.0), (0.5, 0.05, INF),
          (0.01, 0.01, 1.0), (0.01, 0.01, 1.0)]
EPOCHS = [1, 1, 2, 3, 6, 4]


def test_scan_and_vmap_agree_with_one_call_per_step():
    stepped = run(build(), SCRIPT, EPOCHS)

    def scanned(lm, script, epochs):
        return jax.lax.scan(lambda m, xs: (step(m, *xs), None), lm, (script, epochs))[0]

    script = jnp.asarray(SCRIPT, jnp.float32)
    epochs = jnp.asarray(EPOCHS, jnp.float32)
    scan = jax.jit(scanned)(build(), script, epochs)
    for a, b in zip(jax.tree.leaves(stepped.health), jax.tree.leaves(scan.health)):
        np.testing.assert_array_equal(a, b)

    # A batch of two managers (thresholds 0.1 and 0.06), the second one's D_fake doubled.
    other = [(r, 2 * f, g) for r, f, g in SCRIPT]
    alone = run(build(threshold=0.06), other, EPOCHS)
    batch = jax.tree.map(lambda a, b: jnp.stack([a, b]), build(), build(threshold=0.06))
    vstep = jax.jit(jax.vmap(step))
    for s in range(len(SCRIPT)):
        losses = jnp.asarray([SCRIPT[s], other[s]], jnp.float32)
        batch = vstep(batch, losses, jnp.full((2,), EPOCHS[s], jnp.float32))
    for member, expected in ((0, stepped), (1, alone)):
        for a, b in zip(jax.tree.leaves(expected.health),
                        jax.tree.leaves(jax.tree.map(lambda x: x[member], batch.health))):
            np.testing.assert_array_equal(a, b)
    report, emptied = batch.drain_health()
    collapses = [(e.member, e.first_step, e.count) for e in report.events
                 if e.kind == "collapse"]
    # threshold 0.1: steps 0-2 below, flagged at 2; 4-5 below again (no new flag).
    # threshold 0.06, D_fake doubled: only steps 4 and 5 are below; no run of 3.
    assert expected_collapse([r for r, _, _ in SCRIPT], [f for _, f, _ in SCRIPT], 0.1, 3) \
        == ([2], 2)
    assert collapses == [((0,), 2, 1)]
    assert str(report).splitlines()[0].startswith("GAN health: manager (0,): discriminator")
    assert not emptied.drain_health()[0]


def test_two_managers_built_apart_share_one_compiled_step():
    def fresh_step(lm, losses, epoch):
        return step(lm, losses, epoch)

    jitted = jax.jit(fresh_step)
    losses, epoch = jnp.asarray(HEALTHY, jnp.float32), jnp.float32(3)
    first, second = build(), build(threshold=0.2, patience=7)
    with count_compilations() as log:
        jitted(first, losses, epoch)
        jitted(second, losses, epoch)
        jitted(jitted(first, losses, epoch), losses, epoch)
    assert log.count("fresh_step") == 1


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_a_restored_manager_keeps_pending_events_and_continues_the_run(clone):
    uninterrupted = run(build(), SCRIPT, EPOCHS)
    half = run(build(), SCRIPT[:3], EPOCHS[:3])
    restored = run(clone(half), SCRIPT[3:], EPOCHS[3:])
    assert str(clone(half).drain_health()[0]) == str(half.drain_health()[0])
    assert "first at step 1 (epoch 1)" in str(clone(half).drain_health()[0])
    for a, b in zip(jax.tree.leaves(uninterrupted.health), jax.tree.leaves(restored.health)):
        np.testing.assert_array_equal(a, b)


def test_one_checks_object_shared_by_two_managers_survives_a_donated_step():
    shared = HealthChecks(collapse=("D_real", "D_fake"), patience=1)
    first, second = (LossManager(health=shared).register("D_real", value)
                     .register("D_fake", value) for _ in range(2))
    donated = jax.jit(lambda lm, x: lm.compute_many(
        {"D_real": (x, ZERO), "D_fake": (x, ZERO)}, epoch=1)[1], donate_argnums=0)
    low = jnp.full((1,), 0.01)
    first = donated(first, low)
    second = donated(second, low)
    assert repr(shared) == ("HealthChecks(collapse=('D_real', 'D_fake'), threshold=0.05, "
                            "patience=1, non_finite=True, clamped=True)")
    for lm in (first, second):
        assert only_event(lm, "collapse").first_step == 0


def test_registering_more_losses_keeps_the_events_of_the_others():
    lm = run(build(), [(0.5, 0.5, NAN)])
    lm = lm.register("extra", value)
    _, lm = lm.compute_many({"extra": (jnp.full((1,), INF), ZERO)}, epoch=2)
    report, _ = lm.drain_health()
    assert [(e.losses, e.first_step, e.first_epoch) for e in report.events] == [
        (("G",), 0, 3.0), (("extra",), 0, 2.0)]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"collapse": "D_real"}, TypeError, "collapse must be None or a pair of loss names"),
    ({"collapse": ("D_real",)}, TypeError, r"got \('D_real',\)"),
    ({"collapse": ("D", "D")}, ValueError, "two different losses, got \\('D', 'D'\\)"),
    ({"threshold": "0.1"}, TypeError, "threshold must be a real number, got str"),
    ({"threshold": NAN}, ValueError, "threshold must be finite, got threshold=nan"),
    ({"threshold": [0.1, 0.2]}, ValueError, r"threshold must be a scalar, got shape \(2,\)"),
    ({"patience": 0}, ValueError, "patience must be a positive int .*got patience=0"),
    ({"patience": 2.0}, TypeError, "patience must be a positive int, got float: 2.0"),
    ({"patience": True}, TypeError, "patience must be a positive int, got bool"),
    ({"non_finite": 1}, TypeError, "non_finite must be a bool, got int: 1"),
    ({"clamped": None}, TypeError, "clamped must be a bool, got NoneType"),
    ({"non_finite": False, "clamped": False}, ValueError, "every check is off"),
])
def test_bad_arguments_are_refused_naming_them(kwargs, error, message):
    with pytest.raises(error, match=message):
        HealthChecks(**kwargs)


def test_a_collapse_pair_must_be_registered_and_computed_together():
    with pytest.raises(TypeError,
                       match="health must be a monitor such as HealthChecks .* got dict"):
        LossManager(health={"collapse": ("D_real", "D_fake")})
    unknown = (LossManager(health=HealthChecks(collapse=("D_real", "D_fak")))
               .register("D_real", value).register("D_fake", value))
    with pytest.raises(KeyError, match="collapse names loss 'D_fak', which is not registered"):
        unknown.compute("D_real", jnp.ones(1), ZERO)
    with pytest.raises(ValueError, match="must be computed in the same call; this call "
                                         "computes only 'D_fake'"):
        build().compute("D_fake", jnp.ones(1), ZERO)
    _, lm = build().compute("G", jnp.full((1,), NAN), ZERO, epoch=3)  # pair absent: fine
    assert only_event(lm, "non_finite").losses == ("G",)


def test_the_checks_run_under_strict_dtype_promotion():
    lm = LossManager(health=HealthChecks(collapse=("r", "f"), patience=1))
    lm = lm.register("r", value).register("f", value)
    low = jnp.full((1,), 0.01, jnp.float32)
    with jax.numpy_dtype_promotion("strict"):
        _, lm = lm.compute_many({"r": (low, low * 0), "f": (low, low * 0)},
                                   epoch=jnp.int32(2))
    event = only_event(lm, "collapse")
    assert (event.first_step, event.first_epoch) == (0, 2.0)
