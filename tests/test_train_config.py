"""The training config: defaults, overrides, typed sections and their JSON, scheduled loss
weights, the LR rule, errors."""

import ast
import dataclasses
import json
from pathlib import Path
import subprocess
import sys

import jax
import numpy as np
import pytest

from nectargan_jax import Schedule
from nectargan_jax.configs import default_config_path
from nectargan_jax.train import DiscriminatorConfig
from nectargan_jax.train import HealthConfig
from nectargan_jax.train import LearningRateConfig
from nectargan_jax.train import ScheduleConfig
from nectargan_jax.train import TrainConfig
from nectargan_jax.train import config_fingerprint
from nectargan_jax.train import embedded_default_overrides
from nectargan_jax.train import build_training
from nectargan_jax.train import load_config
from nectargan_jax.train import train

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path, inner):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": inner}), encoding="utf-8")
    return path


def test_default_is_the_reference_file():
    raw = json.loads(default_config_path().read_text(encoding="utf-8"))["config"]
    assert load_config() == TrainConfig()
    assert load_config().to_dict() == raw
    assert json.loads(load_config().to_json()) == {"config": raw}
    assert load_config().train.generator.n_downs == 6


def test_a_partial_file_takes_the_defaults_for_the_rest(tmp_path):
    path = write_config(tmp_path, {"train": {"generator": {"features": 32}},
                                   "dataloader": {"direction": "BtoA"}})
    config = load_config(path)
    assert config.train.generator.features == 32
    assert config.dataloader.direction == "BtoA"
    assert config.train.generator.n_downs == 6
    assert config.train.loss.lambda_l1 == 100.0


def test_overrides_nested_and_dotted_over_a_file(tmp_path):
    path = write_config(tmp_path, {"train": {"generator": {"features": 32, "n_downs": 5}}})
    config = load_config(path, {"train.generator.n_downs": 4,
                                "dataloader": {"batch_size": 8}})
    assert config.train.generator.features == 32
    assert config.train.generator.n_downs == 4
    assert config.dataloader.batch_size == 8


EVERY_EXTENSION = {
    "train.loss.lambda_l1": {"schedule": "exponential", "start_epoch": 0, "end_epoch": 4,
                             "initial_value": 16, "target_value": 1.0,
                             "options": {"epsilon": 1e-6}},
    "train.loss.adaptive_gan_weight": {"scale": 0.8},
    "train.loss.uncertainty_weighting": {"losses": ["G_L1"]},
    "train.health": {"collapse_patience": 5},
    "train.generator.norm": "batch",
    "train.generator.conv_impl": "cpu",
    "save.keep_checkpoints": None,
    "visualizer.tensorboard": "board",
}


def test_a_config_round_trips_through_the_file_it_writes(tmp_path):
    """Every extension on: the file is the reference's format plus those keys, written
    as given (numbers as floats, objects complete), and reads back as an equal config."""
    config = load_config(overrides=EVERY_EXTENSION)
    path = tmp_path / "train1_config.json"
    path.write_text(config.to_json(), encoding="utf-8")
    assert load_config(path) == config and hash(load_config(path)) == hash(config)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert list(saved) == ["config"]
    inner, raw = saved["config"], json.loads(default_config_path().read_text())["config"]
    assert inner["train"]["loss"]["lambda_l1"] == {
        "schedule": "exponential", "start_epoch": 0.0, "end_epoch": 4.0,
        "initial_value": 16.0, "target_value": 1.0, "options": {"epsilon": 1e-6}}
    assert inner["train"]["loss"]["adaptive_gan_weight"] == {
        "start_step": 0, "scale": 0.8, "eps": 1e-4, "maximum": 1e4}
    assert inner["train"]["health"] == {"collapse": True, "collapse_threshold": 0.05,
                                        "collapse_patience": 5, "non_finite": True,
                                        "clamped": True}
    assert (inner["train"]["generator"]["norm"], inner["train"]["generator"]["conv_impl"],
            inner["save"]["keep_checkpoints"], inner["visualizer"]["tensorboard"]) == (
        "batch", "cpu", None, "board")
    for section in ("common", "dataloader"):
        assert inner[section] == raw[section]
    assert set(inner["train"]) == set(raw["train"]) | {"health"}
    assert config.train.loss.lambda_l1 == ScheduleConfig(
        0.0, 4.0, 16.0, 1.0, schedule="exponential", options=(("epsilon", 1e-6),))


