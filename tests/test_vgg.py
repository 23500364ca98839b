"""Tests for nectargan_jax.losses._vgg against a hand-built torch copy of vgg19().features.

Torch computes on NCHW batches; the NHWC module gets the same images transposed, and its
features and gradients are transposed back before comparing.
"""

import copy
import functools
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from torch import nn

from helpers import count_compilations
from nectargan_jax.losses._vgg import (
    FrozenWeight,
    VGG19Features,
    VGGPerceptual,
    load_vgg19_features,
    vgg_perceptual_loss,
)

SHAPE = (2, 3, 10, 14)  # NCHW; odd pooled sizes (5x7 -> 2x3) check that pooling floors
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14)
LAYOUTS = ("NHWC", "NCHW")


def to_layout(a, layout):
    """An NCHW array in ``layout``."""
    return a if layout == "NCHW" else np.moveaxis(a, 1, 3)


def from_layout(a, layout):
    """An array in ``layout`` as NCHW."""
    return a if layout == "NCHW" else np.moveaxis(np.asarray(a), 3, 1)


class TorchVGG(nn.Module):
    """torchvision ``vgg19()`` up to ``features[15]``, same indices and state-dict keys."""

    def __init__(self):
        super().__init__()
        layers, c_in = [], 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256):
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c_in, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(4, 2)  # an extra key that loading must ignore
        for module in self.features:
            if isinstance(module, nn.Conv2d):  # torchvision's init, plus non-zero biases
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.normal_(module.bias, std=0.1)

    def slices(self, x):
        a = self.features[0:4](x)
        b = self.features[4:9](a)
        return a, b, self.features[9:16](b)


@pytest.fixture(scope="module")
def torch_vgg():
    torch.manual_seed(0)
    return TorchVGG().eval()


@pytest.fixture(scope="module")
def weight_files(torch_vgg, tmp_path_factory):
    directory = tmp_path_factory.mktemp("vgg19")
    state = torch_vgg.state_dict()
    assert f"features.{CONV_INDICES[-1]}.weight" in state and "classifier.weight" in state
    torch.save(state, directory / "vgg19.pth")
    np.savez(directory / "vgg19.npz", **{k: v.numpy() for k, v in state.items()})
    return {"pth": directory / "vgg19.pth", "npz": directory / "vgg19.npz"}


@pytest.fixture(autouse=True)
def strict_dtype_promotion():
    with jax.numpy_dtype_promotion("strict"):
        yield


def _images(seed):
    return np.random.default_rng(seed).uniform(size=SHAPE).astype(np.float32)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["pth", "npz"])
def test_slices_match_torch(torch_vgg, weight_files, kind, layout):
    features = load_vgg19_features(weight_files[kind], layout=layout)
    x = _images(0)
    outputs = jax.jit(lambda m, x: m(x))(features, to_layout(x, layout))
    with torch.no_grad():
        expected = torch_vgg.slices(torch.tensor(x))
    shapes = [(2, 64, 10, 14), (2, 128, 5, 7), (2, 256, 2, 3)]
    assert [o.shape for o in outputs] == [to_layout(np.zeros(s), layout).shape for s in shapes]
    for out, ref in zip(outputs, expected):
        np.testing.assert_allclose(from_layout(out, layout), ref.numpy(), rtol=1e-4,
                                   atol=1e-5 * ref.abs().max().item())


def _torch_perceptual(model, x, y):
    fake, real = model.slices(x), model.slices(y)
    return sum(nn.functional.l1_loss(f, r) for f, r in zip(fake, real))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_perceptual_loss_value_matches_torch(torch_vgg, weight_files, layout):
    x, y = _images(1), _images(2)
    loss = vgg_perceptual_loss(weight_files["pth"], layout=layout)
    value = jax.jit(loss)(to_layout(x, layout), to_layout(y, layout))
    with torch.no_grad():
        expected = _torch_perceptual(torch_vgg, torch.tensor(x), torch.tensor(y)).item()
    np.testing.assert_allclose(value, expected, rtol=1e-5)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_perceptual_loss_gradient_matches_torch_in_float64(torch_vgg, weight_files, layout):
    # |.| and ReLU have kinks: among ~10^5 feature differences and pre-activations some lie
    # within float32 rounding of 0, where either framework may pick the other side. In
    # float64 (the same float32 weights, cast exactly) both compute the same gradient.
    torch_vgg64 = TorchVGG().double()
    torch_vgg64.load_state_dict(torch_vgg.state_dict())
    x, y = _images(1).astype(np.float64), _images(2).astype(np.float64)
    tx = torch.tensor(x, requires_grad=True)
    torch_loss = _torch_perceptual(torch_vgg64, tx, torch.tensor(y))
    torch_loss.backward()
    with jax.enable_x64(True):
        loss = vgg_perceptual_loss(weight_files["pth"], layout=layout)
        y_in = to_layout(y, layout)
        value, grad = jax.jit(jax.value_and_grad(lambda x: loss(x, y_in)))(
            jnp.asarray(to_layout(x, layout)))
        assert grad.dtype == jnp.float64
    np.testing.assert_allclose(value, torch_loss.item(), rtol=1e-10)
    np.testing.assert_allclose(from_layout(grad, layout), tx.grad.numpy(), rtol=1e-8,
                               atol=1e-12)


