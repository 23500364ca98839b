"""Weights both ways between ``nectargan_jax.models`` and the reference's PyTorch models.

Two independent references: ``fixtures/reference_outputs.npz`` holds NectarGAN v0.2.3's
own outputs for known weights (``fixtures/make_reference_fixtures.py``), and
``torch_pix2pix`` is a PyTorch twin of its models, checked against it by that script.
"""

import functools
from pathlib import Path
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from fixtures.make_reference_fixtures import OUTPUT_CONFIGS
from fixtures.make_reference_fixtures import fixture_inputs
from fixtures.make_reference_fixtures import fixture_weights
from nectargan_jax.models import StateDictMismatchError
from nectargan_jax.models import UnetGenerator
from nectargan_jax.models import build_models
from nectargan_jax.models import load_torch_checkpoint
from nectargan_jax.models import load_torch_state_dict
from nectargan_jax.models import save_torch_checkpoint
from nectargan_jax.models import torch_state_dict
from nectargan_jax.train import load_config
from torch_pix2pix import TorchPatchGAN
from torch_pix2pix import TorchUnet

REFERENCE_OUTPUTS = dict(np.load(Path(__file__).parent / "fixtures" / "reference_outputs.npz"))
CASES = list(OUTPUT_CONFIGS)  # the fixtures' seed is a case's position
forward = nnx.jit(lambda model, x: model(x))


def nhwc(x):
    return jnp.asarray(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))


def nchw(x):
    return np.asarray(x).transpose(0, 3, 1, 2)


@functools.cache
def _initialised(case):
    """Our models of a fixture config, initialised once (one compilation) and split."""
    config = load_config(overrides=OUTPUT_CONFIGS[case]).to_dict()
    models = nnx.jit(lambda: build_models(
        config, nnx.Rngs(params=jax.random.key(0, impl="rbg"), dropout=1)))()
    return config, [nnx.split(model) for model in models]


def build(case):
    """Fresh copies of our generator and discriminator of a fixture config, in eval mode."""
    config, splits = _initialised(case)
    g, d = (nnx.merge(*split, copy=True) for split in splits)
    g.eval()
    d.eval()
    return config, g, d


def twins(config):
    channels = config["dataloader"]["load"]["input_nc"]
    gen, disc = config["train"]["generator"], config["train"]["discriminator"]
    g = TorchUnet(channels, channels, gen["features"], gen["n_downs"], gen["block_type"],
                  gen["upsample_type"])
    d = TorchPatchGAN(2 * channels, disc["n_layers"], disc["base_channels"],
                      disc["max_channels"])
    return g.eval(), d.eval()


def inputs(config, seed):
    load = config["dataloader"]["load"]
    return fixture_inputs(load["input_nc"], load["crop_size"], seed)


@pytest.mark.parametrize("case", CASES)
def test_reference_weights_give_the_references_outputs(case):
    """Weights loaded into the reference (fixtures) and into ours: the same outputs within
    1e-5, NCHW there, NHWC here; and back out unchanged, in the reference's order."""
    seed = CASES.index(case)
    config, g, d = build(case)
    x, y = inputs(config, seed)
    for net, model in (("G", g), ("D", d)):
        shapes = {name: value.shape for name, value in torch_state_dict(model).items()}
        weights = fixture_weights(shapes, seed)
        load_torch_state_dict(model, weights)
        back = torch_state_dict(model)
        assert list(back) == list(weights)
        for name in weights:
            np.testing.assert_array_equal(back[name], weights[name])
        given = nhwc(x) if net == "G" else jnp.concatenate([nhwc(x), nhwc(y)], axis=-1)
        got = nchw(forward(model, given))
        want = REFERENCE_OUTPUTS[f"{case}/{net}"]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_weights_both_ways_with_the_pytorch_twin(case):
    """Ours -> PyTorch (our initialisation into the twin) and PyTorch -> ours (weights
    drawn by torch into ours): the same outputs within 1e-5, eval mode."""
    config, g, d = build(case)
    tg, td = twins(config)
    x, y = (torch.from_numpy(a) for a in inputs(config, seed=5))
    xy = torch.cat([x, y], 1)
    errors = {}
    for ours, theirs, data in ((g, tg, x), (d, td, xy)):
        theirs.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(ours).items()},
                               strict=True)
        with torch.no_grad():
            want = theirs(data).numpy()
        errors[type(ours).__name__, "to torch"] = np.abs(
            nchw(forward(ours, nhwc(data.numpy()))) - want).max()
        torch.manual_seed(7)
        for p in theirs.parameters():  # a PyTorch-side draw, unlike ours
            torch.nn.init.uniform_(p, -0.3, 0.3)
        load_torch_state_dict(ours, theirs.state_dict())
        with torch.no_grad():
            want = theirs(data).numpy()
        errors[type(ours).__name__, "from torch"] = np.abs(
            nchw(forward(ours, nhwc(data.numpy()))) - want).max()
    assert max(errors.values()) < 1e-5, errors


