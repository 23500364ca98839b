"""The gradient rules (adaptive last-layer weight, gradient-norm balancing, GradNorm),
uncertainty weighting and layer_grads, against float64 NumPy references computed from
the published formulas, against taming-transformers' recipe run in PyTorch, and under
jit, vmap, scan, a restart and jax.grad."""

import pickle

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from helpers import count_compilations
from nectargan_jax import LossManager
from nectargan_jax.weighting import (Context, adaptive_last_layer, freeze, gate, grad_norm_balance, gradnorm,
                                     layer_grads, uncertainty)

STEPS = 8
GATE_START = 2
NAMES = ("nll", "gan", "a", "b", "c", "d", "e", "f")
GRAD_KEYS = ("nll", "gan", "a", "b", "c", "d")


def first(x, y):
    """The loss is the mean of ``x``: a scripted loss value passes through unchanged."""
    del y
    return jnp.mean(x)


def manager(every=3, momentum=0.9, alpha=1.5, learning_rate=0.02, init_log_variance=0.0):
    lm = LossManager()
    for name in NAMES:
        weight = gate(GATE_START) * adaptive_last_layer("nll") * 0.8 if name == "gan" else 1.0
        lm = lm.register(name, first, weight=weight)
    return (lm.with_rule(grad_norm_balance(every, momentum), ["a", "b"])
            .with_rule(gradnorm(alpha, learning_rate), ["c", "d"])
            .with_rule(uncertainty(init_log_variance), ["e", "f"]))


def script(seed):
    """Losses ``(STEPS, 8)`` and gradients ``{key: {'kernel': (STEPS, 3, 2), 'bias':
    (STEPS, 2)}}`` in float32, scaled per key so that the norms differ."""
    rng = np.random.default_rng(seed)
    losses = rng.uniform(0.2, 3.0, (STEPS, len(NAMES))).astype(np.float32)
    grads = {key: {"kernel": (rng.normal(size=(STEPS, 3, 2)) * (i + 1)).astype(np.float32),
                   "bias": (rng.normal(size=(STEPS, 2)) * (i + 1)).astype(np.float32)}
             for i, key in enumerate(GRAD_KEYS)}
    return losses, grads


def norms64(grads, key):
    """``(STEPS,)``: the float64 L2 norm over both leaves of ``grads[key]`` per step."""
    tree = grads[key]
    return np.sqrt(np.sum(tree["kernel"].astype(np.float64) ** 2, axis=(1, 2))
                   + np.sum(tree["bias"].astype(np.float64) ** 2, axis=1))


def step(lm, losses_t, grads_t):
    inputs = {name: (losses_t[i][None], losses_t[i][None]) for i, name in enumerate(NAMES)}
    _, lm = lm.compute_many(inputs, jnp.float32(0), grads_t)
    return lm, lm.history.latest_weight


jitted_step = jax.jit(step)


def run(lm, losses, grads, start=0, stop=STEPS):
    weights = []
    for t in range(start, stop):
        lm, w = jitted_step(lm, losses[t], jax.tree.map(lambda g, t=t: g[t], grads))
        weights.append(np.asarray(w))
    return lm, np.stack(weights)


# References: float64 NumPy, from the papers' formulas -------------------------------


def adaptive_reference(n_nll, n_gan, start=GATE_START, scale=0.8):
    steps = np.arange(len(n_nll))
    return (steps >= start) * np.clip(n_nll / (n_gan + 1e-4), 0, 1e4) * scale


def balance_reference(norms, every, momentum, eps=1e-5):
    weights, out = np.ones(norms.shape[1]), []
    for t, n in enumerate(norms):
        if t % every == 0:
            weights = momentum * weights + (1 - momentum) * n.sum() / (n + eps * n.mean())
        out.append(weights)
    return np.stack(out)


