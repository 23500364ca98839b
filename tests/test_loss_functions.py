"""Tests for nectargan_jax.losses._functions: parity with PyTorch, hand cases, errors.

The image losses run in both layouts: PyTorch computes on the NCHW batch, and the NHWC
call gets the same images transposed, so both must give torch's numbers.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from jax import lax

from nectargan_jax.losses._functions import bce_with_logits, l1, laplacian, mse, sobel

SHAPE = (2, 3, 12, 16)  # NCHW, non-square, so a swapped H/W axis shows up
# Axis order of each layout, as a permutation of NCHW's axes.
TO_LAYOUT = {"NCHW": (0, 1, 2, 3), "NHWC": (0, 2, 3, 1)}
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


def to_layout(a, layout):
    """An NCHW array (or None for elementwise losses: unchanged) in ``layout``."""
    return a if layout is None else np.transpose(a, TO_LAYOUT[layout])


def from_layout(a, layout):
    return a if layout is None else np.transpose(a, np.argsort(TO_LAYOUT[layout]))


# name -> (jax function, torch map function (reduction='none'), NCHW map shape)
LOSSES = {
    "l1": (l1, torch.nn.L1Loss(reduction="none"), SHAPE),
    "mse": (mse, torch.nn.MSELoss(reduction="none"), SHAPE),
    "bce_with_logits": (bce_with_logits, torch.nn.BCEWithLogitsLoss(reduction="none"), SHAPE),
    "sobel": (sobel, torch_sobel_map, SHAPE[:1] + (1,) + SHAPE[2:]),
    "laplacian": (laplacian, torch_laplacian_map, SHAPE[:1] + (1,) + SHAPE[2:]),
}
IMAGE_LOSSES = ("sobel", "laplacian")
# (name, layout): the image losses in both layouts, the elementwise ones without one.
CASES = [(name, layout) for name in LOSSES
         for layout in (("NHWC", "NCHW") if name in IMAGE_LOSSES else (None,))]


def loss_in(name, layout, **kwargs):
    fn = LOSSES[name][0]
    return functools.partial(fn, **kwargs) if layout is None else \
        functools.partial(fn, layout=layout, **kwargs)


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


@pytest.mark.parametrize(("name", "layout"), CASES)
def test_value_and_gradients_match_torch_under_jit(name, layout):
    _, torch_map, _ = LOSSES[name]
    x, y = _inputs(name)
    value, (grad_x, grad_y) = jax.jit(jax.value_and_grad(loss_in(name, layout), argnums=(0, 1)))(
        to_layout(x, layout), to_layout(y, layout))
    torch_value, torch_grad_x, torch_grad_y = _torch_value_and_grads(torch_map, x, y)
    np.testing.assert_allclose(value, torch_value, rtol=1e-5)
    _assert_grad_close(from_layout(grad_x, layout), torch_grad_x)
    _assert_grad_close(from_layout(grad_y, layout), torch_grad_y)


@pytest.mark.parametrize(("name", "layout"), CASES)
def test_none_reduction_map_matches_torch_and_averages_to_the_loss(name, layout):
    _, torch_map, map_shape = LOSSES[name]
    x, y = _inputs(name)
    x, y = to_layout(x, layout), to_layout(y, layout)
    loss_map = jax.jit(loss_in(name, layout, reduction="none"))(x, y)
    assert loss_map.shape == to_layout(np.zeros(map_shape), layout).shape
    expected = torch_map(torch.tensor(from_layout(x, layout)),
                         torch.tensor(from_layout(y, layout))).numpy()
    np.testing.assert_allclose(from_layout(loss_map, layout), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.mean(loss_map), jax.jit(loss_in(name, layout))(x, y),
                               rtol=1e-6)


@pytest.mark.parametrize(("name", "layout"), [(n, lay) for n, lay in CASES
                                             if n in ("l1",) + IMAGE_LOSSES])
def test_gradient_where_inputs_are_equal_matches_torch(name, layout):
    # torch differentiates |d| as sign(d), 0 at d = 0; jnp.abs would give 1 there.
    _, torch_map, _ = LOSSES[name]
    x, y = _inputs(name)
    y[0] = x[0]  # the first image pair is identical, so its whole loss map is 0
    grad_x = jax.jit(jax.grad(loss_in(name, layout)))(to_layout(x, layout), to_layout(y, layout))
    _, torch_grad_x, _ = _torch_value_and_grads(torch_map, x, y)
    assert not np.any(np.asarray(grad_x[0]))
    _assert_grad_close(from_layout(grad_x, layout), torch_grad_x)


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


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_single_bright_pixel_by_hand(layout):
    # x: a 3x3 image, 1 in the centre, 0 elsewhere; y: all zeros (response 0 everywhere).
    # With zero padding, output (i, j) sees the bright pixel through kernel entry
    # (2 - i, 2 - j), so each response map is its kernel rotated by 180 degrees:
    #   Laplacian [[0, 1, 0], [1, -4, 1], [0, 1, 0]]  -> |diff| = [[0,1,0],[1,4,1],[0,1,0]],
    #     mean 8/9.
    #   Sobel gx = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], gy = [[-1, -2, -1], [0, 0, 0],
    #     [1, 2, 1]]: |g|^2 = 2 at the corners, 4 at the edge midpoints, 0 in the centre;
    #     y's magnitude is sqrt(1e-6) = 1e-3 everywhere.
    x = jnp.zeros((1, 3, 3, 1)).at[0, 1, 1, 0].set(1.0)  # NHWC; one channel, so NCHW is
    if layout == "NCHW":                                 # the same data, reshaped
        x = x.reshape(1, 1, 3, 3)
    y = jnp.zeros_like(x)
    image = (0, 0) if layout == "NCHW" else (0, slice(None), slice(None), 0)
    lap = np.array([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(laplacian(x, y, layout=layout, reduction="none")[image], lap)
    np.testing.assert_allclose(laplacian(x, y, layout=layout), 8.0 / 9.0, rtol=1e-6)
    corner, edge = np.sqrt(2.0 + 1e-6) - 1e-3, np.sqrt(4.0 + 1e-6) - 1e-3
    sob = np.array([[corner, edge, corner], [edge, 0.0, edge], [corner, edge, corner]])
    np.testing.assert_allclose(sobel(x, y, layout=layout, reduction="none")[image], sob,
                               rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_grayscale_is_the_channel_mean(layout):
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(1, 3, 5, 6)).astype(np.float32)
    y = rng.uniform(size=(1, 3, 5, 6)).astype(np.float32)
    gray = lambda a: np.repeat(a.mean(axis=1, keepdims=True), 4, axis=1)  # noqa: E731
    for fn in (sobel, laplacian):
        np.testing.assert_allclose(
            fn(to_layout(x, layout), to_layout(y, layout), layout=layout),
            fn(to_layout(gray(x), layout), to_layout(gray(y), layout), layout=layout),
            rtol=1e-6)


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
        sobel(x, y, layout="NCHW", reduction="none"), jnp.abs(magnitude(gx) - magnitude(gy)),
        rtol=1e-5, atol=1e-6,
    )
    np.testing.assert_allclose(
        laplacian(x, y, layout="NCHW", reduction="none"),
        jnp.abs(_conv(gx, LAPLACE) - _conv(gy, LAPLACE)), rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("fn", [l1, mse, bce_with_logits, sobel, laplacian])
@pytest.mark.parametrize("reduction", ["sum", "MEAN", None])
def test_unknown_reduction_is_rejected(fn, reduction):
    x = jnp.zeros((1, 4, 4, 3))
    with pytest.raises(ValueError, match=r"reduction.*\('mean', 'none'\)"):
        fn(x, x, reduction=reduction)


@pytest.mark.parametrize("fn", [l1, mse, bce_with_logits, sobel, laplacian])
def test_shape_mismatch_names_both_shapes_also_under_jit(fn):
    a, b = jnp.zeros((1, 4, 4, 3)), jnp.zeros((1, 4, 5, 3))
    for call in (fn, jax.jit(fn)):
        with pytest.raises(ValueError, match=r"\(1, 4, 4, 3\).*\(1, 4, 5, 3\)"):
            call(a, b)


# (shape, layout, what the message must say after "x.shape=<shape> cannot be an <layout>
# image batch: ", up to its end; under jit JAX appends a note after a newline)
BAD_SHAPES = [
    ((3, 4, 4), "NHWC", r"it is not 4-D\.(\n|$)"),
    ((1, 3, 4, 4, 1), "NCHW", r"it is not 4-D\.(\n|$)"),
    ((0, 4, 4, 3), "NHWC", r"it has an empty axis\.(\n|$)"),
    ((2, 3, 0, 4), "NCHW", r"it has an empty axis\.(\n|$)"),
    ((2, 4, 4, 0), "NHWC", r"it has an empty axis\.(\n|$)"),
    # The case: an NHWC batch declared NCHW, and the converse.
    ((4, 64, 64, 3), "NCHW", r"its channel axis \(axis 1, 64 entries\) is longer than a spatial "
                             r"axis \(height 64, width 3\)\. Did you mean layout='NHWC'\?(\n|$)"),
    ((4, 3, 64, 64), "NHWC", r"its channel axis \(axis 3, 64 entries\) is longer than a spatial "
                             r"axis \(height 3, width 64\)\. Did you mean layout='NCHW'\?(\n|$)"),
    # Fits neither layout (8 channels on 2 rows, or 16 on 2 rows): no hint.
    ((1, 8, 2, 16), "NCHW", r"its channel axis \(axis 1, 8 entries\) is longer than a spatial "
                            r"axis \(height 2, width 16\)\.(\n|$)"),
    ((1, 8, 2, 16), "NHWC", r"its channel axis \(axis 3, 16 entries\) is longer than a spatial "
                            r"axis \(height 8, width 2\)\.(\n|$)"),
]


@pytest.mark.parametrize("fn", [sobel, laplacian])
@pytest.mark.parametrize(("shape", "layout", "reason"), BAD_SHAPES)
def test_shapes_that_cannot_be_the_layout_raise_also_under_jit(fn, shape, layout, reason):
    x = jnp.zeros(shape)
    message = (rf"^x\.shape={re.escape(str(shape))} cannot be an {layout} image batch: "
               + reason)
    for call in (functools.partial(fn, layout=layout),
                 jax.jit(functools.partial(fn, layout=layout))):
        with pytest.raises(ValueError, match=message):
            call(x, x)


@pytest.mark.parametrize("fn", [sobel, laplacian])
def test_a_shape_that_fits_both_layouts_works_in_both(fn):
    # 3 channels on a 3x3 image: either axis 1 or axis 3 may hold the channels.
    x = jnp.arange(27.0).reshape(1, 3, 3, 3)
    y = jnp.zeros((1, 3, 3, 3))
    nchw = fn(x, y, layout="NCHW", reduction="none")
    nhwc = fn(x, y, layout="NHWC", reduction="none")
    assert nchw.shape == (1, 1, 3, 3) and nhwc.shape == (1, 3, 3, 1)
    # Different axes are averaged, so the two maps differ (the layout is not ignored).
    assert not np.allclose(nchw[0, 0], nhwc[0, :, :, 0])


@pytest.mark.parametrize("fn", [sobel, laplacian])
@pytest.mark.parametrize("layout", ["nhwc", "NCWH", "CHW", None, 1])
def test_unknown_layout_lists_the_accepted(fn, layout):
    x = jnp.zeros((1, 4, 4, 3))
    with pytest.raises(ValueError, match=rf"layout must be one of \('NHWC', 'NCHW'\), "
                                         rf"got layout={re.escape(repr(layout))}\."):
        fn(x, x, layout=layout)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's kernel choice")
@pytest.mark.parametrize("fn", [sobel, laplacian])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_stencils_arithmetic_is_one_kernel_on_a_cpu(fn, layout):
    """With the mean's sum from the constant 0, YNNPACK took the stencil's arithmetic and
    left each shifted slice to a kernel of its own (Sobel: 14 kernels, about 2x slower
    per call); now: each image's padded gray, the stencil, the sum, the division."""
    shape = (1, 64, 64, 3) if layout == "NHWC" else (1, 3, 64, 64)
    x = jnp.zeros(shape)
    hlo = jax.jit(functools.partial(fn, layout=layout)).lower(x, x).compile().as_text()
    entry = hlo[hlo.index("\nENTRY"):]
    assert entry.count(" fusion(") <= 6


@pytest.mark.parametrize("fn", [sobel, laplacian])
def test_stencil_mean_of_a_nan_or_inf_image_is_that_of_its_map(fn):
    """The sum starts from the map's first element (min'd with 0): NaN or inf there, or
    elsewhere, gives what the mean of the map gives."""
    x = jnp.zeros((1, 8, 8, 3))
    for value in (jnp.nan, jnp.inf):
        for pixel in ((0, 0, 0, 0), (0, 5, 3, 1)):  # the map's first element, and another
            bad = x.at[pixel].set(value)
            expected = np.mean(np.asarray(fn(bad, x, reduction="none")))
            assert not np.isfinite(expected)
            np.testing.assert_array_equal(jax.jit(fn)(bad, x), expected)
