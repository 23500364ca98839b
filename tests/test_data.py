"""Paired data: the side-by-side folder, the procedural task, batching, prefetching."""

import io
import os
import struct
import sys
import threading
import zlib

import jax
import numpy as np
import pytest
from PIL import Image

from nectargan_jax.train import PairedImageFolder
from nectargan_jax.train import SyntheticPairs
from nectargan_jax.train import batches
from nectargan_jax.train import prefetch

HALF = 6  # each half of a test image is HALF x HALF pixels


def pattern(seed):
    """A HALF x HALF RGB image with no two equal pixels (so a crop's position is unique)."""
    values = np.random.default_rng(seed).permutation(256)[:HALF * HALF * 3]
    return values.reshape(HALF, HALF, 3).astype(np.uint8)


def to_unit(array):
    return array.astype(np.float32) / 127.5 - 1.0


@pytest.fixture
def dataroot(tmp_path):
    """train/ holds 5 pairs: left half A = pattern(i), right half B = 255 - A."""
    (tmp_path / "train").mkdir()
    for i in range(5):
        a = pattern(i)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(tmp_path / "train" / f"{i}.png")
    (tmp_path / "train" / "notes.txt").write_text("not an image", encoding="utf-8")
    return tmp_path


def find_crop(crop, image):
    """(top, left, flipped) of ``crop`` inside ``image``, found by exhaustive search."""
    size = crop.shape[0]
    for flipped in (False, True):
        candidate = crop[:, ::-1] if flipped else crop
        for top in range(image.shape[0] - size + 1):
            for left in range(image.shape[1] - size + 1):
                if np.array_equal(image[top:top + size, left:left + size], candidate):
                    return top, left, flipped
    raise AssertionError("crop not found in the image")


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_direction_splits_the_halves(dataroot, direction):
    data = PairedImageFolder(dataroot, "train", direction, load_size=HALF, crop_size=HALF,
                             flip_chance=0.0)
    assert len(data) == 5  # notes.txt is not an image
    x, y = data.load(2, np.random.default_rng(0))
    a = to_unit(pattern(2))
    assert x.shape == y.shape == (HALF, HALF, 3) and x.dtype == np.float32
    want_x, want_y = (a, -a) if direction == "AtoB" else (-a, a)
    np.testing.assert_allclose(x, want_x, atol=1e-6)
    np.testing.assert_allclose(y, want_y, atol=1e-6)


def test_crop_and_flip_cut_both_halves_alike_and_follow_seed_and_epoch(dataroot):
    data = PairedImageFolder(dataroot, load_size=HALF, crop_size=4, flip_chance=0.5)

    def epoch_of(seed, epoch):
        return [tuple(np.asarray(a) for a in b) for b in batches(data, 2, seed=seed, epoch=epoch,
                                                                 drop_last=False)]

    first = epoch_of(1, 0)
    for got, want in zip(epoch_of(1, 0), first, strict=True):  # a pure function of (seed, epoch)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert [b[0].shape[0] for b in first] == [2, 2, 1]
    placements = set()
    for epoch in range(12):
        for inputs, targets in epoch_of(1, epoch):
            for x, y in zip(inputs, targets):
                np.testing.assert_allclose(y, -x, atol=1e-6)  # same crop, same flip
                index = next(i for i in range(5) if np.isin(x, to_unit(pattern(i))).all())
                placements.add(find_crop(x, to_unit(pattern(index))))
    assert {flipped for *_, flipped in placements} == {False, True}
    assert len({(top, left) for top, left, _ in placements}) == 9  # every 4x4 crop of 6x6
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(epoch_of(1, 1), first))


def test_resize_to_load_size_and_grayscale(dataroot):
    data = PairedImageFolder(dataroot, load_size=10, crop_size=8, channels=1)
    x, y = data.load(0, np.random.default_rng(0))
    assert x.shape == y.shape == (8, 8, 1)
    assert x.min() >= -1 and x.max() <= 1


def test_images_of_any_size_are_resized_whole_then_halved_as_the_reference_does(tmp_path):
    """The reference resizes each file to (2 load_size, load_size) with Pillow's default
    (bicubic), cuts it in halves, then crops; validation files go to crop_size, uncut."""
    (tmp_path / "train").mkdir()
    rng = np.random.default_rng(7)
    sizes = [(9, 5), (16, 8), (30, 11)]  # odd widths and other aspect ratios too
    for i, (w, h) in enumerate(sizes):
        pixels = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / "train" / f"{i}.png")
    train = PairedImageFolder(tmp_path, load_size=6, crop_size=4, flip_chance=0.0)
    val = PairedImageFolder(tmp_path, load_size=6, crop_size=4, train=False)
    for i in range(len(sizes)):
        with Image.open(tmp_path / "train" / f"{i}.png") as image:
            loaded = to_unit(np.asarray(image.resize((12, 6))))
            small = to_unit(np.asarray(image.resize((8, 4))))
        x, y = train.load(i, np.random.default_rng(i))
        top, left = np.random.default_rng(i).integers(0, 3, size=2)
        np.testing.assert_allclose(x, loaded[top:top + 4, left:left + 4], atol=1e-6)
        np.testing.assert_allclose(y, loaded[top:top + 4, 6 + left:6 + left + 4], atol=1e-6)
        x, y = val.load(i, np.random.default_rng(i))
        np.testing.assert_allclose(x, small[:, :4], atol=1e-6)
        np.testing.assert_allclose(y, small[:, 4:], atol=1e-6)


