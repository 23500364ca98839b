"""``train.generator.conv_impl`` / ``--conv-impl``: the config key, the flag, resuming
across forms, and one training step in each form (the layers' and models' parity is in
``test_models.py``)."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nectargan_jax.train import SyntheticPairs, batches, config_fingerprint, load_config
from nectargan_jax.train import _loop
from nectargan_jax.train._cli import main
from nectargan_jax.train._step import build_training
from train_helpers import tiny_config

KEY = "train.generator.conv_impl"


def test_the_key_is_an_optional_extension():
    """Absent: 'auto', and the config stays the reference's (no such key)."""
    assert load_config().train.generator.conv_impl == "auto"
    assert "conv_impl" not in load_config().to_dict()["train"]["generator"]
    for value in ("auto", "xla", "cpu"):
        assert load_config(overrides={KEY: value}).train.generator.conv_impl == value


@pytest.mark.parametrize("value", ["gpu", ""])
def test_an_unknown_value_is_refused_naming_the_key(value):
    with pytest.raises(ValueError, match=rf"config key '{KEY}' must be one of \('auto', "
                                         rf"'xla', 'cpu'\), got {value!r}"):
        load_config(overrides={KEY: value})


def test_the_flag_sets_the_key(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(_loop, "train", lambda config, **kwargs: seen.append(config))
    assert main(["train", "--conv-impl", "xla", "--output-dir", str(tmp_path)]) == 0
    assert main(["train", "--output-dir", str(tmp_path)]) == 0
    assert seen[0].train.generator.conv_impl == "xla"
    assert seen[1].train.generator.conv_impl == "auto"


def test_the_flag_refuses_an_unknown_value_before_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--conv-impl", "cuda", "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nectargan-jax train: error:") and f"'{KEY}'" in err and "'cuda'" in err
    assert list(tmp_path.iterdir()) == []


def test_a_run_resumes_in_either_form():
    """The forms compute the same numbers: the checkpoint fingerprint leaves them out."""
    fingerprints = {config_fingerprint(load_config(overrides=overrides)) for overrides in
                    ({}, {KEY: "auto"}, {KEY: "xla"}, {KEY: "cpu"})}
    assert len(fingerprints) == 1
    assert config_fingerprint(load_config(overrides={"train.generator.features": 8})) \
        not in fingerprints


def test_one_training_step_is_the_same_in_both_forms():
    """Built from the key, both models use the form asked for, start from the same
    weights and record the same losses in a step (D's update, then G's on updated D)."""
    pairs = SyntheticPairs(2, 16, seed=0)
    batch = tuple(jnp.asarray(a) for a in next(batches(pairs, 2, seed=0, epoch=0)))
    records, params = {}, {}
    for impl in ("xla", "cpu"):
        fns, state = build_training(tiny_config(**{KEY: impl}), steps_per_epoch=1, capacity=2)
        for graphdef, weights, rest in ((fns.gen_def, state.gen_params, state.gen_rest),
                                        (fns.disc_def, state.disc_params, state.disc_rest)):
            assert nnx.merge(graphdef, weights, rest, copy=True).conv_impl == impl
        params[impl] = [np.asarray(leaf) for leaf in
                        jax.tree.leaves((state.gen_params, state.disc_params))]
        records[impl], _ = fns.step(state, batch).manager.drain()  # state donated
    for cpu, xla in zip(params["cpu"], params["xla"], strict=True):
        np.testing.assert_array_equal(cpu, xla)
    assert set(records["cpu"]) == {"G_GAN", "G_L1", "G_L2", "G_SOBEL", "G_LAP", "D_real",
                                   "D_fake"}
    for name, (losses, weights) in records["cpu"].items():
        np.testing.assert_allclose(losses, records["xla"][name][0], rtol=1e-5, err_msg=name)
        np.testing.assert_array_equal(weights, records["xla"][name][1])