def gradnorm_reference(losses, norms, alpha, learning_rate, stop_target=True, signed=False):
    """GradNorm's Algorithm 1: ``G_i = ||grad_W (w_i L_i)|| = |w_i| n_i``, so
    ``d G_i / d w_i = sign(w_i) n_i`` (1 at 0, JAX's convention for ``|w|``).
    ``signed=True`` is the departure that uses ``w_i n_i``."""
    k = losses.shape[1]
    weights, out = np.ones(k), []
    for loss, n in zip(losses, norms):
        out.append(weights)
        ratio = loss / losses[0]
        r = ratio / ratio.mean()
        g = (weights if signed else np.abs(weights)) * n
        sign = np.sign(g - g.mean() * r ** alpha)
        grad = sign * n * (1.0 if signed else np.where(weights >= 0, 1.0, -1.0))
        if not stop_target:  # the bug: the target's dependence on w differentiated too
            grad = grad - n * np.sum(sign * r ** alpha) / k
        weights = weights - learning_rate * grad
        weights = k * weights / weights.sum()
    return np.stack(out)


@pytest.fixture(scope="module")
def scripted():
    losses, grads = script(0)
    _, weights = run(manager(), losses, grads)
    return losses, grads, weights


def test_adaptive_weight_matches_the_taming_formula_with_its_gate(scripted):
    losses, grads, weights = scripted
    expected = adaptive_reference(norms64(grads, "nll"), norms64(grads, "gan"))
    assert np.all(expected[:GATE_START] == 0) and np.all(expected[GATE_START:] > 0)
    np.testing.assert_allclose(weights[:, 1], expected, rtol=1e-5)
    np.testing.assert_array_equal(weights[:, 0], 1.0)


def test_grad_norm_balance_follows_the_papers_update_every_n_steps_from_step_0(scripted):
    losses, grads, weights = scripted
    norms = np.stack([norms64(grads, "a"), norms64(grads, "b")], axis=1)
    expected = balance_reference(norms, every=3, momentum=0.9)
    np.testing.assert_allclose(weights[:, 2:4], expected, rtol=1e-5)
    assert not np.allclose(expected[0], 1.0)  # step 0 updates
    np.testing.assert_array_equal(weights[1:3, 2:4], weights[[0, 0], 2:4])  # kept to step 2


def test_gradnorm_follows_algorithm_1_with_stopped_targets(scripted):
    losses, grads, weights = scripted
    norms = np.stack([norms64(grads, "c"), norms64(grads, "d")], axis=1)
    scripted_losses = losses[:, 4:6].astype(np.float64)
    expected = gradnorm_reference(scripted_losses, norms, alpha=1.5, learning_rate=0.02)
    np.testing.assert_allclose(weights[:, 4:6], expected, rtol=1e-5)
    np.testing.assert_array_equal(weights[0, 4:6], 1.0)
    assert np.all(np.abs(expected[1:] - 1.0) > 1e-3)  # the weights move
    np.testing.assert_allclose(weights[:, 4:6].sum(axis=1), 2.0, rtol=1e-6)
    buggy = gradnorm_reference(scripted_losses, norms, 1.5, 0.02, stop_target=False)
    assert np.max(np.abs(buggy - expected)) > 1e-2  # the data tells the two apart


