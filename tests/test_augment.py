"""The training augmentations: each operation against albumentations/OpenCV's numbers or an
independent NumPy/Pillow computation, the draws' ranges, 'both' steps alike on both images,
input steps leaving the target alone, chances, and determinism."""

import io
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from nectargan_jax.train import _augment_ops as ops
from nectargan_jax.train._augment import (Augmentations, CoarseDropout, ColorJitter,
                                          ElasticTransform, GaussNoise, HorizontalFlip,
                                          HostAugmentedPairs, ImageCompression, MotionBlur,
                                          OpticalDistortion, RandomGamma, RandomRotate90,
                                          ToGray, VerticalFlip, augment_batch, step_key)
from nectargan_jax.train._data import batches

# Made by tests/data/make_augment_reference.py from albumentations 2.0.8 / OpenCV 4.x.
REF = dict(np.load(Path(__file__).parent / "data" / "augment_reference.npz"))
IMAGE = REF["image"]  # 6 x 8 RGB in [0.05, 0.95]
H, W = IMAGE.shape[:2]


def numpy_remap(image, map_x, map_y):
    """Bilinear sampling at (map_y, map_x), pixels outside the image counting as 0."""
    out = np.zeros(map_x.shape + image.shape[2:])
    for i, j in np.ndindex(map_x.shape):
        x, y = float(map_x[i, j]), float(map_y[i, j])
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        for row, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
            for col, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                if 0 <= row < image.shape[0] and 0 <= col < image.shape[1]:
                    out[i, j] += wy * wx * image[row, col]
    return out


# --- the operations ---------------------------------------------------------------------

def test_remap_is_bilinear_with_black_outside():
    rng = np.random.default_rng(0)
    map_x = rng.uniform(-1.5, W + 0.5, (H, W)).astype(np.float32)
    map_y = rng.uniform(-1.5, H + 0.5, (H, W)).astype(np.float32)
    got = ops.remap(jnp.asarray(IMAGE), jnp.asarray(map_x), jnp.asarray(map_y))
    np.testing.assert_allclose(got, numpy_remap(IMAGE, map_x, map_y), atol=1e-5)


@pytest.mark.parametrize("case", ["pos", "neg"])
def test_optical_distortion_maps_are_opencvs(case):
    k = REF[f"camera_{case}_k"]
    np.testing.assert_allclose(np.stack(ops.camera_maps(H, W, k)), REF[f"camera_{case}_maps"],
                               atol=2e-5)
    np.testing.assert_allclose(np.stack(ops.fisheye_maps(H, W, k)),
                               REF[f"fisheye_{case}_maps"], atol=2e-5)


@pytest.mark.parametrize("case", ["elastic_small", "elastic_default"])
def test_elastic_fields_are_albumentations(case):
    alpha, sigma = REF[f"{case}_params"]
    map_x, map_y = ops.elastic_maps(jnp.asarray(REF[f"{case}_noise"]), float(alpha),
                                    float(sigma))
    rows, columns = np.mgrid[:H, :W]
    want = REF[f"{case}_fields"]
    scale = np.abs(want).max()
    np.testing.assert_allclose(np.asarray(map_x) - columns, want[0], atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(map_y) - rows, want[1], atol=1e-5 * scale)


@pytest.mark.parametrize("index, name", list(enumerate(["brightness", "contrast", "saturation",
                                                        "hue"])))
def test_colour_adjustments_are_albumentations(index, name):
    factor = REF["jitter_factors"][index]
    got = ops.COLOR_ADJUSTMENTS[index](jnp.asarray(IMAGE), factor)
    np.testing.assert_allclose(got, REF[f"adjust_{name}"], atol=2e-5)


def test_colour_jitter_applies_the_four_in_the_drawn_order():
    got = ops.color_jitter(jnp.asarray(IMAGE), jnp.asarray(REF["jitter_factors"]),
                           jnp.asarray(REF["jitter_order"]))
    np.testing.assert_allclose(got, REF["jitter"], atol=2e-5)
    other = ops.color_jitter(jnp.asarray(IMAGE), jnp.asarray(REF["jitter_factors"]),
                             jnp.arange(4))
    assert np.abs(np.asarray(other) - REF["jitter"]).max() > 1e-2  # the order matters


