"""Tests for nectargan_jax.losses._functions: parity with PyTorch, hand cases, errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from jax import lax

from nectargan_jax.losses._functions import bce_with_logits, l1, laplacian, mse, sobel

SHAPE = (2, 3, 12, 16)  # non-square, so a swapped H/W axis shows up
SOBEL_X = [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]
SOBEL_Y = [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]]
LAPLACE = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]


@pytest.fixture(autouse=True)
def strict_dtype_promotion():
    with jax.numpy_dtype_promotion("strict"):
        yield


def _torch_stencil(g, kernel):
    weight = torch.tensor(kernel, dtype=g.dtype).view(1, 1, 3, 3)
    return TF.conv2d(g, weight, padding=1)


def torch_sobel_map(x, y):
    def magnitude(img):
        g = img.mean(dim=1, keepdim=True)
        return torch.sqrt(_torch_stencil(g, SOBEL_X) ** 2 + _torch_stencil(g, SOBEL_Y) ** 2 + 1e-6)

    return torch.abs(magnitude(x) - magnitude(y))


def torch_laplacian_map(x, y):
    def response(img):
        return _torch_stencil(img.mean(dim=1, keepdim=True), LAPLACE)

    return torch.abs(response(x) - response(y))


# name -> (jax function, torch map function (reduction='none'), expected map shape)
LOSSES = {
    "l1": (l1, torch.nn.L1Loss(reduction="none"), SHAPE),
    "mse": (mse, torch.nn.MSELoss(reduction="none"), SHAPE),
    "bce_with_logits": (bce_with_logits, torch.nn.BCEWithLogitsLoss(reduction="none"), SHAPE),
    "sobel": (sobel, torch_sobel_map, SHAPE[:1] + (1,) + SHAPE[2:]),
    "laplacian": (laplacian, torch_laplacian_map, SHAPE[:1] + (1,) + SHAPE[2:]),
}


def _inputs(name):
    rng = np.random.default_rng(0)
    if name == "bce_with_logits":
        logits = 3.0 * rng.standard_normal(SHAPE)
        logits.flat[::7] = 0.0  # the kink of max(z, 0) and |z| must not bias the gradient
        return logits.astype(np.float32), rng.uniform(size=SHAPE).astype(np.float32)
    return rng.uniform(size=SHAPE).astype(np.float32), rng.uniform(size=SHAPE).astype(np.float32)


def _torch_value_and_grads(torch_map, x, y):
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y, requires_grad=True)
    loss = torch_map(tx, ty).mean()
    loss.backward()
    return loss.item(), tx.grad.numpy(), ty.grad.numpy()


def _assert_grad_close(actual, expected):
    # Entries are sums of up to 18 float32 products that partly cancel, so the absolute
    # tolerance is relative to the largest entry.
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("name", LOSSES)
def test_value_and_gradients_match_torch_under_jit(name):
    fn, torch_map, _ = LOSSES[name]
    x, y = _inputs(name)
    value, (grad_x, grad_y) = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))(x, y)
    torch_value, torch_grad_x, torch_grad_y = _torch_value_and_grads(torch_map, x, y)
    np.testing.assert_allclose(value, torch_value, rtol=1e-5)
    _assert_grad_close(grad_x, torch_grad_x)
    _assert_grad_close(grad_y, torch_grad_y)


@pytest.mark.parametrize("name", LOSSES)
def test_none_reduction_map_matches_torch_and_averages_to_the_loss(name):
    fn, torch_map, map_shape = LOSSES[name]
    x, y = _inputs(name)
    loss_map = jax.jit(functools.partial(fn, reduction="none"))(x, y)
    assert loss_map.shape == map_shape
    np.testing.assert_allclose(
        loss_map, torch_map(torch.tensor(x), torch.tensor(y)).numpy(), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(jnp.mean(loss_map), jax.jit(fn)(x, y), rtol=1e-6)


@pytest.mark.parametrize("name", ["l1", "sobel", "laplacian"])
def test_gradient_where_inputs_are_equal_matches_torch(name):
    # torch differentiates |d| as sign(d), 0 at d = 0; jnp.abs would give 1 there.
    fn, torch_map, _ = LOSSES[name]
    x, y = _inputs(name)
    y[0] = x[0]  # the first image pair is identical, so its whole loss map is 0
    grad_x = jax.jit(jax.grad(fn))(x, y)
    _, torch_grad_x, _ = _torch_value_and_grads(torch_map, x, y)
    assert not np.any(np.asarray(grad_x[0]))
    _assert_grad_close(grad_x, torch_grad_x)


def test_bce_with_logits_is_stable_and_accurate_for_large_logits():
    logits = np.array([-200.0, -30.0, -30.0, 0.0, 30.0, 30.0, 200.0], np.float32)
    targets = np.array([0.0, 0.0, 1.0, 0.5, 0.0, 1.0, 1.0], np.float32)
    z, t = logits.astype(np.float64), targets.astype(np.float64)
    exact = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    loss = bce_with_logits(logits, targets, reduction="none")
    np.testing.assert_allclose(loss, exact, rtol=1e-6, atol=1e-37)  # exp(-200) underflows
    # torch rounds log(1 + exp(-30)) to 0 at z = -30, t = 0; it agrees to 1e-12 elsewhere.
    expected = torch.nn.BCEWithLogitsLoss(reduction="none")(
        torch.tensor(logits), torch.tensor(targets)
    ).numpy()
    np.testing.assert_allclose(loss, expected, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(
        jax.grad(bce_with_logits)(logits, targets), (1 / (1 + np.exp(-z)) - t) / z.size,
        rtol=1e-6, atol=1e-12,
    )


def test_single_bright_pixel_by_hand():
    # x: a 3x3 image, 1 in the centre, 0 elsewhere; y: all zeros (response 0 everywhere).
    # With zero padding, output (i, j) sees the bright pixel through kernel entry
    # (2 - i, 2 - j), so each response map is its kernel rotated by 180 degrees:
    #   Laplacian [[0, 1, 0], [1, -4, 1], [0, 1, 0]]  -> |diff| = [[0,1,0],[1,4,1],[0,1,0]],
    #     mean 8/9.
    #   Sobel gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], gy = [[-1, -2, -1], [0, 0, 0],
    #     [1, 2, 1]]: |g|^2 = 2 at the corners, 4 at the edge midpoints, 0 in the centre;
    #     y's magnitude is sqrt(1e-6) = 1e-3 everywhere.
    x = jnp.zeros((1, 1, 3, 3)).at[0, 0, 1, 1].set(1.0)
    y = jnp.zeros((1, 1, 3, 3))
    lap = np.array([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(laplacian(x, y, reduction="none")[0, 0], lap)
    np.testing.assert_allclose(laplacian(x, y), 8.0 / 9.0, rtol=1e-6)
    corner, edge = np.sqrt(2.0 + 1e-6) - 1e-3, np.sqrt(4.0 + 1e-6) - 1e-3
    sob = np.array([[corner, edge, corner], [edge, 0.0, edge], [corner, edge, corner]])
    np.testing.assert_allclose(sobel(x, y, reduction="none")[0, 0], sob, rtol=1e-6, atol=1e-7)


def test_grayscale_is_the_channel_mean():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(1, 3, 5, 6)).astype(np.float32)
    y = rng.uniform(size=(1, 3, 5, 6)).astype(np.float32)
    gray = lambda a: np.repeat(a.mean(axis=1, keepdims=True), 4, axis=1)  # noqa: E731
    for fn in (sobel, laplacian):
        np.testing.assert_allclose(fn(x, y), fn(gray(x), gray(y)), rtol=1e-6)


def _conv(g, kernel):
    return lax.conv_general_dilated(
        g, jnp.array(kernel)[None, None], (1, 1), ((1, 1), (1, 1)),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
    )


def test_stencils_agree_with_conv_general_dilated():
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((3, 2, 7, 11)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((3, 2, 7, 11)), jnp.float32)
    gx, gy = jnp.mean(x, axis=1, keepdims=True), jnp.mean(y, axis=1, keepdims=True)

    def magnitude(g):
        return jnp.sqrt(_conv(g, SOBEL_X) ** 2 + _conv(g, SOBEL_Y) ** 2 + 1e-6)

    np.testing.assert_allclose(
        sobel(x, y, reduction="none"), jnp.abs(magnitude(gx) - magnitude(gy)),
        rtol=1e-5, atol=1e-6,
    )
    np.testing.assert_allclose(
        laplacian(x, y, reduction="none"), jnp.abs(_conv(gx, LAPLACE) - _conv(gy, LAPLACE)),
        rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("fn", [l1, mse, bce_with_logits, sobel, laplacian])
@pytest.mark.parametrize("reduction", ["sum", "MEAN", None])
def test_unknown_reduction_is_rejected(fn, reduction):
    x = jnp.zeros((1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"reduction.*\('mean', 'none'\)"):
        fn(x, x, reduction=reduction)


@pytest.mark.parametrize("fn", [l1, mse, bce_with_logits, sobel, laplacian])
def test_shape_mismatch_names_both_shapes_also_under_jit(fn):
    a, b = jnp.zeros((1, 3, 4, 4)), jnp.zeros((1, 3, 4, 5))
    for call in (fn, jax.jit(fn)):
        with pytest.raises(ValueError, match=r"\(1, 3, 4, 4\).*\(1, 3, 4, 5\)"):
            call(a, b)


@pytest.mark.parametrize("fn", [sobel, laplacian])
def test_stencils_need_nchw_images(fn):
    x = jnp.zeros((3, 4, 4))
    with pytest.raises(ValueError, match=r"N,C,H,W.*\(3, 4, 4\)"):
        fn(x, x)
