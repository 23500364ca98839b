"""DWA, SoftAdapt and ReLoBRaLo through a real LossManager, against float64 NumPy
re-implementations of the published formulas over scripted loss sequences."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import count_compilations
from nectargan_jax import LossManager
from nectargan_jax.weighting import dwa, ema, relobralo, softadapt

NAMES = ("a", "b", "c")
K = len(NAMES)


def scripted(x, y):
    """The loss is the scripted value carried by ``x``."""
    del y
    return jnp.mean(x)


def manager(rule, capacity=64):
    lm = LossManager(capacity=capacity)
    for name in NAMES:
        lm = lm.register(name, scripted)
    return lm.with_rule(rule, NAMES)


def inputs(values):
    return {name: (jnp.full((2,), values[i]), jnp.zeros((2,))) for i, name in enumerate(NAMES)}


def step(lm, values, epoch):
    return lm.compute_many(inputs(values), epoch)[1]


jit_step = jax.jit(step)


def run(lm, losses, epochs, one_step=jit_step):
    for values, epoch in zip(losses, epochs):
        lm = one_step(lm, jnp.asarray(values, jnp.float32), jnp.float32(epoch))
    return lm


def weights(lm):
    """The recorded weight of every call, ``shape=(calls, K)`` (float64)."""
    records, _ = lm.drain()
    return np.stack([records[name][1] for name in NAMES], axis=-1).astype(np.float64)


def script(n, seed=0):
    """Positive scripted losses, exact in float32."""
    values = np.random.default_rng(seed).uniform(0.2, 3.0, (n, K))
    return values.astype(np.float32).astype(np.float64)


def softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


# Float64 references, written from the papers' formulas -------------------------------

def dwa_reference(losses, epochs, temperature):
    """Liu et al. 2019 eq. 7 over the means of the last two completed epochs with calls."""
    completed, bucket, current, out = [], [], None, []
    for values, epoch in zip(losses, epochs):
        if bucket and epoch != current:
            completed.append(np.mean(bucket, axis=0))
            bucket = []
        current = epoch
        if len(completed) >= 2:
            out.append(K * softmax(completed[-1] / completed[-2] / temperature))
        else:
            out.append(np.ones(K))
        bucket.append(values)
    return np.array(out)


def softadapt_reference(losses, beta, variant, eps=1e-8):
    """Heydari et al. 2019, first-order slopes of consecutive calls."""
    out = [np.full(K, 1.0 / K)]
    for previous, current in zip(losses[:-1], losses[1:]):
        s = current - previous
        if variant == "normalized":
            s = s / (np.sum(np.abs(s)) + eps)
        e = np.exp(beta * s - np.max(beta * s))
        if variant == "loss_weighted":
            e = e * (current + previous) / 2
        out.append(e / (np.sum(e) + eps))
    return np.array(out)


def balanced(current, reference, temperature, eps=1e-8):
    return K * softmax(current / (temperature * reference + eps))


def relobralo_reference(losses, rhos, alpha, temperature):
    """Bischof and Kraus eqs. 10-12 for a given sequence of rho (first two calls as in
    the authors' code: 1, then lambda_bal(1, 0))."""
    out = [np.ones(K), balanced(losses[1], losses[0], temperature)]
    for t in range(2, len(losses)):
        history = rhos[t] * out[-1] + (1 - rhos[t]) * balanced(losses[t], losses[0], temperature)
        out.append(alpha * history + (1 - alpha) * balanced(losses[t], losses[t - 1],
                                                            temperature))
    return np.array(out)


# DWA ---------------------------------------------------------------------------------

# The run starts at epoch 1 and epoch 4 has no call: epoch 5 uses the means of epochs
# 2 and 3, epoch 6 those of epochs 3 and 5.
DWA_EPOCHS = [1, 1, 1, 2, 2, 3, 3, 3, 5, 5, 6, 6, 6, 7]


@pytest.mark.parametrize("temperature", [2.0, 0.5])
def test_dwa_matches_the_paper_over_epochs_with_skipped_epochs(temperature):
    losses = script(len(DWA_EPOCHS))
    got = weights(run(manager(dwa(temperature)), losses, DWA_EPOCHS))
    want = dwa_reference(losses, DWA_EPOCHS, temperature)
    np.testing.assert_array_equal(got[:5], 1.0)  # epochs 1 and 2: no two complete epochs
    assert not np.allclose(got[5:], 1.0)
    np.testing.assert_allclose(got, want, rtol=2e-6)
    np.testing.assert_allclose(got.sum(axis=1), K, rtol=1e-6)


def test_dwa_weights_follow_a_hand_computed_example():
    # Epoch means (2, 1, 1) then (1, 1, 2): ratios (0.5, 1, 2); T = 2.
    losses = [[3, 1, 1], [1, 1, 1], [1, 1, 2], [5, 5, 5]]
    got = weights(run(manager(dwa()), np.array(losses, float), [0, 0, 1, 2]))[-1]
    z = np.exp(np.array([0.25, 0.5, 1.0]))
    np.testing.assert_allclose(got, 3 * z / z.sum(), rtol=1e-6)


def test_dwa_takes_the_ratio_of_a_loss_whose_earlier_mean_is_0_as_1():
    # Epoch means (0, 2, 1), (0, 1, 1), (4, 4, 4): at epoch 2 the ratios are (0/0 -> 1,
    # 0.5, 1), at epoch 3 (4/0 -> 1, 4, 4); T = 2. Without the guard every weight is NaN.
    losses = [[0, 2, 1], [0, 1, 1], [4, 4, 4], [1, 1, 1]]
    got = weights(run(manager(dwa()), np.array(losses, float), [0, 1, 2, 3]))
    for row, ratios in ((2, [1.0, 0.5, 1.0]), (3, [1.0, 4.0, 4.0])):
        z = np.exp(np.array(ratios) / 2)
        np.testing.assert_allclose(got[row], 3 * z / z.sum(), rtol=1e-6)
    np.testing.assert_array_equal(got[:2], 1.0)


# SoftAdapt ---------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["plain", "normalized", "loss_weighted"])
@pytest.mark.parametrize("beta", [0.1, 2.0, -1.0])
def test_softadapt_matches_the_paper(variant, beta):
    losses = script(12, seed=1)
    got = weights(run(manager(softadapt(beta, variant)), losses, [0] * 12))
    np.testing.assert_allclose(got[0], 1.0 / K, rtol=1e-6)  # the first call
    np.testing.assert_allclose(got, softadapt_reference(losses, beta, variant), rtol=2e-5)


def test_softadapt_favours_the_loss_that_rises_and_defaults_to_loss_weighted():
    # slopes (+1, -50, -500), beta = 0.1, the package's README components.
    losses = np.array([[1.0, 150.0, 1500.0], [2.0, 100.0, 1000.0]])
    got = weights(run(manager(softadapt()), losses, [0, 0]))[1]
    e = np.exp(0.1 * np.array([0.0, -51.0, -501.0])) * np.array([1.5, 125.0, 1250.0])
    np.testing.assert_allclose(got, e / e.sum(), rtol=1e-5)
    assert got[0] > got[1] > got[2]


# ReLoBRaLo ---------------------------------------------------------------------------

@pytest.mark.parametrize("expected_rho", [1.0, 0.0])
def test_relobralo_matches_the_paper_on_each_deterministic_branch(expected_rho):
    losses = script(15, seed=2)
    rule = relobralo(alpha=0.9, expected_rho=expected_rho, temperature=0.5)
    got = weights(run(manager(rule), losses, [0] * 15))
    want = relobralo_reference(losses, np.full(15, expected_rho), 0.9, 0.5)
    np.testing.assert_array_equal(got[0], 1.0)
    np.testing.assert_allclose(got[1], balanced(losses[1], losses[0], 0.5), rtol=1e-5)
    np.testing.assert_allclose(got, want, rtol=2e-5)
    np.testing.assert_allclose(got.sum(axis=1), K, rtol=1e-5)


def test_relobralo_draws_rho_each_call_and_each_draw_is_one_branch():
    n, alpha, temperature = 60, 0.6, 1.0
    losses = script(n, seed=3)
    got = weights(run(manager(relobralo(alpha, 0.5, temperature, seed=7), capacity=n),
                      losses, [0] * n))
    np.testing.assert_allclose(got[:2], relobralo_reference(losses[:2], [1, 1], alpha,
                                                            temperature), rtol=1e-5)
    previous, rhos = got[1], []
    for t in range(2, n):
        to_previous = (1 - alpha) * balanced(losses[t], losses[t - 1], temperature)
        keep = alpha * previous + to_previous
        look_back = alpha * balanced(losses[t], losses[0], temperature) + to_previous
        assert np.abs(keep - look_back).max() > 1e-3  # the draw is identifiable
        rho = 1 if np.allclose(got[t], keep, rtol=1e-4) else 0
        np.testing.assert_allclose(got[t], keep if rho else look_back, rtol=1e-4)
        previous = keep if rho else look_back
        rhos.append(rho)
    assert 15 < sum(rhos) < 43  # Bernoulli(0.5) over 58 draws


def test_relobralo_same_seed_same_weights_other_seed_other_draws():
    losses = script(30, seed=4)

    def draws(seed):
        return weights(run(manager(relobralo(0.9, 0.5, 1.0, seed=seed)), losses, [0] * 30))

    np.testing.assert_array_equal(draws(3), draws(3))
    assert not np.allclose(draws(3), draws(4))


# All three rules: restart, transformations, compilation, gradients --------------------

RULES = {
    "dwa": lambda: dwa(1.0),
    "softadapt": lambda: softadapt(0.5, "plain"),
    "relobralo": lambda: relobralo(0.9, 0.5, 1.0, seed=1),
}
OTHER_NUMBERS = {  # the same structures: the numbers are leaves
    "dwa": lambda: dwa(3.0),
    "softadapt": lambda: softadapt(-2.0, "plain", eps=0.0),
    "relobralo": lambda: relobralo(0.5, 0.1, 2.0, seed=9, eps=1e-3),
}
EPOCHS = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def _orbax_clone(lm, folder):
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(folder / "lm", lm)
    checkpointer.wait_until_finished()
    return checkpointer.restore(folder / "lm", jax.tree.map(ocp.utils.to_shape_dtype_struct, lm))


@pytest.mark.parametrize("name", RULES)
def test_a_restart_mid_run_gives_the_uninterrupted_weights(name, tmp_path):
    losses = script(len(EPOCHS), seed=5)
    straight = weights(run(manager(RULES[name]()), losses, EPOCHS))
    half = run(manager(RULES[name]()), losses[:5], EPOCHS[:5])  # mid-epoch 2
    for clone in (lambda m: pickle.loads(pickle.dumps(m)), lambda m: _orbax_clone(m, tmp_path)):
        resumed = run(clone(half), losses[5:], EPOCHS[5:])
        np.testing.assert_array_equal(weights(resumed), straight)


@pytest.mark.parametrize("name", RULES)
def test_eager_jit_scan_and_vmap_agree_and_compile_once(name):
    losses = script(len(EPOCHS), seed=6)
    lm = manager(RULES[name]())
    eager = weights(run(lm, losses, EPOCHS, one_step=step))

    def fresh_step(lm, values, epoch):  # a function of its own: a cold jit cache
        return step(lm, values, epoch)

    jitted_step = jax.jit(fresh_step)
    with count_compilations() as log:
        jitted = weights(run(lm, losses, EPOCHS, one_step=jitted_step))
        run(manager(OTHER_NUMBERS[name]()), losses, EPOCHS, one_step=jitted_step)
    assert log.count("fresh_step") == 1

    def scan(lm, values, epochs):
        return jax.lax.scan(lambda m, xs: (step(m, *xs), None), lm, (values, epochs))[0]

    values, epochs = jnp.asarray(losses, jnp.float32), jnp.asarray(EPOCHS, jnp.float32)
    scanned = weights(jax.jit(scan)(lm, values, epochs))
    other = script(len(EPOCHS), seed=7)
    batch = jax.tree.map(lambda *leaves: jnp.stack(leaves), lm, lm)
    both = jnp.stack([values, jnp.asarray(other, jnp.float32)])
    vmapped = weights(jax.jit(jax.vmap(scan, in_axes=(0, 0, None)))(batch, both, epochs))
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
    np.testing.assert_allclose(scanned, eager, rtol=1e-6)
    np.testing.assert_allclose(vmapped[0], eager, rtol=1e-6)
    np.testing.assert_allclose(vmapped[1], weights(run(lm, other, EPOCHS)), rtol=1e-6)


@pytest.mark.parametrize("name", RULES)
def test_the_weights_carry_no_gradient(name):
    lm = run(manager(RULES[name]()), script(5, seed=8), EPOCHS[:5])
    values = jnp.asarray([0.7, 1.3, 2.1], jnp.float32)

    def total(values):
        (total, _, _), after = lm.compute_many(inputs(values), jnp.float32(2))
        return total, after

    grad, after = jax.jit(jax.grad(total, has_aux=True))(values)
    np.testing.assert_allclose(grad, weights(after)[-1], rtol=1e-6)  # d(w * L)/dL = w


@pytest.mark.parametrize("name", RULES)
def test_a_group_of_one_loss_is_refused(name):
    with pytest.raises(ValueError, match=rf"{name} balances a group of at least 2 losses"):
        LossManager().register("a", scripted).with_rule(RULES[name](), ["a"])
    with pytest.raises(ValueError, match=rf"{name} balances a group of at least 2 losses"):
        LossManager().register("a", scripted, weight=RULES[name]())


@pytest.mark.parametrize("build, error, message", [
    (lambda: dwa(0.0), ValueError, r"temperature must be > 0.0, got temperature=0.0"),
    (lambda: dwa(-1), ValueError, r"temperature must be > 0.0, got temperature=-1"),
    (lambda: dwa(float("inf")), ValueError, r"temperature must be finite"),
    (lambda: dwa("2"), TypeError, r"temperature must be a real number"),
    (lambda: softadapt(variant="sum"), ValueError, r"variant must be one of .*'sum'"),
    (lambda: softadapt(beta=True), TypeError, r"beta must be a real number"),
    (lambda: softadapt(eps=-1e-8), ValueError, r"eps must be >= 0.0, got eps=-1e-08"),
    (lambda: relobralo(alpha=1.5), ValueError, r"alpha must be in \[0.0, 1.0\], got alpha=1.5"),
    (lambda: relobralo(expected_rho=-0.1), ValueError, r"expected_rho must be in \[0.0, 1.0\]"),
    (lambda: relobralo(temperature=0), ValueError, r"temperature must be > 0.0"),
    (lambda: relobralo(seed=1.5), TypeError, r"seed must be an int, got float: 1.5"),
    (lambda: relobralo(seed=True), TypeError, r"seed must be an int, got bool"),
])
def test_bad_arguments_raise_clear_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_a_group_rule_composes_with_a_number_and_an_ema():
    losses = script(4, seed=9)
    got = weights(run(manager(ema(softadapt(1.0, "plain") * K, decay=0.5)), losses, [0] * 4))
    plain = K * softadapt_reference(losses, 1.0, "plain")
    want = [plain[0]]
    for w in plain[1:]:
        want.append(0.5 * want[-1] + 0.5 * w)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), K, rtol=1e-5)


@pytest.mark.parametrize("name", RULES)
def test_a_jitted_step_makes_no_host_transfer(name):
    lm = run(manager(RULES[name]()), script(3, seed=10), EPOCHS[:3])  # compiled, warm
    values = [jnp.asarray(v, jnp.float32) for v in script(3, seed=11)]
    epochs = [jnp.float32(e) for e in EPOCHS[3:6]]
    with jax.transfer_guard("disallow"):
        for v, e in zip(values, epochs):
            lm = jit_step(lm, v, e)
    assert weights(lm).shape == (6, K)