@pytest.mark.parametrize("case", range(4))
def test_motion_kernels_are_albumentations(case):
    size, angle, direction, shift_x, shift_y = REF[f"motion{case}_params"]
    size = int(size)
    kernel = ops.motion_kernel(9, jnp.int32(size), angle, direction,
                               jnp.asarray([shift_x, shift_y]))
    margin = (9 - size) // 2
    want = np.zeros((9, 9), np.float32)
    want[margin:margin + size, margin:margin + size] = REF[f"motion{case}_kernel"]
    np.testing.assert_allclose(kernel, want, atol=1e-7)


def test_filter2d_is_opencvs_with_mirrored_borders():
    got = ops.filter2d(jnp.asarray(IMAGE), jnp.asarray(REF["filter_kernel"]))
    np.testing.assert_allclose(got, REF["filtered"], atol=1e-5)


@pytest.mark.parametrize("method", ["weighted_average", "from_lab", "desaturation", "average",
                                    "max"])
def test_grayscale_methods_are_albumentations(method):
    got = np.asarray(ops.to_gray(jnp.asarray(IMAGE), method))
    # 'from_lab' goes through 8 bits in OpenCV: half a level of rounding, plus its tables.
    tolerance = 1.5 / 255 if method == "from_lab" else 1e-6
    np.testing.assert_allclose(got, REF[f"gray_{method}"], atol=tolerance)


def test_grayscale_pca_projects_on_the_first_component():
    pixels = IMAGE.reshape(-1, 3).astype(np.float64)
    centred = pixels - pixels.mean(axis=0)
    component = np.linalg.svd(centred, full_matrices=False)[2][0]
    component *= np.sign(component[np.argmax(np.abs(component))])
    projected = centred @ component
    want = ((projected - projected.min()) / np.ptp(projected)).reshape(H, W)
    got = np.asarray(ops.to_gray(jnp.asarray(IMAGE), "pca"))
    np.testing.assert_allclose(got, np.repeat(want[..., None], 3, axis=-1), atol=1e-5)


def test_gray_images_pass_the_colour_only_operations_unchanged():
    gray = jnp.asarray(IMAGE[..., :1])
    for operation in (ops.adjust_saturation, ops.adjust_hue):
        np.testing.assert_array_equal(operation(gray, 0.3), gray)
    np.testing.assert_array_equal(ops.to_gray(gray, "pca"), gray)


def test_gamma_and_noise_apply_as_numpy():
    noise = np.random.default_rng(1).normal(0, 0.3, IMAGE.shape).astype(np.float32)
    np.testing.assert_allclose(RandomGamma(1.0, (80.0, 120.0)).apply(0.9, jnp.asarray(IMAGE)),
                               IMAGE ** 0.9, rtol=1e-6)
    np.testing.assert_allclose(GaussNoise(1.0, (0.1, 0.3)).apply(noise, jnp.asarray(IMAGE)),
                               np.clip(IMAGE + noise, 0, 1), atol=1e-7)


@pytest.mark.parametrize("k", range(4))
def test_rot90_is_numpys(k):
    square = IMAGE[:, :H]
    np.testing.assert_array_equal(ops.rot90(jnp.asarray(square), jnp.int32(k)),
                                  np.rot90(square, k))


def test_holes_mask_covers_exactly_the_active_rectangles():
    top, left, height, width = [jnp.asarray(v) for v in ([1, 0, 3], [2, 5, 0], [2, 1, 3],
                                                         [3, 2, 8])]
    mask = ops.holes_mask(H, W, top, left, height, width, jnp.asarray([True, True, False]))
    want = np.zeros((H, W), bool)
    want[1:3, 2:5] = True
    want[0:1, 5:7] = True
    np.testing.assert_array_equal(mask, want)


# --- the draws --------------------------------------------------------------------------

def draw(step, *u, noise=None, shape=(8, 8, 3)):
    return step.draw(jnp.asarray(u, jnp.float32), noise, shape)


def test_draws_cover_each_range_as_the_reference_does():
    assert [int(draw(RandomRotate90(1.0), u)) for u in (0.0, 0.26, 0.51, 0.999)] == [0, 1, 2, 3]
    optical = OpticalDistortion(1.0, -0.3, 0.1, "camera")
    np.testing.assert_allclose([draw(optical, 0.0), draw(optical, 0.5)], [-0.3, -0.1])
    np.testing.assert_allclose(draw(RandomGamma(1.0, (80.0, 120.0)), 0.25), 0.9)
    factors, order = draw(ColorJitter(1.0, (0.5, 1.5)), 0.5, 0.0, 1.0, 0.75, 0.3, 0.1, 0.9, 0.5)
    np.testing.assert_allclose(factors, [1.0, 0.8, 1.2, 0.25], atol=1e-6)
    assert order.tolist() == [1, 0, 3, 2]  # the ranks of the last four numbers
    noise = jnp.full((8, 8, 3), 2.0)
    np.testing.assert_allclose(draw(GaussNoise(1.0, (0.1, 0.3)), 0.5, noise=noise), 0.4)
    # The kernel array is limit x limit whatever the size drawn.
    assert draw(MotionBlur(1.0, 7), 0.0, 0.5, 0.5, 0.5, 0.5).shape == (7, 7)