def test_checkpoint_files_are_the_references_format(tmp_path):
    """``{'state_dict', 'optimizer'}`` as the reference's trainer writes: the state_dict
    loads strictly into the twin and the optimizer state into its Adam, as the
    reference's ``load_checkpoint`` does; reading it back gives the same arrays."""
    config, g, _ = build(CASES[0])
    state = torch_state_dict(g)
    path = save_torch_checkpoint(tmp_path / "epoch3_netG.pth.tar", state, learning_rate=2e-4,
                                 beta1=0.5)
    data = torch.load(path, weights_only=True)
    assert set(data) == {"state_dict", "optimizer"}
    tg, _ = twins(config)
    tg.load_state_dict(data["state_dict"], strict=True)
    adam = torch.optim.Adam(tg.parameters(), lr=1.0, betas=(0.9, 0.999))
    adam.load_state_dict(data["optimizer"])
    assert adam.param_groups[0]["lr"] == 2e-4 and adam.param_groups[0]["betas"] == (0.5, 0.999)
    read = load_torch_checkpoint(path)
    assert list(read) == list(state)
    for name in state:
        np.testing.assert_array_equal(read[name], state[name])
    bare = tmp_path / "bare.pth"
    torch.save(tg.state_dict(), bare)
    assert list(load_torch_checkpoint(bare)) == list(state)
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_state_dict_of_another_config_is_refused_and_changes_nothing():
    config, g, _ = build(CASES[0])
    before = torch_state_dict(g)
    other = TorchUnet(1, 1, 4, 3).state_dict()  # features 4, not 2
    with pytest.raises(StateDictMismatchError,
                       match=r"does not fit this UnetGenerator .*shapes differ \(12\): "
                             r"initial_down\.conv\.0\.weight: \(4, 1, 4, 4\) given, "
                             r"\(2, 1, 4, 4\) expected, .*, \.\.\."):
        load_torch_state_dict(g, other)
    residual = TorchUnet(1, 1, 2, 3, "ResidualUnetBlock", "Bilinear").state_dict()
    with pytest.raises(StateDictMismatchError,
                       match=r"missing \(6\): ups\.0\.conv\.0\.weight, ups\.1\.conv\.0\.weight"
                             r".*; unexpected \(\d+\): initial_down\.residual\.0\.weight"):
        load_torch_state_dict(g, residual)
    after = torch_state_dict(g)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


def test_batch_norm_and_other_objects_are_refused():
    g = nnx.eval_shape(lambda: UnetGenerator(3, 3, features=2, n_downs=3, norm="batch",
                                             rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match=r"block downs\.0 uses BatchNorm .*instance norm only"):
        torch_state_dict(g)
    with pytest.raises(TypeError, match="expected a UnetGenerator or a PatchGANDiscriminator, "
                                        "got dict"):
        torch_state_dict({})


def test_file_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no PyTorch checkpoint at .*missing.pth.tar"):
        load_torch_checkpoint(tmp_path / "missing.pth.tar")
    junk = tmp_path / "junk.pth.tar"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth.tar' is not a readable PyTorch checkpoint"):
        load_torch_checkpoint(junk)
    empty = tmp_path / "empty.pth.tar"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(ValueError, match="holds no state_dict"):
        load_torch_checkpoint(empty)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(ImportError, match=r"needs torch, which is not installed: pip install "
                                          r"'nectargan_jax\[torch\]'"):
        load_torch_checkpoint(empty)


def test_batch_norm_extension_matches_pytorch_in_train_mode():
    """The BatchNorm extension against the twin with BatchNorm2d, training mode: the same
    outputs (batch statistics) and running means after the step (torch's momentum 0.1)."""
    g = nnx.jit(lambda: UnetGenerator(3, 3, features=2, n_downs=1, norm="batch", n_dropout=0,
                                      rngs=nnx.Rngs(params=jax.random.key(0, impl="rbg"))))()
    twin = TorchUnet(3, 3, 2, 1, norm="batch", n_dropout=0)
    plain = nnx.eval_shape(lambda: UnetGenerator(3, 3, features=2, n_downs=1, n_dropout=0,
                                                 rngs=nnx.Rngs(0)))
    nnx.update(plain, nnx.state(g, nnx.All(nnx.Param, nnx.Not(nnx.PathContains("norm")))))
    weights = {k: torch.from_numpy(v) for k, v in torch_state_dict(plain).items()}
    assert not twin.load_state_dict(weights, strict=False).unexpected_keys
    blocks = [*g.downs, *g.ups]
    torch_blocks = [*twin.downs, *twin.ups]
    with torch.no_grad():
        for ours, theirs in zip(blocks, torch_blocks, strict=True):
            theirs.conv[1].weight.copy_(torch.from_numpy(np.array(ours.norm.scale[...])))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    got = nchw(forward(g, nhwc(x)))
    with torch.no_grad():
        want = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    for ours, theirs in zip(blocks, torch_blocks):
        np.testing.assert_allclose(np.asarray(ours.norm.mean[...]),
                                   theirs.conv[1].running_mean.numpy(), rtol=1e-4, atol=1e-6)