def test_weights_are_frozen(weight_files):
    loss = vgg_perceptual_loss(weight_files["npz"])
    assert not nnx.state(loss, nnx.Param)
    assert len(jax.tree.leaves(nnx.state(loss, FrozenWeight))) == 2 * len(CONV_INDICES)
    x, y = to_layout(_images(3), "NHWC"), to_layout(_images(4), "NHWC")
    grads = jax.jit(jax.grad(lambda model: model(x, y)))(loss)
    assert all(not np.any(g) for g in jax.tree.leaves(grads))


def test_perceptual_loss_of_identical_images_is_zero(weight_files):
    x = to_layout(_images(5), "NHWC")
    assert float(vgg_perceptual_loss(weight_files["npz"])(x, x)) == 0.0


def test_missing_keys_are_named(weight_files, tmp_path):
    dropped = ("features.0.weight", "features.14.bias")
    with np.load(weight_files["npz"]) as data:
        state = {k: data[k] for k in data.files if k not in dropped}
    np.savez(tmp_path / "partial.npz", **state)
    with pytest.raises(KeyError, match=r"features\.0\.weight.*features\.14\.bias"):
        load_vgg19_features(tmp_path / "partial.npz")


def test_wrong_weight_shape_is_rejected(weight_files):
    with np.load(weight_files["npz"]) as data:
        state = dict(data)
    state["features.5.weight"] = state["features.5.weight"][:, :32]
    with pytest.raises(ValueError, match=r"features\.5.*\(128, 64, 3, 3\).*\(128, 32, 3, 3\)"):
        VGG19Features.from_state_dict(state)


@pytest.mark.parametrize("make_loss", [vgg_perceptual_loss, load_vgg19_features])
def test_missing_weights_say_how_to_make_them(make_loss, tmp_path):
    hint = r"torchvision VGG19 state-dict file.*torch\.save\(torchvision\.models\.vgg19"
    with pytest.raises(ValueError, match=hint):
        make_loss(None)
    with pytest.raises(FileNotFoundError, match=hint):
        make_loss(tmp_path / "absent.pth")


def test_unknown_suffix_is_rejected(tmp_path):
    path = tmp_path / "vgg19.safetensors"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.npz.*\.pt.*\.pth"):
        load_vgg19_features(path)


def test_pth_without_torch_raises_a_clear_import_error(weight_files, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"needs PyTorch.*\.npz"):
        load_vgg19_features(weight_files["pth"])


def test_bad_arguments_are_rejected(weight_files):
    loss = vgg_perceptual_loss(weight_files["npz"])
    x = jnp.zeros((1, 8, 8, 3))
    with pytest.raises(ValueError, match=r"reduction='mean'.*'none'"):
        loss(x, x, reduction="none")
    with pytest.raises(ValueError, match=r"\(1, 8, 8, 3\).*\(1, 8, 9, 3\)"):
        loss(x, jnp.zeros((1, 8, 9, 3)))
    with pytest.raises(TypeError, match="floating-point.*uint8"):
        loss.features(jnp.zeros((1, 8, 8, 3), jnp.uint8))
    assert isinstance(loss, VGGPerceptual)