@pytest.mark.parametrize("u, size", [(0.0, 3), (0.34, 5), (0.99, 7)])
def test_motion_blur_draws_odd_sizes_up_to_the_limit(u, size):
    kernel = np.asarray(draw(MotionBlur(1.0, 7), u, 0.0, 0.5, 0.5, 0.5))
    rows, cols = np.nonzero(kernel)
    # Angle 0, no bias, no shift: a horizontal line of ``size`` pixels through the centre.
    assert set(rows) == {3} and cols.min() == 3 - size // 2 and cols.max() == 3 + size // 2


def test_coarse_dropout_draws_fractions_or_pixels():
    fractions = CoarseDropout(1.0, (1, 3), (0.25, 0.5), (0.25, 0.5))
    assert fractions.uniforms == 13
    u = [0.5] + [0.0, 0.5, 0.999] + [0.5, 0.5, 0.5] + [0.0, 0.999, 0.5] + [0.999, 0.0, 0.5]
    top, left, height, width, active = draw(fractions, *u)
    assert active.tolist() == [True, True, False]  # 1 + floor(0.5 * 3) = 2 holes
    assert height.tolist() == [2, 3, 3] and width.tolist() == [3, 3, 3]  # int(8 * ...)
    assert top.tolist() == [0, 5, 3] and left.tolist() == [5, 0, 3]  # fits: <= 8 - size
    pixels = CoarseDropout(1.0, (2, 2), (2.0, 4.0), (1.0, 3.0))
    _, _, height, width, active = draw(pixels, 0.0, 0.0, 0.999, 0.0, 0.999, 0.1, 0.1, 0.1, 0.1)
    assert active.tolist() == [True, True]
    assert height.tolist() == [2, 4] and width.tolist() == [1, 3]


# --- the plan ---------------------------------------------------------------------------

BOTH = (HorizontalFlip(1.0), VerticalFlip(1.0), RandomRotate90(1.0),
        ElasticTransform(1.0, 3.0, 1.5), OpticalDistortion(1.0, -0.3, 0.3, "camera"),
        CoarseDropout(1.0, (1, 2), (0.2, 0.4), (0.2, 0.4)))
INPUT = (ColorJitter(1.0, (0.8, 1.2)), GaussNoise(1.0, (0.05, 0.1)), MotionBlur(1.0, 5),
         RandomGamma(1.0, (80.0, 120.0)), ToGray(1.0, "weighted_average"))


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(3)
    xs = rng.uniform(-0.9, 0.9, (6, 8, 8, 3)).astype(np.float32)
    return xs, rng.uniform(-0.9, 0.9, (6, 8, 8, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def both_plan():
    """Every 'both' step at chance 1, compiled once."""
    return jax.jit(Augmentations(BOTH).apply_batch)


@pytest.fixture(scope="module")
def input_plan():
    """Every input step on the device at chance 1, compiled once."""
    return jax.jit(Augmentations((), INPUT).apply_batch)


def test_both_steps_move_input_and_target_alike(pairs, both_plan):
    xs, ys = pairs
    apply = both_plan
    key = jax.random.key(5)
    out_x, out_y = apply(key, xs, ys)
    # The draws do not depend on the images: each image gets what its twin pair gets.
    np.testing.assert_array_equal(out_x, apply(key, xs, xs)[0])
    np.testing.assert_array_equal(out_y, apply(key, ys, ys)[0])
    assert not np.allclose(out_x, xs)
    # Coarse dropout blacks out the same pixels (-1) in both.
    np.testing.assert_array_equal(out_x == -1.0, out_y == -1.0)
    assert (out_x == -1.0).any()


def test_flips_alone_are_exact(pairs):
    xs, ys = pairs
    out_x, out_y = Augmentations((HorizontalFlip(1.0), VerticalFlip(1.0))).apply_batch(
        jax.random.key(0), xs, ys)
    np.testing.assert_allclose(out_x, xs[:, ::-1, ::-1], atol=1e-6)
    np.testing.assert_allclose(out_y, ys[:, ::-1, ::-1], atol=1e-6)


def test_input_steps_leave_the_target_alone(pairs, input_plan):
    xs, ys = pairs
    out_x, out_y = input_plan(jax.random.key(1), xs, ys)
    np.testing.assert_allclose(out_y, ys, atol=1e-6)
    assert np.abs(out_x - xs).mean() > 0.05
    gray = np.asarray(out_x)  # grayscale last: three equal channels
    np.testing.assert_allclose(gray[..., 0], gray[..., 2], atol=1e-6)


@pytest.mark.parametrize("plan", ["both_plan", "input_plan"])
def test_a_plan_is_a_pure_function_of_the_key(pairs, plan, request):
    xs, ys = pairs
    apply = request.getfixturevalue(plan)
    first = apply(jax.random.key(7), xs, ys)
    again = apply(jax.random.key(7), xs, ys)
    other = apply(jax.random.key(8), xs, ys)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], other[0])
    assert all(np.isfinite(a).all() and np.abs(a).max() <= 1 for a in first)