def test_extensions_at_their_default_are_not_written():
    """The reference's default config given with each extension at its default (or off)
    writes the reference's file, and has its fingerprint."""
    config = load_config(overrides={"train.generator.norm": "instance",
                                    "train.generator.conv_impl": "auto",
                                    "save.keep_checkpoints": 3, "train.health": None,
                                    "visualizer.tensorboard": None})
    assert config == TrainConfig()
    assert config.to_dict() == json.loads(default_config_path().read_text())["config"]
    assert config_fingerprint(config) == config_fingerprint(TrainConfig())


def test_a_config_is_checked_whole_when_built_or_replaced():
    """Sections are plain records; the TrainConfig holding them checks every value and
    names its key path (a learning rate section knows nothing of where it sits)."""
    config = TrainConfig()
    rate = LearningRateConfig(initial=-1.0)
    with pytest.raises(ValueError, match="'train.discriminator.learning_rate.initial' must be "
                                         "a finite number >= 0, got -1.0"):
        dataclasses.replace(config, train=dataclasses.replace(
            config.train, discriminator=DiscriminatorConfig(learning_rate=rate)))
    with pytest.raises(ValueError, match="'train.health.collapse' must be of type bool like "
                                         "the default True, got int: 1"):
        dataclasses.replace(config, train=dataclasses.replace(
            config.train, health=HealthConfig(collapse=1)))
    with pytest.raises(ValueError, match="'train.loss.lambda_gan' must be a finite number >= 0"):
        config.with_overrides({"train.loss.lambda_gan": float("nan")})
    with pytest.raises(TypeError, match="overrides must be a dict, got list"):
        config.with_overrides([("train.loss.lambda_gan", 2.0)])


def test_overrides_laid_over_a_config_equal_the_same_overrides_loaded():
    first = {"train.generator.features": 32, "train.health": {"collapse_patience": 7}}
    second = {"train.health.non_finite": False, "dataloader": {"batch_size": 3}}
    laid = load_config(overrides=first).with_overrides(second)
    assert laid == load_config(overrides={**first, **second})
    assert laid.train.health == HealthConfig(collapse_patience=7, non_finite=False)
    assert laid.dataloader.batch_size == 3 and laid.train.generator.features == 32


def test_overrides_are_left_as_given():
    health = {"collapse_patience": 7}
    overrides = {"train.health": health, "train.health.non_finite": False}
    assert load_config(overrides=overrides).train.health.non_finite is False
    assert health == {"collapse_patience": 7}


def test_the_file_and_the_overrides_are_checked_together(tmp_path):
    """A file whose crop size fits no 6-level U-Net, with overrides that make it fit."""
    path = write_config(tmp_path, {"dataloader": {"load": {"crop_size": 40}}})
    with pytest.raises(ValueError, match="'dataloader.load.crop_size' must be a multiple of "
                                         "256 for train.generator.n_downs=6, got 40"):
        load_config(path)
    assert load_config(path, {"train.generator.n_downs": 1}).dataloader.load.crop_size == 40


def test_the_trainer_takes_a_typed_config(tmp_path):
    inner = load_config(overrides={"common.output_directory": str(tmp_path)}).to_dict()
    with pytest.raises(TypeError, match="config must be a TrainConfig .*, got dict"):
        train(inner, epochs=1)
    with pytest.raises(TypeError, match="config must be a TrainConfig .*, got dict"):
        build_training(inner, steps_per_epoch=1)
    with pytest.raises(TypeError, match="config must be a TrainConfig .*, got dict"):
        config_fingerprint(inner)
    assert list(tmp_path.iterdir()) == []