def test_gradnorm_takes_the_norm_of_the_weighted_gradient_when_a_weight_turns_negative():
    """With alpha 3 and learning rate 0.05 a weight of this script goes negative at call
    8; from call 9 on the paper's ``G_i = |w_i| n_i`` and a signed ``w_i n_i`` part."""
    names = ("a", "b", "c")
    rng = np.random.default_rng(1)
    losses = rng.uniform(0.2, 3.0, (12, 3))
    norms = rng.uniform(0.5, 6.0, (12, 3))
    expected = gradnorm_reference(losses, norms, alpha=3.0, learning_rate=0.05)
    signed = gradnorm_reference(losses, norms, 3.0, 0.05, signed=True)
    assert np.all(expected[:8] > 0) and np.any(expected[8] < 0)
    assert np.abs(expected[:9] - signed[:9]).max() < 1e-12
    assert np.abs(expected[9:] - signed[9:]).max() > 1e-2
    call = jax.jit(lambda rule, loss, n: rule(Context(
        0, jnp.int32(0), loss, {name: n[i, None] for i, name in enumerate(names)}, names)))
    rule, got = gradnorm(alpha=3.0, learning_rate=0.05).bind(names), []
    for loss, n in zip(losses.astype(np.float32), norms.astype(np.float32)):
        out = call(rule, loss, n)
        got.append(np.asarray(out.weight))
        rule = out.rule
    np.testing.assert_allclose(np.stack(got), expected, rtol=1e-4, atol=1e-5)


def test_uncertainty_weights_without_training_are_one_half(scripted):
    _, _, weights = scripted
    np.testing.assert_array_equal(weights[:, 6:8], 0.5)


def test_jit_scan_and_vmap_over_two_managers_agree():
    configs = [dict(), dict(every=2, momentum=0.5, alpha=0.5, learning_rate=0.05)]
    scripts = [script(1), script(2)]
    singles = [run(manager(**c), *s)[1] for c, s in zip(configs, scripts)]

    def scan(lm, xs):
        return jax.lax.scan(lambda m, x: step(m, *x), lm, xs)[1]

    for config, xs, single in zip(configs, scripts, singles):
        np.testing.assert_allclose(jax.jit(scan)(manager(**config), xs), single, rtol=1e-6)
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[manager(**c) for c in configs])
    xs = jax.tree.map(lambda *leaves: jnp.stack(leaves, axis=1), *scripts)
    batched = jax.jit(jax.vmap(scan, in_axes=(0, 1)))(stacked, xs)
    for i, single in enumerate(singles):
        np.testing.assert_allclose(batched[i], single, rtol=1e-6)


def test_a_restart_from_a_pickle_mid_run_gives_the_same_weights_with_no_recompile():
    losses, grads = script(3)
    _, straight = run(manager(), losses, grads)
    halfway, before = run(manager(), losses, grads, stop=3)
    restored = pickle.loads(pickle.dumps(halfway))
    step_inputs = [(losses[t], jax.tree.map(lambda g, t=t: g[t], grads))
                   for t in range(3, STEPS)]
    with count_compilations() as log:
        after = []
        for x in step_inputs:
            restored, w = jitted_step(restored, *x)
            after.append(np.asarray(w))
    np.testing.assert_array_equal(np.concatenate([before, np.stack(after)]), straight)
    assert log.count("step") == 0


def test_the_step_compiles_once_for_every_input():
    losses, grads = script(4)
    def fresh_step(lm, losses_t, grads_t):
        return step(lm, losses_t, grads_t)

    fresh = jax.jit(fresh_step)
    lm = manager()
    step_inputs = [(jnp.asarray(losses[t]), jax.tree.map(lambda g, t=t: jnp.asarray(g[t]), grads))
                   for t in range(STEPS)]
    with count_compilations() as log, jax.transfer_guard("disallow"):
        for x in step_inputs:
            lm, _ = fresh(lm, *x)
    assert log.count("fresh_step") == 1