# (shape, layout, what the message says after "x.shape=<shape> cannot be an <layout> image
# batch: ")
BAD_SHAPES = [
    ((1, 8, 8, 1), "NHWC", r"its channel axis \(axis 3\) has 1 entries, not 3\.(\n|$)"),
    ((1, 1, 8, 8), "NCHW", r"its channel axis \(axis 1\) has 1 entries, not 3\.(\n|$)"),
    ((1, 3, 8, 8), "NHWC", r"its channel axis \(axis 3\) has 8 entries, not 3\. "
                           r"Did you mean layout='NCHW'\?"),
    ((1, 8, 8, 3), "NCHW", r"its channel axis \(axis 1\) has 8 entries, not 3\. "
                           r"Did you mean layout='NHWC'\?"),
    ((8, 8, 3), "NHWC", r"it is not 4-D\.(\n|$)"),
    ((1, 0, 8, 3), "NHWC", r"it has an empty axis\.(\n|$)"),
    ((1, 3, 2, 8), "NCHW", r"its channel axis \(axis 1, 3 entries\) is longer than a spatial "
                           r"axis \(height 2, width 8\)\.(\n|$)"),
]


@pytest.mark.parametrize(("shape", "layout", "reason"), BAD_SHAPES)
def test_shapes_that_cannot_be_3_channel_images_in_the_layout_raise(weight_files, shape,
                                                                    layout, reason):
    loss = vgg_perceptual_loss(weight_files["npz"], layout=layout)
    x = jnp.zeros(shape)
    message = rf"^x\.shape={re.escape(str(shape))} cannot be an {layout} image batch: {reason}"
    calls = {"loss": lambda: loss(x, x), "features": lambda: loss.features(x),
             "jitted loss": lambda: jax.jit(lambda m, x: m(x, x))(loss, x)}
    for name, call in calls.items():
        with pytest.raises(ValueError, match=message):
            call()
            pytest.fail(f"{name} returned a number")


@pytest.mark.parametrize("make", [
    functools.partial(vgg_perceptual_loss, layout="nchw"),
    functools.partial(load_vgg19_features, layout="HWC"),
    lambda path: VGG19Features.from_state_dict({}, layout=None),  # before the keys
])
def test_unknown_layout_lists_the_accepted(weight_files, make):
    with pytest.raises(ValueError, match=r"layout must be one of \('NHWC', 'NCHW'\), got"):
        make(weight_files["npz"])


def test_same_weights_give_equal_graphdefs_and_one_compile(weight_files):
    # The LossManager keeps a Module loss as nnx.split's (graphdef, state): the graphdef is
    # static, so two losses built alike must give equal, hash-equal graphdefs, and the
    # layout (a plain attribute) must be part of it.
    (graph_a, state_a), (graph_b, state_b) = (
        nnx.split(vgg_perceptual_loss(weight_files["npz"])) for _ in range(2))
    assert graph_a == graph_b and hash(graph_a) == hash(graph_b)
    graph_nchw, _ = nnx.split(vgg_perceptual_loss(weight_files["npz"], layout="NCHW"))
    assert graph_nchw != graph_a

    @functools.partial(jax.jit, static_argnums=0)
    def apply(graphdef, state, x, y):
        return nnx.merge(graphdef, state)(x, y)

    x, y = jnp.asarray(to_layout(_images(6), "NHWC")), jnp.asarray(to_layout(_images(7), "NHWC"))
    with count_compilations() as log:
        value_a = apply(graph_a, state_a, x, y)
        value_b = apply(graph_b, state_b, x, y)
    assert log.count("apply") == 1
    assert float(value_a) == float(value_b) > 0.0


def test_a_manager_uses_the_current_vgg_weights_jitted_and_eager(torch_vgg, weight_files):
    """The network's weights are leaves of the manager: changing them changes the loss
    (a manager that kept the network in its static data returned the old value)."""
    from nectargan_jax import LossManager

    x, y = _images(3), _images(4)
    manager = LossManager().register("G_VGG", vgg_perceptual_loss(weight_files["pth"]))
    jitted = jax.jit(lambda m: m.compute("G_VGG", to_layout(x, "NHWC"), to_layout(y, "NHWC"))[0])
    assert float(jitted(manager)) > 0
    doubled = copy.deepcopy(torch_vgg)
    with torch.no_grad():
        doubled.features[0].weight.mul_(2.0)
        expected = _torch_perceptual(doubled, torch.tensor(x), torch.tensor(y)).item()
    kernel = manager.entries[0].module.features.kernels[0]
    kernel[...] = 2.0 * kernel[...]
    np.testing.assert_allclose(jitted(manager), expected, rtol=1e-5)
    eager, _ = manager.compute("G_VGG", to_layout(x, "NHWC"), to_layout(y, "NHWC"))
    np.testing.assert_allclose(eager, expected, rtol=1e-5)