def test_below_the_config_modules_nothing_reads_the_json_by_key():
    """The trainer's modules take typed values: none indexes a config section by name
    (``config["train"]``), as every one of them did before the config was typed."""
    sections = {field.name for field in dataclasses.fields(TrainConfig)}
    found = []
    for path in sorted((ROOT / "nectargan_jax" / "train").glob("*.py")):
        if path.name.startswith("_config"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                    and node.slice.value in sections:
                found.append(f"{path.name}:{node.lineno}")
    assert found == []


def test_an_int_is_accepted_where_the_default_is_a_float():
    config = load_config(overrides={"train.loss.lambda_l1": 50,
                                    "train.generator.learning_rate.target": 0})
    assert config.train.loss.lambda_l1 == 50.0
    assert isinstance(config.train.generator.learning_rate.target, float)


def test_loss_weights_numbers_and_schedules():
    ramp = {"schedule": "linear", "start_epoch": 0, "end_epoch": 10, "initial_value": 100.0,
            "target_value": 10.0}
    config = load_config(overrides={"train.loss.lambda_l1": ramp,
                                    "train.loss.lambda_sobel": 5})
    weights = config.train.loss.weights()
    assert set(weights) == {"lambda_gan", "lambda_l1", "lambda_l2", "lambda_sobel",
                            "lambda_laplacian", "lambda_vgg"}
    assert weights["lambda_gan"] == 1.0 and weights["lambda_sobel"] == 5.0
    assert isinstance(weights["lambda_l1"], Schedule)
    # Core convention, epochs from 0: 100 at 0, 100 - 90 * e / 10 in between, 10 from 10 on.
    values = jax.jit(jax.vmap(weights["lambda_l1"]))(np.arange(12.0))
    np.testing.assert_allclose(values, [100, 91, 82, 73, 64, 55, 46, 37, 28, 19, 10, 10],
                               rtol=1e-6)


def test_schedule_object_with_options():
    decay = {"schedule": "exponential", "start_epoch": 0, "end_epoch": 4,
             "initial_value": 16.0, "target_value": 1.0, "options": {"epsilon": 1e-6}}
    weight = load_config(overrides={"train.loss.lambda_gan": decay}).train.loss.weights()[
        "lambda_gan"]
    np.testing.assert_allclose([float(weight(e)) for e in range(5)], [16, 8, 4, 2, 1], rtol=1e-5)


def test_learning_rate_follows_the_reference_pix2pix_rule():
    """The reference's Schedule(100, 201, 2e-4, 0) shifted by -1, stepped per epoch from 0:
    constant through epoch 99, then (e - 99) / 101 of the way to 0."""
    schedule = load_config().train.learning_rate_schedule()
    epochs = np.array([0, 50, 99, 100, 101, 150, 199, 200, 250])
    want = 2e-4 * (1 - np.clip((epochs - 99) / 101, 0, 1))
    np.testing.assert_allclose(jax.vmap(schedule)(epochs), want, rtol=1e-6, atol=1e-12)
    assert float(schedule(199)) == pytest.approx(2e-4 / 101, rel=1e-5)  # float32


def test_learning_rate_of_the_discriminator_and_separate_schedules():
    overrides = {"train.discriminator.learning_rate": {"epochs": 2, "epochs_decay": 3,
                                                       "initial": 1e-3, "target": 1e-4}}
    shared = load_config(overrides=overrides)
    assert shared.train.learning_rate_schedule("discriminator")(150) == pytest.approx(
        float(shared.train.learning_rate_schedule("generator")(150)))
    separate = load_config(overrides=overrides | {"train.separate_lr_schedules": True})
    schedule = separate.train.learning_rate_schedule("discriminator")
    # start = 2 - 1 = 1, end = 2 + 3 = 5: 1e-3 through epoch 1, then a quarter per epoch.
    np.testing.assert_allclose([float(schedule(e)) for e in range(7)],
                               [1e-3, 1e-3, 7.75e-4, 5.5e-4, 3.25e-4, 1e-4, 1e-4], rtol=1e-5)
    with pytest.raises(ValueError, match="which must be 'generator' or 'discriminator', got 'G'"):
        separate.train.learning_rate_schedule("G")


def test_generator_norm_is_an_optional_extension():
    """Absent: the reference's instance norm, and the config written stays the reference's
    (no key is added); ``'batch'`` is kept as given."""
    assert load_config().train.generator.norm == "instance"
    assert "norm" not in load_config().to_dict()["train"]["generator"]
    batch = load_config(overrides={"train.generator.norm": "batch"})
    assert batch.train.generator.norm == "batch"
    assert batch.to_dict()["train"]["generator"]["norm"] == "batch"


CONV_IMPL = "train.generator.conv_impl"


def test_generator_conv_impl_is_an_optional_extension_left_out_of_the_fingerprint():
    """Absent: 'auto', not written; each form is kept as given and written back, and the
    fingerprint leaves it out (the forms compute the same numbers)."""
    assert load_config().train.generator.conv_impl == "auto"
    assert "conv_impl" not in load_config().to_dict()["train"]["generator"]
    for value in ("auto", "xla", "cpu"):
        config = load_config(overrides={CONV_IMPL: value})
        assert config.train.generator.conv_impl == value
        assert config_fingerprint(config) == config_fingerprint(TrainConfig())
    assert load_config(overrides={CONV_IMPL: "cpu"}).to_dict()["train"]["generator"][
        "conv_impl"] == "cpu"


@pytest.mark.parametrize("value, message", [
    ("gpu", "must be one of \\('auto', 'xla', 'cpu'\\), got 'gpu'"),
    ("", "must be one of \\('auto', 'xla', 'cpu'\\), got ''"),
    (None, "must be of type str like the default 'auto', got NoneType: None"),
    (1, "must be of type str like the default 'auto', got int: 1"),
])
def test_a_bad_conv_impl_names_the_key(value, message):
    with pytest.raises(ValueError, match=f"config key '{CONV_IMPL}' {message}"):
        load_config(overrides={CONV_IMPL: value})


def test_total_epochs_and_the_embedded_default():
    assert load_config().total_epochs == 200
    config = load_config(overrides=embedded_default_overrides())
    assert config.dataloader.load.crop_size == 64
    assert config.total_epochs == 8


@pytest.mark.parametrize("overrides, message", [
    ({"train.generator.n_layers": 3}, "unknown config key 'train.generator.n_layers'"),
    ({"trian": {}}, "unknown config key 'trian'"),
    ({"dataloader.augmentations.target.h_flip_chance": 0.5},
     "unknown config key 'dataloader.augmentations.target.h_flip_chance'"),
    ({"train.generator.n_downs": 6.0},
     "'train.generator.n_downs' must be of type int like the default 6, got float: 6.0"),
    ({"train.generator.n_downs": True}, "'train.generator.n_downs' must be of type int"),
    ({"save.save_model": 1}, "'save.save_model' must be of type bool"),
    ({"common.gpu_ids": [0, "1"]}, "'common.gpu_ids' must be of type list"),
    ({"train.generator": 3}, "'train.generator' must be an object, got 3"),
    ({"dataloader.direction": "AtoC"},
     "'dataloader.direction' must be one of \\('AtoB', 'BtoA'\\), got 'AtoC'"),
    ({"train.generator.block_type": "Unet"}, "'train.generator.block_type' must be one of"),
    ({"train.generator.upsample_type": "nearest"}, "'train.generator.upsample_type' must be"),
    ({"train.generator.n_downs": 0}, "'train.generator.n_downs' must be an int >= 1, got 0"),
    ({"train.generator.n_downs": 7},
     "'dataloader.load.crop_size' must be a multiple of 512 for train.generator.n_downs=7, "
     "got 256"),
    ({"train.generator.n_downs": 2, "dataloader.load.crop_size": 40},
     "'dataloader.load.crop_size' must be a multiple of 16 for train.generator.n_downs=2, "
     "got 40"),
    ({"train.generator.block_type": "ResidualUnetBlock", "train.generator.n_downs": 5},
     "'dataloader.load.crop_size' must be 128 for a ResidualUnetBlock generator with "
     "train.generator.n_downs=5 .*, got 256"),
    ({"train.generator.norm": "layer"},
     "'train.generator.norm' must be one of \\('instance', 'batch'\\), got 'layer'"),
    ({"dataloader.load.load_size": 200},
     "'dataloader.load.load_size' must be >= dataloader.load.crop_size \\(256\\), got 200"),
    ({"dataloader.load.input_nc": 4}, "'dataloader.load.input_nc' must be 1 .* or 3"),
    ({"dataloader.batch_size": 0}, "'dataloader.batch_size' must be an int >= 1, got 0"),
    ({"dataloader.augmentations.both.h_flip_chance": 1.5},
     "'dataloader.augmentations.both.h_flip_chance' must be a probability in \\[0, 1\\]"),
    ({"dataloader.augmentations.input.gaussnoise_min": 0.5},
     "'dataloader.augmentations.input.gaussnoise_min' must be <= "
     "dataloader.augmentations.input.gaussnoise_max \\(0.44\\), got 0.5"),
    ({"train.discriminator.max_channels": 0}, "'train.discriminator.max_channels' must be"),
    ({"train.generator.learning_rate.epochs": -1},
     "'train.generator.learning_rate.epochs' must be an int >= 0, got -1"),
    ({"train.generator.learning_rate": {"epochs": 0, "epochs_decay": 0}},
     "'train.generator.learning_rate.epochs' must be such that epochs \\+ epochs_decay >= 1"),
    ({"train.discriminator.learning_rate.initial": -1e-4},
     "'train.discriminator.learning_rate.initial' must be a finite number >= 0, got -0.0001"),
    ({"train.generator.optimizer.beta1": 1.0},
     "'train.generator.optimizer.beta1' must be in \\[0, 1\\), got 1.0"),
    ({"train.loss.lambda_l1": -1}, "'train.loss.lambda_l1' must be a finite number >= 0"),
    ({"train.loss.lambda_l1": "100"}, "'train.loss.lambda_l1' must be a number or a schedule"),
    ({"train.loss.lambda_l1": {"schedule": "linear", "start_epoch": 0, "end_epoch": 10}},
     "'train.loss.lambda_l1': a schedule object .* missing \\['initial_value', 'target_value'\\]"),
    ({"train.loss.lambda_l1": {"start_epoch": 0, "end_epoch": 1, "initial_value": 1,
                               "target_value": 0, "kind": "linear"}},
     "unknown \\['kind'\\]"),
    ({"train.loss.lambda_l1": {"start_epoch": 5, "end_epoch": 5, "initial_value": 1,
                               "target_value": 0}},
     "'train.loss.lambda_l1' is not a valid schedule: end_epoch must be greater"),
    ({"train.loss.lambda_l1": {"schedule": "quadratic", "start_epoch": 0, "end_epoch": 5,
                               "initial_value": 1, "target_value": 0}},
     "'train.loss.lambda_l1' is not a valid schedule: .*quadratic"),
    ({"train.loss.lambda_l1": {"start_epoch": 0, "end_epoch": 5, "initial_value": 1,
                               "target_value": -1}},
     "'train.loss.lambda_l1': loss weights must be >= 0"),
])
def test_bad_keys_and_values_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(overrides=overrides)


NAN = float("nan")


@pytest.mark.parametrize("overrides, message", [
    ({"save.example_save_rate": -1}, "'save.example_save_rate' must be an int >= 1, got -1"),
    ({"save.example_save_rate": 0}, "'save.example_save_rate' must be an int >= 1, got 0"),
    ({"save.model_save_rate": 0}, "'save.model_save_rate' must be an int >= 1, got 0"),
    ({"train.health.collapse_threshold": -1.0},
     "'train.health.collapse_threshold' must be a finite number > 0 .*, got -1.0"),
    ({"train.health.collapse_threshold": 0}, "'train.health.collapse_threshold' must be"),
    ({"train.health.collapse_threshold": NAN},
     "'train.health.collapse_threshold' must be a finite number > 0 .*, got nan"),
    ({"train.health.collapse_patience": 0},
     "'train.health.collapse_patience' must be an int >= 1, got 0"),
    ({"train.loss.adaptive_gan_weight.scale": NAN},
     "'train.loss.adaptive_gan_weight.scale' must be a finite number >= 0, got nan"),
    ({"train.loss.uncertainty_weighting": {"losses": ["G_L1"], "init_log_variance": NAN}},
     "'train.loss.uncertainty_weighting.init_log_variance' must be a finite number, got nan"),
    ({"train.loss.adaptive_gan_weight.start_step": 2 ** 31},
     "'train.loss.adaptive_gan_weight.start_step' must be an int < 2\\*\\*31 .*, got "
     "2147483648"),
    ({"common.experiment_version": -1}, "'common.experiment_version' must be an int >= 0, got -1"),
    ({"common.experiment_name": ""}, "'common.experiment_name' must be a folder name .*, got ''"),
    ({"common.experiment_name": "runs/a"},
     "'common.experiment_name' must be a folder name .*, got 'runs/a'"),
    ({"common.device": "banana"},
     "'common.device' must be a device such as 'cpu', 'cuda' or 'cuda:1', got 'banana'"),
    ({"dataloader.num_workers": -1}, "'dataloader.num_workers' must be an int >= 0, got -1"),
])
def test_values_that_would_be_silently_wrong_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(overrides=overrides)


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found: .*missing.json"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_config(bad)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"train": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="must hold .*config.*got top-level keys \\['train'\\]"):
        load_config(bare)
    with pytest.raises(ValueError, match="unknown config key 'train.loss.lambda_tv'"):
        load_config(write_config(tmp_path, {"train": {"loss": {"lambda_tv": 1.0}}}))


def test_loading_does_not_import_torch_or_interop():
    code = ("import sys; from nectargan_jax.train import load_config; load_config(); "
            "print(sorted(m for m in ('torch', 'interop') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