def test_gradients_reach_the_losses_through_the_weights_and_never_the_gradients_passed():
    losses, grads = script(5)
    t = 3  # the gate is open (t >= 2) and grad_norm_balance updates (t % 3 == 0)
    lm, _ = run(manager(), losses, grads, stop=t)
    losses_t = jnp.asarray(losses[t])
    grads_t = jax.tree.map(lambda g: jnp.asarray(g[t]), grads)

    def total(x, g):
        inputs = {n: (x[i][None],) * 2 for i, n in enumerate(NAMES)}
        return lm.compute_many(inputs, jnp.float32(0), g)[0].total

    value_and_grad = jax.jit(jax.value_and_grad(total, argnums=(0, 1)))
    value, (d_losses, d_grads) = value_and_grad(losses_t, grads_t)
    _, weights = jitted_step(lm, losses_t, grads_t)
    np.testing.assert_allclose(d_losses, weights, rtol=1e-6)  # d(w L + offset)/dL = w
    for leaf in jax.tree.leaves(d_grads):
        np.testing.assert_array_equal(leaf, 0.0)
    for key in ("nll", "a"):  # the weights do read them
        doubled = dict(grads_t, **{key: jax.tree.map(lambda x: 2 * x, grads_t[key])})
        assert float(value_and_grad(losses_t, doubled)[0]) != pytest.approx(float(value))


def test_a_frozen_adaptive_weight_replays_the_run_without_gradients():
    losses, grads = script(9)
    rule = gate(GATE_START) * adaptive_last_layer("nll") * 0.8
    lm = LossManager().register("nll", first).register("gan", first, weight=rule)
    for t in range(STEPS):
        inputs = {"nll": (losses[t, :1],) * 2, "gan": (losses[t, 1:2],) * 2}
        _, lm = lm.compute_many(inputs, 0, {k: grads[k]["kernel"][t] for k in ("nll", "gan")})
    recorded = lm.drain()[0]["gan"][1]
    replay = LossManager().register("gan", first, weight=freeze(recorded))
    for t in range(STEPS):
        _, replay = replay.compute("gan", losses[t, 1:2], losses[t, 1:2])
    np.testing.assert_array_equal(replay.drain()[0]["gan"][1], recorded)
    assert np.all(recorded[:GATE_START] == 0) and np.all(recorded[GATE_START:] > 0)


def test_the_adaptive_weight_reports_its_clamps():
    rule = adaptive_last_layer("nll", maximum=50.0).bind(("gan",))

    def weight(nll, gan):
        out = rule(Context(0, jnp.int32(0), jnp.ones(1), {"nll": jnp.array(nll),
                                                          "gan": jnp.array(gan)}, ("gan",)))
        return float(out.weight[0]), bool(out.clamped[0])

    assert weight([3.0, 4.0], [0.5]) == (pytest.approx(5 / (0.5 + 1e-4)), False)
    assert weight([3.0, 4.0], [0.0]) == (50.0, True)  # 5 / 1e-4 clamped to the maximum
    assert weight([0.0, 0.0], [0.5]) == (0.0, True)


def test_zero_gradients_and_zero_initial_losses_leave_finite_weights():
    names = ("a", "b")
    zeros = {"a": jnp.zeros(3), "b": jnp.zeros(3)}
    balance = grad_norm_balance(every=1).bind(names)
    out = balance(Context(0, jnp.int32(0), jnp.ones(2), zeros, names))
    np.testing.assert_array_equal(out.weight, 1.0)  # skipped, not 0/0
    rule = gradnorm(alpha=1.0, learning_rate=0.1).bind(names)
    grads = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([1.0])}
    for losses in ([0.0, 2.0], [1.0, 1.0]):
        out = rule(Context(0, jnp.int32(0), jnp.array(losses), grads, names))
        rule = out.rule
        assert np.all(np.isfinite(rule.state.weights))
    # L(0) = (0, 2): the first loss's ratio is 1, the second's 1 / 2; r = (4/3, 2/3).
    w = np.ones(2)
    for r in (np.ones(2), np.array([4 / 3, 2 / 3])):
        n = np.array([5.0, 1.0])
        w = w - 0.1 * np.sign(w * n - np.mean(w * n) * r) * n
        w = 2 * w / w.sum()
    np.testing.assert_allclose(rule.state.weights, w, rtol=1e-6)


# Taming-transformers' recipe in PyTorch ---------------------------------------------

D = np.array([0.7, -1.3], np.float32)


