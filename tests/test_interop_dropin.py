"""One test per name in REFERENCE.md's "Drop-in surface": what the reference's trainer,
tester and toolbox touch, under the reference's module paths."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
import torch
from torch import nn

from interop.config import config_manager as cm_module
from interop.config.config_data import (Config, ConfigAugsBoth, ConfigAugsInput,
                                        ConfigAugsOutput, ConfigCommon, ConfigDataloader,
                                        ConfigDataloaderLoad, ConfigDataLoaderAugmentations,
                                        ConfigDiscriminator, ConfigGenerator, ConfigLearningRate,
                                        ConfigLoad, ConfigLoss, ConfigOptimizer, ConfigSave,
                                        ConfigTrain, ConfigVisdom, ConfigVisualizer)
from interop.config.config_manager import GROUP_SCHEMA, ConfigManager
from interop.losses.lm_data import LMHistory
from interop.losses.loss_manager import LossManager
from interop.losses.losses import Laplacian, Sobel, VGGPerceptual, vgg19_features
from interop.losses.pix2pix_objective import pix2pix
from interop.scheduling.data import Schedule
from interop.scheduling.scheduler import Scheduler
from interop.scheduling.scheduler_torch import TorchScheduler
from interop_configs import reference_config
from interop_reference_math import laplacian_loss, sobel_loss

# The reference's default config, as REFERENCE.md and the file describe it.
DEFAULT_SECTIONS = ["common", "dataloader", "train", "save", "visualizer"]


def write_config(path, inner):
    path.write_text(json.dumps({"config": inner}, indent=4))
    return path


# ConfigManager ----------------------------------------------------------------------------


def test_config_manager_takes_input_config_as_a_path_a_dict_or_none(tmp_path):
    inner = reference_config({"dataloader.load.crop_size": 64})
    path = write_config(tmp_path / "c.json", inner)
    for given in (path, str(path), inner):
        manager = ConfigManager(input_config=given)
        assert manager.raw == inner and manager.data.dataloader.load.crop_size == 64
    assert ConfigManager(input_config=None).raw == reference_config()
    assert ConfigManager().data.dataloader.load.crop_size == 256
    with pytest.raises(TypeError, match="input_config.*got int: 42"):
        ConfigManager(input_config=42)


def test_parse_config_file_returns_the_inner_dict(tmp_path):
    inner = reference_config({"common.experiment_name": "x"})
    path = write_config(tmp_path / "c.json", inner)
    assert ConfigManager().parse_config_file(path) == inner
    default = ConfigManager.parse_config_file(None)
    assert list(default) == DEFAULT_SECTIONS
    assert (default["common"]["device"], default["dataloader"]["load"]) == \
        ("cpu", {"input_nc": 3, "load_size": 286, "crop_size": 256})
    assert default["train"]["loss"] == {"lambda_gan": 1.0, "lambda_l1": 100.0,
                                        "lambda_l2": 0.0, "lambda_sobel": 0.0,
                                        "lambda_laplacian": 0.0, "lambda_vgg": 0.0}
    missing = tmp_path / "missing.json"
    with pytest.raises(FileNotFoundError, match="missing.json"):
        ConfigManager.parse_config_file(missing)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        ConfigManager(missing)


@pytest.mark.parametrize(("content", "match"), [
    ("[1, 2]", "must hold a JSON object"),
    ('{"common": {}}', 'must hold a JSON object {"config"'),
    ("{not json", "is not valid JSON"),
])
def test_a_file_without_the_config_wrapper_is_a_clear_error(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        ConfigManager(path)


@pytest.mark.parametrize("change", [
    lambda c: c.pop("save"),
    lambda c: c["common"].pop("gpu_ids"),
    lambda c: c["train"]["loss"].update(vgg_weights="/w.pth"),
    lambda c: c["dataloader"]["augmentations"]["target"].update(x=1),
    lambda c: c["dataloader"].update(load=3),
    lambda c: c["common"].update(device={"type": "cpu"}),
])
def test_a_dict_must_have_the_defaults_key_structure(change):
    config = reference_config()
    change(config)
    with pytest.raises(ValueError, match=r"^Input config dict is invalid\. input_config"):
        ConfigManager(config)


def test_a_valid_dict_is_copied_into_raw():
    config = reference_config({"train.loss.lambda_l1": 10.0, "common.gpu_ids": [0, 1]})
    manager = ConfigManager(config)
    config["train"]["loss"]["lambda_l1"] = 1.0
    assert manager.raw["train"]["loss"]["lambda_l1"] == 10.0
    assert manager.data.train.loss.lambda_l1 == 10.0 and manager.data.common.gpu_ids == [0, 1]


def test_data_is_the_config_dataclass_tree():
    data = ConfigManager().data
    assert type(data) is Config
    kinds = {"common": ConfigCommon, "dataloader": ConfigDataloader, "train": ConfigTrain,
             "save": ConfigSave, "visualizer": ConfigVisualizer}
    assert {name: type(getattr(data, name)) for name in kinds} == kinds
    assert type(data.dataloader.load) is ConfigDataloaderLoad
    assert type(data.dataloader.augmentations) is ConfigDataLoaderAugmentations
    assert type(data.dataloader.augmentations.both) is ConfigAugsBoth
    assert type(data.dataloader.augmentations.input) is ConfigAugsInput
    assert type(data.train.load) is ConfigLoad
    assert type(data.train.generator) is ConfigGenerator
    assert type(data.train.discriminator) is ConfigDiscriminator
    assert type(data.train.generator.learning_rate) is ConfigLearningRate
    assert type(data.train.discriminator.optimizer) is ConfigOptimizer
    assert type(data.train.loss) is ConfigLoss
    assert type(data.visualizer.visdom) is ConfigVisdom


def test_config_dataclasses_have_the_reference_fields():
    fields = {
        Config: "common dataloader train save visualizer",
        ConfigCommon: "device gpu_ids output_directory experiment_name experiment_version",
        ConfigDataloader: "dataroot direction batch_size num_workers load augmentations",
        ConfigDataloaderLoad: "load_size crop_size input_nc",
        ConfigDataLoaderAugmentations: "both input output",
        ConfigAugsBoth: ("h_flip_chance v_flip_chance rot90_chance elastic_transform_chance "
                         "elastic_transform_alpha elastic_transform_sigma "
                         "optical_distortion_chance optical_distortion_min "
                         "optical_distortion_max optical_distortion_mode coarse_dropout_chance "
                         "coarse_dropout_holes_min coarse_dropout_holes_max "
                         "coarse_dropout_height_min coarse_dropout_height_max "
                         "coarse_dropout_width_min coarse_dropout_width_max"),
        ConfigAugsInput: ("colorjitter_chance colorjitter_min_brightness "
                          "colorjitter_max_brightness gaussnoise_chance gaussnoise_min "
                          "gaussnoise_max motionblur_chance motionblur_limit randgamma_chance "
                          "randgamma_min randgamma_max grayscale_chance grayscale_method "
                          "compression_chance compression_type compression_quality_min "
                          "compression_quality_max"),
        ConfigAugsOutput: "dummy",
        ConfigTrain: "separate_lr_schedules load generator discriminator loss",
        ConfigLoad: "continue_train load_epoch",
        ConfigGenerator: "features n_downs block_type upsample_type learning_rate optimizer",
        ConfigDiscriminator: "n_layers base_channels max_channels learning_rate optimizer",
        ConfigLoss: "lambda_gan lambda_l1 lambda_l2 lambda_sobel lambda_laplacian lambda_vgg",
        ConfigLearningRate: "epochs epochs_decay initial target",
        ConfigOptimizer: "beta1",
        ConfigSave: ("save_model model_save_rate auto_increment_version save_examples "
                     "example_save_rate num_examples"),
        ConfigVisualizer: "visdom",
        ConfigVisdom: "enable env_name server port image_size update_frequency",
    }
    for cls, names in fields.items():
        assert [f.name for f in dataclasses.fields(cls)] == names.split(), cls.__name__


def test_what_the_trainer_reads_has_the_default_values():
    data = ConfigManager().data
    common = data.common
    assert (common.output_directory, common.experiment_name, common.experiment_version) == \
        ("", "NectarGAN", 1)
    loader = data.dataloader
    assert (loader.dataroot, loader.direction, loader.batch_size, loader.num_workers) == \
        ("", "AtoB", 1, 0)
    assert loader.augmentations.both.h_flip_chance == 0.5
    assert loader.augmentations.input.compression_type == "jpeg"
    assert data.train.generator.learning_rate == ConfigLearningRate(100, 100, 0.0002, 0.0)
    assert (data.train.generator.n_downs, data.train.discriminator.n_layers) == (6, 3)
    assert data.save == ConfigSave(True, 5, True, True, 1, 1)
    assert data.visualizer.visdom.enable is False


def test_a_field_missing_from_the_file_is_none(tmp_path):
    inner = reference_config()
    del inner["dataloader"]["num_workers"], inner["train"]["generator"]["learning_rate"]
    del inner["visualizer"]
    data = ConfigManager(write_config(tmp_path / "c.json", inner)).data
    assert data.dataloader.num_workers is None and data.dataloader.batch_size == 1
    assert data.train.generator.learning_rate is None
    assert data.visualizer is None
    # The default file's augmentations are 'both', 'input', 'target'; the reference's
    # dataclass names 'output', which is therefore None.
    assert ConfigManager().data.dataloader.augmentations.output is None


def test_load_config_section_builds_nested_dataclasses():
    raw = ConfigManager().raw
    train = ConfigManager.load_config_section(raw["train"], ConfigTrain)
    assert train.loss == ConfigLoss(1.0, 100.0, 0.0, 0.0, 0.0, 0.0)
    assert train.discriminator.optimizer == ConfigOptimizer(0.5)
    assert ConfigManager().load_config_section({"beta1": 0.9, "other": 1}, ConfigOptimizer) \
        == ConfigOptimizer(0.9)
    with pytest.raises(TypeError, match="ConfigTrain.loss must be a dict.*got int: 3"):
        ConfigManager.load_config_section({**raw["train"], "loss": 3}, ConfigTrain)


def test_load_full_config_rebuilds_data_from_raw():
    manager = ConfigManager()
    manager.raw["train"]["loss"]["lambda_l1"] = 7.0
    assert manager.data.train.loss.lambda_l1 == 100.0
    assert manager.load_full_config().train.loss.lambda_l1 == 7.0


def test_export_config_numbers_the_files(tmp_path):
    manager = ConfigManager(reference_config({"common.experiment_version": 3}))
    (tmp_path / "other_config.json").write_text("{}")
    (tmp_path / "notes.json").write_text("{}")
    manager.export_config(tmp_path)
    manager.export_config(str(tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["notes.json", "other_config.json", "train2_config.json",
                     "train3_config.json"]
    expected = json.dumps({"config": manager.raw}, indent=4)
    assert (tmp_path / "train2_config.json").read_text() == expected
    assert json.loads(expected)["config"]["common"]["experiment_version"] == 3
    with pytest.raises(FileNotFoundError, match="nowhere"):
        manager.export_config(tmp_path / "nowhere")


def test_group_schema_and_t():
    assert GROUP_SCHEMA == {"common": ConfigCommon, "dataloader": ConfigDataloader,
                            "train": ConfigTrain, "save": ConfigSave,
                            "visualizer": ConfigVisualizer}
    assert isinstance(cm_module.T, typing.TypeVar)


# TorchScheduler -----------------------------------------------------------------------------


def test_torch_scheduler_is_a_scheduler_around_a_lambda_lr():
    optimizer = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=2.0)
    schedule = Schedule(start_epoch=1, end_epoch=5, initial_value=2.0, target_value=1.0)
    scheduler = TorchScheduler(optimizer, schedule)
    assert isinstance(scheduler, Scheduler)
    assert isinstance(scheduler.scheduler, torch.optim.lr_scheduler.LambdaLR)
    assert scheduler.scheduler.optimizer is optimizer
    # Shifted to 0..4: value(k) = 2 - k / 4, multiplier value / 2.
    assert scheduler.eval_schedule(2) == pytest.approx(0.75, abs=1e-12)
    assert schedule.current_value == pytest.approx(1.5, abs=1e-12)
    assert scheduler.scheduler.get_last_lr() == [2.0]
    optimizer.step()
    scheduler.step()
    assert scheduler.scheduler.get_last_lr() == pytest.approx([1.75], abs=1e-12)
    assert scheduler.get_lr() == pytest.approx((2.0, 1.75), abs=1e-12)


# LMHistory ------------------------------------------------------------------------------------


def test_lm_history_defaults_to_new_empty_lists():
    a, b = LMHistory(), LMHistory()
    assert (a.losses, a.weights) == ([], [])
    a.losses.append(1.0)
    assert b.losses == [] and a.weights is not b.weights


# LossManager ---------------------------------------------------------------------------------


def l1_manager(tmp_path, **kwargs):
    manager = LossManager(None, tmp_path / "exp", **kwargs)
    manager.register_loss_fn("L1", nn.L1Loss())
    return manager


def call(manager, value, **kwargs):
    return manager.compute_loss_xy("L1", torch.full((1, 1, 2, 2), value),
                                   torch.zeros(1, 1, 2, 2), **kwargs)


def test_buffer_size_set_after_construction_moves_the_threshold(tmp_path):
    manager = l1_manager(tmp_path)
    assert manager.buffer_size == 50000
    manager.buffer_size = 3
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        call(manager, value)
    # The 4th call finds 3 values: they go to the log first (REFERENCE.md: Buffer).
    assert manager.loss_fns["L1"].history.losses == [4.0, 5.0]
    logged = json.loads(manager.loss_log.read_text())["LOSSMANAGER_LOG"]["loss_functions"]
    assert logged == {"L1": {"loss": [1.0, 2.0, 3.0], "weights": [1.0, 1.0, 1.0]}}
    assert LossManager(None, tmp_path / "b", history_buffer_size=7).buffer_size == 7


@pytest.mark.parametrize(("size", "error"), [(0, ValueError), (-1, ValueError),
                                             (2.5, TypeError), (True, TypeError),
                                             ("3", TypeError)])
def test_buffer_size_must_be_a_positive_int(tmp_path, size, error):
    manager = l1_manager(tmp_path)
    with pytest.raises(error, match=f"buffer_size.*positive int, got .*{size!r}"):
        manager.buffer_size = size
    assert manager.buffer_size == 50000
    with pytest.raises(error, match="history_buffer_size"):
        LossManager(None, tmp_path, history_buffer_size=size)


def test_loss_log_is_the_logs_path(tmp_path):
    manager = l1_manager(tmp_path)
    manager.export_base_log()
    assert manager.loss_log == tmp_path / "exp" / "loss_log.json"
    assert json.loads(manager.loss_log.read_text())["LOSSMANAGER_LOG"]["experiment"] == "exp"


def test_compute_loss_xyz_is_not_implemented(tmp_path):
    manager = l1_manager(tmp_path)
    with pytest.raises(NotImplementedError, match="compute_loss_xy"):
        manager.compute_loss_xyz("L1", torch.zeros(1), torch.zeros(1), torch.zeros(1))


def test_compute_loss_xy_takes_loss_kwargs(tmp_path):
    manager = LossManager(None, tmp_path)
    manager.register_loss_fn("L1", nn.L1Loss(), schedule=Schedule(
        schedule="exponential", start_epoch=1, end_epoch=3, initial_value=1.0,
        target_value=0.0))
    x, y = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    # Shifted to 0..2; at epoch 1 the sample is 1/2 and both values are raised to
    # epsilon when one is 0: 1 * (eps / 1) ** 0.5.
    assert manager.compute_loss_xy("L1", x, y, 1, {}).item() == pytest.approx(1e-9 ** 0.5)
    weighted = manager.compute_loss_xy("L1", x, y, epoch=1,
                                       loss_kwargs={"weight_kwargs": {"epsilon": 1e-4}})
    assert weighted.item() == pytest.approx(1e-2)
    with pytest.raises(TypeError, match="loss_kwargs must be a dict.*got list"):
        manager.compute_loss_xy("L1", x, y, 1, [("weight_kwargs", {})])


def test_get_loss_tensors_after_init_from_spec_are_the_zero_placeholders(tmp_path):
    path = write_config(tmp_path / "c.json", reference_config(
        {"dataloader.load.crop_size": 64, "dataloader.load.input_nc": 2}))
    config = ConfigManager(path).data
    manager = LossManager(config, tmp_path / "exp")
    manager.init_from_spec(pix2pix, config)
    tensors = manager.get_loss_tensors()
    assert list(tensors) == ["G_GAN", "G_L1", "D_real", "D_fake"]
    for tensor in tensors.values():
        assert tensor.shape == (1, 2, 64, 64) and tensor.device.type == "cpu"
        assert tensor.abs().sum().item() == 0.0
    call_l1 = manager.compute_loss_xy("G_L1", torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    assert manager.get_loss_tensors()["G_L1"].shape == call_l1.shape == ()


@pytest.mark.parametrize(("setting", "value", "error", "match"), [
    ("dataloader.load.crop_size", None, ValueError,
     r"config\.dataloader\.load\.crop_size, which this "),
    ("dataloader.load.crop_size", 0, ValueError, r"crop_size must be a positive int, got 0"),
    ("dataloader.load.input_nc", 2.0, TypeError,
     r"input_nc must be a positive int, got float: 2\.0"),
    ("common.device", None, ValueError, r"config\.common\.device"),
])
def test_a_config_lacking_what_the_manager_reads_is_a_clear_error(tmp_path, setting, value,
                                                                  error, match):
    path = write_config(tmp_path / "c.json", reference_config({setting: value}))
    with pytest.raises(error, match=match):
        LossManager(ConfigManager(path).data, tmp_path / "exp")


# pix2pix ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("subspec", "names"), [
    ("basic", ["G_GAN", "G_L1", "D_real", "D_fake"]),
    ("extended", ["G_GAN", "G_L1", "D_real", "D_fake", "G_L2", "G_SOBEL", "G_LAP"]),
    ("extended+vgg", ["G_GAN", "G_L1", "D_real", "D_fake", "G_L2", "G_SOBEL", "G_LAP",
                      "G_VGG"]),
])
def test_pix2pix_registers_in_the_reference_order(tmp_path, monkeypatch, subspec, names):
    weights = tmp_path / "vgg19.pth"
    torch.save({f"features.{k}": v for k, v in vgg19_features().state_dict().items()}, weights)
    monkeypatch.setenv("NECTARGAN_VGG19_WEIGHTS", str(weights))
    manager = LossManager(None, tmp_path / "exp")
    manager.init_from_spec(pix2pix, ConfigManager().data, subspec)
    assert list(manager.loss_fns) == names
    logits = torch.zeros(1, 1, 2, 2)
    for name in names:
        pair = (logits, torch.ones_like(logits)) if name in ("G_GAN", "D_real", "D_fake") \
            else (torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
        manager.compute_loss_xy(name, *pair)
    line = manager.print_losses(1, 1, capture=True)
    assert [part.rstrip(":") for part in line.split()[5::2]] == names


# Sobel / Laplacian --------------------------------------------------------------------------


def test_sobel_and_laplacian_take_fake_and_real_as_keywords():
    torch.manual_seed(0)
    fake, real = torch.rand(2, 3, 5, 6, dtype=torch.float64), torch.rand(2, 3, 5, 6,
                                                                          dtype=torch.float64)
    assert Sobel()(fake=fake, real=real).item() == pytest.approx(
        sobel_loss(fake.numpy(), real.numpy()), rel=1e-12)
    assert Laplacian()(real=real, fake=fake).item() == pytest.approx(
        laplacian_loss(fake.numpy(), real.numpy()), rel=1e-12)


def test_stencil_kernels_are_buffers_with_the_reference_names():
    sobel, laplacian = Sobel().state_dict(), Laplacian().state_dict()
    assert list(sobel) == ["sobel_x", "sobel_y"] and list(laplacian) == ["kernel"]
    assert sobel["sobel_x"].tolist() == [[[[1, 0, -1], [2, 0, -2], [1, 0, -1]]]]
    assert sobel["sobel_y"].tolist() == [[[[1, 2, 1], [0, 0, 0], [-1, -2, -1]]]]
    assert laplacian["kernel"].tolist() == [[[[0, 1, 0], [1, -4, 1], [0, 1, 0]]]]
    assert all(t.dtype == torch.float32 for t in [*sobel.values(), *laplacian.values()])


def test_a_reference_state_dict_loads_and_is_used():
    # A state dict as the reference saves it: the buffers under their names.
    identity = torch.zeros(1, 1, 3, 3)
    identity[0, 0, 1, 1] = 1.0
    laplacian = Laplacian()
    laplacian.load_state_dict({"kernel": identity})
    fake, real = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    assert laplacian(fake, real).item() == 1.0  # the identity stencil: mean |1 - 0|
    sobel = Sobel()
    sobel.load_state_dict({"sobel_x": identity, "sobel_y": torch.zeros(1, 1, 3, 3)})
    assert sobel(fake, real).item() == pytest.approx((1 + 1e-6) ** 0.5 - 1e-3, rel=1e-6)
    with pytest.raises(RuntimeError, match="sobel_y"):
        Sobel().load_state_dict({"sobel_x": identity})


# VGGPerceptual ------------------------------------------------------------------------------


@pytest.fixture
def vgg_state(tmp_path):
    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in vgg19_features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    return state


def save(state, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def first_conv(module):
    return module.blocks[0][0].weight


def test_vgg_perceptual_finds_torchvisions_checkpoint(tmp_path, monkeypatch, vgg_state):
    monkeypatch.delenv("NECTARGAN_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    save(vgg_state, tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth")
    loss = VGGPerceptual()
    assert torch.equal(first_conv(loss), vgg_state["features.0.weight"])


def test_vgg_perceptual_environment_variable_and_keyword(tmp_path, monkeypatch, vgg_state):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from_env = save(vgg_state, tmp_path / "env.pth")
    other = {k: v + 1 for k, v in vgg_state.items()}
    from_keyword = save(other, tmp_path / "kw.pth")
    monkeypatch.setenv("NECTARGAN_VGG19_WEIGHTS", str(from_env))
    assert torch.equal(first_conv(VGGPerceptual()), vgg_state["features.0.weight"])
    assert torch.equal(first_conv(VGGPerceptual(weights_path=from_keyword)),
                       other["features.0.weight"])
    monkeypatch.setenv("NECTARGAN_VGG19_WEIGHTS", str(tmp_path / "gone.pth"))
    with pytest.raises(FileNotFoundError, match=r"gone\.pth.*\$NECTARGAN_VGG19_WEIGHTS"):
        VGGPerceptual()


def test_vgg_perceptual_without_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("NECTARGAN_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    where = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    with pytest.raises(FileNotFoundError) as info:
        VGGPerceptual()
    message = str(info.value)
    assert f"Put that file at {where}" in message
    assert "NECTARGAN_VGG19_WEIGHTS" in message and "weights_path" in message
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert not where.exists()  # nothing was downloaded


def test_vgg_perceptual_attributes(tmp_path, monkeypatch, vgg_state):
    monkeypatch.setenv("NECTARGAN_VGG19_WEIGHTS", str(save(vgg_state, tmp_path / "w.pth")))
    loss = VGGPerceptual()
    assert isinstance(loss.blocks, nn.ModuleList) and len(loss.blocks) == 3
    assert [list(dict(block.named_children())) for block in loss.blocks] == [
        ["0", "1", "2", "3"], ["4", "5", "6", "7", "8"],
        ["9", "10", "11", "12", "13", "14", "15"]]
    assert list(loss.layer_weights) == [1.0, 1.0, 1.0]
    assert isinstance(loss.L1, nn.L1Loss)
    # torchvision's keys, under blocks.<slice>.<features index>: a reference state dict loads.
    assert "blocks.1.5.weight" in loss.state_dict() and "blocks.2.14.bias" in loss.state_dict()
    loss.load_state_dict(VGGPerceptual().state_dict())


# Schedule.NO_ARG -------------------------------------------------------------------------------


def test_schedule_no_arg_is_a_class_sentinel():
    assert type(Schedule.NO_ARG) is object
    assert Schedule().NO_ARG is Schedule.NO_ARG
    assert "NO_ARG" not in [f.name for f in dataclasses.fields(Schedule)]
    assert Schedule(start_epoch=2, end_epoch=5) == Schedule(start_epoch=2, end_epoch=5)