def test_the_training_step_draws_from_its_seed_and_step_count(pairs, both_plan):
    xs, ys = pairs
    plan = Augmentations(BOTH)
    run = jax.jit(augment_batch, static_argnums=0)
    first = run(plan, step_key(3), 5, xs, ys)
    np.testing.assert_array_equal(first[0], run(plan, step_key(3), 5, xs, ys)[0])
    np.testing.assert_array_equal(first[0], both_plan(  # the documented derivation
        jax.random.fold_in(jax.random.wrap_key_data(step_key(3)), 5), xs, ys)[0])
    assert not np.allclose(first[0], run(plan, step_key(3), 6, xs, ys)[0])
    assert not np.allclose(first[0], run(plan, step_key(4), 5, xs, ys)[0])


def test_each_step_runs_with_its_chance():
    xs = np.arange(2000 * 2, dtype=np.float32).reshape(2000, 1, 2, 1) / 4000
    out, _ = Augmentations((HorizontalFlip(0.3),)).apply_batch(jax.random.key(2), xs, xs)
    flipped = np.mean(np.asarray(out)[:, 0, 0, 0] > np.asarray(out)[:, 0, 1, 0])
    assert 0.26 < flipped < 0.34, flipped


def test_gaussian_noise_has_the_drawn_spread():
    xs = np.zeros((4, 32, 32, 3), np.float32)  # 0 in [-1, 1] is mid-grey: no clipping
    out, _ = Augmentations((), (GaussNoise(1.0, (0.1, 0.1)),)).apply_batch(
        jax.random.key(3), xs, xs)
    noise = np.asarray(out) / 2  # back to the [0, 1] scale the std is given in
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.1) < 0.005


# --- on the host: compression -----------------------------------------------------------

def pillow_round_trip(image, kind, quality):
    pixels = np.round((image + 1) * 127.5).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=kind, quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return np.asarray(decoded.convert("RGB"), np.float32) / 127.5 - 1


class Fixed:
    """Two fixed pairs; ``load`` ignores the rng."""

    def __init__(self, xs, ys):
        self.xs, self.ys = xs, ys

    def __len__(self):
        return len(self.xs)

    def load(self, index, rng):
        return self.xs[index], self.ys[index]


@pytest.mark.parametrize("kind", ["jpeg", "webp"])
def test_compression_is_pillows_codec_on_the_input(pairs, kind):
    xs, ys = pairs
    plan = Augmentations(compression=ImageCompression(1.0, kind, (30, 30)))
    x, y = HostAugmentedPairs(Fixed(xs, ys), plan).load(1, np.random.default_rng(0))
    np.testing.assert_array_equal(x, pillow_round_trip(xs[1], kind.upper(), 30))
    np.testing.assert_array_equal(y, ys[1])


def test_the_host_chain_is_a_pure_function_of_seed_epoch_and_index(pairs):
    xs, ys = pairs
    plan = Augmentations(BOTH[:3], INPUT[:1], ImageCompression(0.5, "jpeg", (50, 90)))
    data = HostAugmentedPairs(Fixed(xs, ys), plan)

    def epoch(e):
        return [np.concatenate(b) for b in batches(data, 2, seed=4, epoch=e, shuffle=False)]

    first = epoch(0)
    for a, b in zip(first, epoch(0)):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first, epoch(1)))