def l1_mean(x, y):
    return jnp.mean(jnp.abs(x - y))


def generator_loss(x, y):
    del y
    return -jnp.mean(x @ jnp.asarray(D))


def test_adaptive_weight_and_training_match_taming_in_pytorch():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    y = rng.normal(size=(5, 2)).astype(np.float32)
    w1 = rng.normal(size=(4, 3)).astype(np.float32)
    w2 = rng.normal(size=(3, 2)).astype(np.float32)
    lr, steps, start, disc_weight = 0.1, 5, 2, 0.8

    # taming-transformers VQLPIPSWithDiscriminator: calculate_adaptive_weight, adopt_weight.
    t_w1 = torch.tensor(w1, requires_grad=True)
    t_w2 = torch.tensor(w2, requires_grad=True)
    tx, ty, td = torch.tensor(x), torch.tensor(y), torch.tensor(D)
    torch_weights = []
    for global_step in range(steps):
        out = torch.tanh(tx @ t_w1) @ t_w2
        nll_loss = torch.mean(torch.abs(out - ty))
        g_loss = -torch.mean(out @ td)
        nll_grads = torch.autograd.grad(nll_loss, t_w2, retain_graph=True)[0]
        g_grads = torch.autograd.grad(g_loss, t_w2, retain_graph=True)[0]
        d_weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
        d_weight = torch.clamp(d_weight, 0.0, 1e4).detach() * disc_weight
        disc_factor = 0.0 if global_step < start else 1.0
        loss = nll_loss + d_weight * disc_factor * g_loss
        torch_weights.append(float(d_weight * disc_factor))
        g1, g2 = torch.autograd.grad(loss, [t_w1, t_w2])
        with torch.no_grad():
            t_w1 -= lr * g1
            t_w2 -= lr * g2

    lm = (LossManager().register("nll", l1_mean)
          .register("gan", generator_loss,
                    weight=gate(start) * adaptive_last_layer("nll") * disc_weight))

    def losses_at_last_layer(last, h):
        out = h @ last
        return {"nll": l1_mean(out, y), "gan": generator_loss(out, out)}

    def objective(params, lm):
        h = jnp.tanh(x @ params["w1"])
        out = h @ params["w2"]
        grads = layer_grads(losses_at_last_layer, params["w2"], h)
        (total, _, _), lm = lm.compute_many({"nll": (out, y), "gan": (out, out)},
                                       jnp.float32(0), grads)
        return total, lm

    @jax.jit
    def train_step(params, lm):
        (_, lm), g = jax.value_and_grad(objective, has_aux=True)(params, lm)
        return jax.tree.map(lambda p, d: p - lr * d, params, g), lm

    params, jax_weights = {"w1": jnp.asarray(w1), "w2": jnp.asarray(w2)}, []
    with jax.default_matmul_precision("highest"):  # float32 matmuls on a GPU too
        for _ in range(steps):
            params, lm = train_step(params, lm)
            jax_weights.append(float(lm.history.latest_weight[1]))
    np.testing.assert_allclose(jax_weights, torch_weights, rtol=1e-5)
    assert torch_weights[0] == 0.0 and torch_weights[start] > 0.0
    np.testing.assert_allclose(params["w1"], t_w1.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(params["w2"], t_w2.detach().numpy(), rtol=1e-5, atol=1e-6)


# Uncertainty weighting trained by optax ---------------------------------------------


def squared(x, y):
    return jnp.mean(jnp.square(x - y))


def test_uncertainty_log_variances_and_model_follow_hand_derived_sgd_updates():
    target = np.array([1.0, -2.0])
    lm = (LossManager().register("e", squared).register("f", squared)
          .with_rule(uncertainty(init_log_variance=0.3), ["e", "f"]))
    params = {"theta": jnp.array([0.5, 0.25]), "rules": lm.weight_params()}
    optimizer = optax.sgd(0.2)
    opt_state = optimizer.init(params)

    def objective(params, lm):
        lm = lm.with_weight_params(params["rules"])
        theta = params["theta"]
        inputs = {"e": (theta[:1], jnp.asarray(target[:1], jnp.float32)),
                  "f": (theta[1:], jnp.asarray(target[1:], jnp.float32))}
        (total, _, _), lm = lm.compute_many(inputs, jnp.float32(0))
        return total, lm

    @jax.jit
    def train_step(params, opt_state, lm):
        (total, lm), g = jax.value_and_grad(objective, has_aux=True)(params, lm)
        updates, opt_state = optimizer.update(g, opt_state)
        return optax.apply_updates(params, updates), opt_state, lm, total

    theta, s = np.array([0.5, 0.25]), np.array([0.3, 0.3])
    for _ in range(4):
        params, opt_state, lm, total = train_step(params, opt_state, lm)
        loss = (theta - target) ** 2
        np.testing.assert_allclose(total, np.sum(0.5 * np.exp(-s) * loss + 0.5 * s), rtol=1e-6)
        np.testing.assert_allclose(lm.history.latest_weight, 0.5 * np.exp(-s), rtol=1e-6)
        # d/ds [exp(-s) L / 2 + s / 2] = (1 - exp(-s) L) / 2; d/dtheta = exp(-s) (theta - y)
        theta, s = (theta - 0.2 * np.exp(-s) * (theta - target),
                    s - 0.2 * 0.5 * (1 - np.exp(-s) * loss))
        np.testing.assert_allclose(params["theta"], theta, rtol=1e-5)
        np.testing.assert_allclose(params["rules"][0], s, rtol=1e-5)


# layer_grads ------------------------------------------------------------------------


def test_layer_grads_gives_each_losss_gradient_at_the_layer():
    rng = np.random.default_rng(7)
    h = rng.normal(size=(4, 3)).astype(np.float32)
    layer = {"kernel": rng.normal(size=(3, 2)).astype(np.float32),
             "bias": rng.normal(size=(2,)).astype(np.float32)}

    def losses(p, h):
        out = h @ p["kernel"] + p["bias"][None, :]
        return {"rec": jnp.sum(out ** 2), "gan": -jnp.sum(out[:, 0])}

    with jax.default_matmul_precision("highest"):  # float32 matmuls on a GPU too
        grads = layer_grads(losses, layer, h)
    out = h.astype(np.float64) @ layer["kernel"] + layer["bias"][None, :]
    np.testing.assert_allclose(grads["rec"]["kernel"], 2 * h.T.astype(np.float64) @ out,
                               rtol=1e-5)
    np.testing.assert_allclose(grads["rec"]["bias"], 2 * out.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(grads["gan"]["kernel"],
                               np.stack([-h.sum(axis=0), np.zeros(3)], axis=1), rtol=1e-6)
    np.testing.assert_allclose(grads["gan"]["bias"], [-4.0, 0.0])
    outer = jax.grad(lambda p: sum(jnp.sum(g) for g in jax.tree.leaves(
        layer_grads(losses, p, h))))(layer)
    for leaf in jax.tree.leaves(outer):  # the gradients come back as constants
        np.testing.assert_array_equal(leaf, 0.0)


# Bad arguments ----------------------------------------------------------------------


def test_adaptive_weight_refuses_bad_arguments():
    lm = LossManager().register("a", first).register("b", first)
    with pytest.raises(ValueError, match="weighs one loss.*2 losses"):
        lm.with_rule(adaptive_last_layer("nll"), ["a", "b"])
    with pytest.raises(ValueError, match="reference='a'.*itself"):
        lm.with_rule(adaptive_last_layer("a"), ["a"])
    for kwargs, error, message in [
            (dict(eps=0.0), ValueError, "eps must be > 0, got eps=0.0"),
            (dict(eps=-1e-4), ValueError, "eps must be > 0"),
            (dict(maximum=0), ValueError, "maximum must be > 0, got maximum=0"),
            (dict(eps=float("nan")), ValueError, "eps must be finite"),
            (dict(eps="1e-4"), TypeError, "eps must be a real number"),
            (dict(maximum=True), TypeError, "maximum must be a real number"),
            (dict(eps=[1e-4, 1e-3]), TypeError, "eps must be a real number")]:
        with pytest.raises(error, match=message):
            adaptive_last_layer("nll", **kwargs)
    with pytest.raises(TypeError, match="reference must be a string"):
        adaptive_last_layer(3)
    with pytest.raises(ValueError, match="non-empty"):
        adaptive_last_layer("")


def test_a_missing_gradient_names_the_key_and_the_keys_given():
    lm = manager()
    losses, grads = script(8)
    inputs = {n: (losses[0, i][None],) * 2 for i, n in enumerate(NAMES)}
    given = {k: grads[k]["bias"][0] for k in GRAD_KEYS if k != "nll"}
    with pytest.raises(KeyError, match=r"adaptive_last_layer.*grads\['nll'\].*"
                                       r"\['a', 'b', 'c', 'd', 'gan'\]"):
        lm.compute_many(inputs, 0, given)
    given = {k: grads[k]["bias"][0] for k in GRAD_KEYS if k != "c"}
    with pytest.raises(KeyError, match=r"gradnorm reads the gradient grads\['c'\]"):
        lm.compute_many(inputs, 0, given)
    with pytest.raises(KeyError, match=r"grad_norm_balance.*grads\['a'\].*keys \[\]"):
        LossManager().register("a", first).register("b", first).with_rule(
            grad_norm_balance(), ["a", "b"]).compute_many(
                {"a": (jnp.ones(1),) * 2, "b": (jnp.ones(1),) * 2})


def test_group_rules_refuse_bad_arguments():
    lm = LossManager().register("a", first).register("b", first)
    for rule in (grad_norm_balance(), gradnorm()):
        with pytest.raises(ValueError, match="two losses or more.*got 1"):
            lm.with_rule(rule, ["a"])
    for build, error, message in [
            (lambda: grad_norm_balance(every=0), ValueError, "every must be a positive int"),
            (lambda: grad_norm_balance(every=2.0), TypeError, "every must be a positive int"),
            (lambda: grad_norm_balance(every=True), TypeError, "every must be a positive int"),
            (lambda: grad_norm_balance(momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
            (lambda: grad_norm_balance(eps=0), ValueError, "eps must be > 0"),
            (lambda: gradnorm(alpha=-0.1), ValueError, "alpha must be >= 0, got alpha=-0.1"),
            (lambda: gradnorm(learning_rate=0), ValueError, "learning_rate must be > 0"),
            (lambda: gradnorm(alpha="1"), TypeError, "alpha must be a real number"),
            (lambda: uncertainty(float("inf")), ValueError, "init_log_variance must be finite"),
            (lambda: uncertainty(None), TypeError, "init_log_variance must be a real number")]:
        with pytest.raises(error, match=message):
            build()
    bound = lm.with_rule(uncertainty(), ["a", "b"])
    with pytest.raises(ValueError, match=r"params\[0\] must have the shape of the leaf it "
                                         r"replaces, \(2,\); got shape \(3,\)"):
        bound.with_weight_params((jnp.zeros(3),))


def test_layer_grads_refuses_bad_functions():
    with pytest.raises(TypeError, match="fn must be callable"):
        layer_grads("f", jnp.ones(2))
    with pytest.raises(TypeError, match="must return a mapping"):
        layer_grads(lambda w: jnp.sum(w), jnp.ones(2))
    with pytest.raises(ValueError, match="loss 'a' must be a scalar, got shape \\(2,\\)"):
        layer_grads(lambda w: {"a": w * 2}, jnp.ones(2))