def test_folder_errors(tmp_path, dataroot):
    with pytest.raises(FileNotFoundError, match="has no 'train' folder"):
        PairedImageFolder(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="has no 'val' folder"):
        PairedImageFolder(dataroot, "val")
    (dataroot / "val").mkdir()
    with pytest.raises(ValueError, match="no images .* in .*val"):
        PairedImageFolder(dataroot, "val")
    (dataroot / "train" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read the image .*broken.png"):
        PairedImageFolder(dataroot)
    with pytest.raises(ValueError, match="crop_size must be in \\[1, load_size=8\\], got crop_size=9"):
        PairedImageFolder(dataroot, load_size=8, crop_size=9)
    with pytest.raises(ValueError, match="direction must be one of .*'AB'"):
        PairedImageFolder(dataroot, direction="AB")


def test_a_16_bit_png_is_scaled_from_its_full_range(tmp_path):
    """0..65535 maps to [-1, 1] as 0..255 does for 8 bits (not saturated to 1)."""
    (tmp_path / "train").mkdir()
    ramp = np.round(np.linspace(0, 65535, 2 * HALF)).astype(np.uint16)
    Image.fromarray(np.tile(ramp, (HALF, 1))).save(tmp_path / "train" / "ramp.png")
    with Image.open(tmp_path / "train" / "ramp.png") as image:
        assert image.mode == "I;16"
    want = ramp.astype(np.float64) / 65535 * 2 - 1  # -1, -0.818, ..., 1
    for channels in (1, 3):
        data = PairedImageFolder(tmp_path, load_size=HALF, crop_size=HALF, flip_chance=0.0,
                                 channels=channels)
        x, y = data.load(0, np.random.default_rng(0))
        assert x.shape == y.shape == (HALF, HALF, channels) and x.dtype == np.float32
        row_by_column = np.broadcast_to(want[None, :HALF, None], (HALF, HALF, channels))
        np.testing.assert_allclose(x, row_by_column, atol=1e-6)
        np.testing.assert_allclose(y[0, :, 0], want[HALF:], atol=1e-6)


def _png_bytes(array):
    stream = io.BytesIO()
    Image.fromarray(array).save(stream, format="PNG")
    return stream.getvalue()


def _broken_stream_png(array):
    """A PNG whose chunks are intact (CRCs match) but whose compressed pixels are not."""
    data = bytearray(_png_bytes(array))
    at = data.find(b"IDAT")
    length = struct.unpack(">I", data[at - 4:at])[0]
    body = bytearray(data[at + 4:at + 4 + length])
    for k in range(2, length - 4):
        body[k] ^= 0xFF
    data[at + 4:at + 4 + length] = body
    data[at + 4 + length:at + 8 + length] = struct.pack(">I", zlib.crc32(b"IDAT" + body))
    return bytes(data)


@pytest.mark.parametrize("kind, message", [
    ("empty", "cannot identify image file"),
    ("not an image", "cannot identify image file"),
    ("truncated", "Truncated File Read"),
])
def test_every_image_header_is_checked_when_the_folder_is_opened(dataroot, kind, message):
    whole = _png_bytes(np.concatenate([pattern(9), pattern(8)], axis=1))
    content = {"empty": b"", "not an image": b"\x89PNG" + b"x" * 40,
               "truncated": whole[:len(whole) // 2]}[kind]
    (dataroot / "train" / "3b.png").write_bytes(content)
    with pytest.raises(ValueError, match=f"cannot read the image '.*3b.png': {message}"):
        PairedImageFolder(dataroot, load_size=HALF, crop_size=HALF)


def test_images_without_a_fixed_range_are_refused_by_name(dataroot):
    Image.fromarray(np.zeros((HALF, 2 * HALF), np.float32)).save(dataroot / "train" / "f.tif")
    with pytest.raises(ValueError, match="'f.tif' has Pillow mode 'F'.*8 or 16 bits"):
        PairedImageFolder(dataroot, load_size=HALF, crop_size=HALF)


def test_a_decode_failure_names_the_file(dataroot):
    (dataroot / "train" / "4b.png").write_bytes(_broken_stream_png(
        np.concatenate([pattern(9), pattern(8)], axis=1)))
    data = PairedImageFolder(dataroot, load_size=HALF, crop_size=HALF)  # headers are fine
    index = [p.name for p in data.paths].index("4b.png")
    with pytest.raises(ValueError, match="cannot decode the image '.*4b.png': broken data"):
        data.load(index, np.random.default_rng(0))


def test_synthetic_pairs_are_a_pure_function_of_seed_and_index():
    pairs = SyntheticPairs(3, 16, seed=5)
    x, y = pairs.load(1, np.random.default_rng(0))
    x2, y2 = SyntheticPairs(3, 16, seed=5).load(1, np.random.default_rng(99))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert x.shape == y.shape == (16, 16, 3) and x.dtype == y.dtype == np.float32
    assert np.abs(x).max() <= 1 and np.abs(y).max() <= 1
    assert not np.array_equal(SyntheticPairs(3, 16, seed=6).load(1, None)[1], y)
    # The input is the target blurred (mean kept), channels rotated and inverted.
    np.testing.assert_allclose(x.mean(axis=(0, 1)), -y.mean(axis=(0, 1))[[1, 2, 0]], atol=0.03)
    assert np.abs(np.diff(x, axis=1)).mean() < np.abs(np.diff(y, axis=1)).mean()  # smoother
    gray_x, gray_y = SyntheticPairs(3, 16, seed=5, channels=1).load(1, None)
    np.testing.assert_allclose(gray_y[..., 0], y @ np.array([0.299, 0.587, 0.114]), atol=1e-5)
    assert gray_x.shape == (16, 16, 1)


class Indexed:
    """A dataset whose pair i is (i, rng draw): shows the order and the per-pair rng."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def load(self, index, rng):
        return np.full((1, 1, 1), index, np.float32), np.full((1, 1, 1), rng.random(), np.float32)


def test_batches_permute_every_pair_once_per_epoch():
    data = Indexed(10)

    def order(seed, epoch, **kw):
        return [int(i) for x, _ in batches(data, 3, seed=seed, epoch=epoch, **kw)
                for i in x.ravel()]

    first = order(0, 0)
    assert len(first) == 9 and len(set(first)) == 9  # drop_last: 3 full batches
    assert sorted(order(0, 0, drop_last=False)) == list(range(10))
    assert order(0, 0) == first and order(0, 1) != first and order(1, 0) != first
    assert order(0, 0, shuffle=False) == list(range(9))


def test_a_pair_draws_the_same_randomness_whatever_the_batch_size():
    data = Indexed(8)

    def draws(batch_size):
        return {int(x.item()): float(r.item())
                for xs, rs in batches(data, batch_size, seed=3, epoch=2)
                for x, r in zip(xs, rs)}
    assert draws(1) == draws(4) == draws(8)


def test_batches_errors():
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        next(batches(Indexed(4), 0, seed=0, epoch=0))
    with pytest.raises(ValueError, match="batch_size=5 is larger than the dataset \\(4 pairs\\)"):
        next(batches(Indexed(4), 5, seed=0, epoch=0))


def test_prefetch_puts_items_on_the_device_in_order():
    items = [(np.full((2, 2), i, np.float32), np.full((2,), -i, np.float32)) for i in range(5)]
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    got = list(prefetch(iter(items), size=2, sharding=sharding))
    assert len(got) == 5
    for (x, y), (want_x, want_y) in zip(got, items):
        assert isinstance(x, jax.Array) and x.sharding == sharding
        np.testing.assert_array_equal(np.asarray(x), want_x)
        np.testing.assert_array_equal(np.asarray(y), want_y)


@pytest.mark.skipif(not sys.platform.startswith("linux") or jax.default_backend() != "cpu",
                    reason="per-thread niceness (Linux), lowered for a CPU backend only")
def test_prefetch_loads_at_a_lower_priority_than_the_step_on_a_cpu():
    """The loader runs niced by 10 (capped at 19), so that it does not preempt XLA's
    compute threads; the calling thread keeps its priority."""
    def niceness():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    caller = niceness()
    (seen,) = prefetch(np.int32(niceness()) for _ in range(1))  # read in the loader
    assert int(seen) == min(19, caller + 10)
    assert niceness() == caller


def test_prefetch_raises_the_loaders_error_at_its_place():
    def failing():
        yield np.zeros(2)
        raise OSError("disk gone")

    stream = prefetch(failing())
    np.testing.assert_array_equal(np.asarray(next(stream)), np.zeros(2))
    with pytest.raises(OSError, match="disk gone"):
        next(stream)


def test_prefetch_stops_its_thread_when_abandoned():
    before = threading.active_count()
    stream = prefetch(iter([np.zeros(1)] * 100), size=1)
    next(stream)
    stream.close()
    assert threading.active_count() == before
    with pytest.raises(ValueError, match="size must be an int >= 1, got 0"):
        prefetch(iter([]), size=0)


def test_a_process_loads_only_its_rows_of_each_global_batch():
    dataset = SyntheticPairs(12, 8, seed=3)
    whole = list(batches(dataset, 4, seed=5, epoch=1))
    for rows in (slice(0, 2), slice(2, 4)):
        share = list(batches(dataset, 4, seed=5, epoch=1, rows=rows))
        assert len(share) == len(whole) == 3
        for (x, y), (wx, wy) in zip(share, whole):
            assert x.shape == (2, 8, 8, 3)
            np.testing.assert_array_equal(x, wx[rows])
            np.testing.assert_array_equal(y, wy[rows])
