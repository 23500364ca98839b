"""A small pix2pix training script written only against the reference's API.

``train`` below uses nothing but what REFERENCE.md documents for NectarGAN (with the
import prefix ``interop.`` instead of ``nectargan.``): a config file in the reference's
format -> ``ConfigManager`` -> the ``pix2pix`` spec in a ``LossManager`` ->
``TorchScheduler`` per network, ``export_base_log``, ``compute_loss_xy``,
``print_losses``, ``update_loss_log`` and ``export_config``. The test checks the log, the
console lines, the learning rates and the exported config against numbers derived by
hand from REFERENCE.md (the first iteration, whose values are all known in closed form)
and by NumPy versions of the formulas (every iteration).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from interop.config.config_manager import ConfigManager
from interop.losses.loss_manager import LossManager
from interop.losses.pix2pix_objective import pix2pix
from interop.scheduling.data import Schedule
from interop.scheduling.scheduler_torch import TorchScheduler
from interop_configs import reference_config
import interop_reference_math as ref

EPOCHS = 3
LAMBDAS = {"G_GAN": 1.0, "G_L1": 100.0, "D_real": 1.0, "D_fake": 1.0, "G_L2": 10.0,
           "G_SOBEL": 2.0, "G_LAP": 0.5}
ORDER = list(LAMBDAS)  # the reference's registration order


def train(config_path: Path, batches, record) -> tuple[LossManager, list, list]:
    """The training script: 1x1-conv generator and discriminator, pix2pix 'extended'.

    Both networks start at zero, so the first iteration's numbers are known by hand.
    ``record(name, x, y)`` sees every pair handed to ``compute_loss_xy``.

    Returns:
        The LossManager, the console lines and the ``(G, D)`` ``get_lr()`` pairs per epoch.
    """
    config_manager = ConfigManager(input_config=str(config_path))
    config = config_manager.data
    experiment_dir = Path(config.common.output_directory) / config.common.experiment_name
    experiment_dir.mkdir(parents=True)
    config_manager.export_config(experiment_dir)

    channels = config.dataloader.load.input_nc
    generator, discriminator = nn.Conv2d(channels, channels, 1), nn.Conv2d(2 * channels, 1, 1)
    for module in (generator, discriminator):
        nn.init.zeros_(module.weight)
        nn.init.zeros_(module.bias)
    schedulers = []
    optimizers = []
    for net, settings in ((generator, config.train.generator),
                          (discriminator, config.train.discriminator)):
        lr = settings.learning_rate
        optimizer = torch.optim.Adam(net.parameters(), lr=lr.initial,
                                     betas=(settings.optimizer.beta1, 0.999))
        optimizers.append(optimizer)
        schedulers.append(TorchScheduler(optimizer, Schedule(
            start_epoch=lr.epochs, end_epoch=1 + lr.epochs + lr.epochs_decay,
            initial_value=lr.initial, target_value=lr.target)))
    opt_g, opt_d = optimizers

    loss_manager = LossManager(config, experiment_dir)
    loss_manager.init_from_spec(pix2pix, config, "extended")
    loss_manager.export_base_log()

    def loss(name, x, y, epoch):
        record(name, x, y)
        return loss_manager.compute_loss_xy(name, x, y, epoch)

    lines, lrs = [], []
    for epoch in range(1, 1 + EPOCHS):
        for iteration, (x, y) in enumerate(batches, start=1):
            fake = generator(x)
            d_real = discriminator(torch.cat((x, y), 1))
            d_fake = discriminator(torch.cat((x, fake.detach()), 1))
            loss_d = 0.5 * (loss("D_real", d_real, torch.ones_like(d_real), epoch)
                            + loss("D_fake", d_fake, torch.zeros_like(d_fake), epoch))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()

            d_fake = discriminator(torch.cat((x, fake), 1))
            loss_g = (loss("G_GAN", d_fake, torch.ones_like(d_fake), epoch)
                      + loss("G_L1", fake, y, epoch) + loss("G_L2", fake, y, epoch)
                      + loss("G_SOBEL", fake, y, epoch) + loss("G_LAP", fake, y, epoch))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            lines.append(loss_manager.print_losses(epoch, iteration, capture=True))
        loss_manager.update_loss_log()
        for scheduler in schedulers:
            scheduler.step()
        lrs.append(tuple(scheduler.get_lr() for scheduler in schedulers))
    return loss_manager, lines, lrs


@pytest.fixture
def run(tmp_path):
    train_dir = tmp_path / "data" / "train"
    train_dir.mkdir(parents=True)
    for name in ("0.png", "1.png"):
        (train_dir / name).write_bytes(b"")
    inner = reference_config({
        "common.output_directory": str(tmp_path / "out"),
        "common.experiment_name": "tiny",
        "dataloader.dataroot": str(tmp_path / "data"),
        "dataloader.load.load_size": 4,
        "dataloader.load.crop_size": 4,
        "train.generator.learning_rate.epochs": 1,
        "train.generator.learning_rate.epochs_decay": 2,
        "train.generator.learning_rate.initial": 0.003,
        "train.discriminator.learning_rate.epochs": 1,
        "train.discriminator.learning_rate.epochs_decay": 2,
        "train.discriminator.learning_rate.initial": 0.006,
        "train.loss.lambda_l2": 10.0,
        "train.loss.lambda_sobel": 2.0,
        "train.loss.lambda_laplacian": 0.5,
    })
    config_path = tmp_path / "my_config.json"
    config_path.write_text(json.dumps({"config": inner}, indent=4))
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.rand(1, 3, 4, 4, generator=generator), torch.full((1, 3, 4, 4), 0.5)),
               (torch.rand(1, 3, 4, 4, generator=generator),
                torch.rand(1, 3, 4, 4, generator=generator))]
    calls = []

    def record(name, x, y):
        calls.append((name, x.detach().numpy().copy(), y.detach().numpy().copy()))

    manager, lines, lrs = train(config_path, batches, record)
    return {"manager": manager, "lines": lines, "lrs": lrs, "calls": calls, "inner": inner,
            "tmp_path": tmp_path}


def expected_values(calls) -> dict[str, list[float]]:
    """Each loss's weighted values, in order, from the NumPy formulas."""
    formulas = {"G_GAN": ref.bce_with_logits, "D_real": ref.bce_with_logits,
                "D_fake": ref.bce_with_logits, "G_L1": ref.l1_loss, "G_L2": ref.mse_loss,
                "G_SOBEL": ref.sobel_loss, "G_LAP": ref.laplacian_loss}
    values = {name: [] for name in ORDER}
    for name, x, y in calls:
        values[name].append(LAMBDAS[name] * formulas[name](x, y))
    return values


def test_first_iteration_by_hand(run):
    # Zero networks: fake = 0 and every logit 0. The discriminator's first Adam step moves
    # only the weights on its second input (the x terms of D_real and D_fake cancel), so
    # the generator's logits on (x, fake = 0) stay 0: each BCE is ln 2.
    # Real image 0.5 everywhere, 4x4, zero padding: Sobel magnitude sqrt(18 c^2 + 1e-6)
    # at the 4 corners, sqrt(16 c^2 + 1e-6) at the 8 edges, 1e-3 inside (and for fake);
    # Laplacian -2c at corners, -c at edges, 0 inside.
    c = 0.5
    sobel = (4 * (math.sqrt(18 * c * c + 1e-6) - 1e-3)
             + 8 * (math.sqrt(16 * c * c + 1e-6) - 1e-3)) / 16
    laplacian = (4 * 2 * c + 8 * c) / 16
    first = {name: values[0] for name, values in expected_values(run["calls"]).items()}
    by_hand = {"G_GAN": math.log(2), "G_L1": 100 * c, "D_real": math.log(2),
               "D_fake": math.log(2), "G_L2": 10 * c * c, "G_SOBEL": 2 * sobel,
               "G_LAP": 0.5 * laplacian}
    assert first == pytest.approx(by_hand, rel=1e-6)
    log = json.loads(run["manager"].loss_log.read_text())["LOSSMANAGER_LOG"]
    assert {n: v["loss"][0] for n, v in log["loss_functions"].items()} == \
        pytest.approx(by_hand, rel=1e-6)
    assert round(by_hand["G_SOBEL"], 2) == 3.06
    assert run["lines"][0] == ("(epoch: 1, iters: 1) Loss: G_GAN: 0.69 G_L1: 50.0 D_real: 0.69 "
                               "D_fake: 0.69 G_L2: 2.5 G_SOBEL: 3.06 G_LAP: 0.25")


def test_log_holds_every_value_and_weight_in_order(run):
    manager, tmp_path = run["manager"], run["tmp_path"]
    assert manager.loss_log == tmp_path / "out" / "tiny" / "loss_log.json"
    log = json.loads(manager.loss_log.read_text())
    assert list(log) == ["LOSSMANAGER_LOG"]
    body = log["LOSSMANAGER_LOG"]
    assert {k: v for k, v in body.items() if k != "loss_functions"} == {
        "device": "cpu", "dataroot": str(tmp_path / "data"), "dataset_length": 2,
        "experiment": "tiny"}
    assert list(body["loss_functions"]) == ORDER
    expected = expected_values(run["calls"])
    for name in ORDER:
        entry = body["loss_functions"][name]
        assert list(entry) == ["loss", "weights"]
        assert len(entry["loss"]) == EPOCHS * 2
        assert entry["loss"] == pytest.approx(expected[name], rel=1e-5, abs=1e-7), name
        assert entry["weights"] == [LAMBDAS[name]] * (EPOCHS * 2)
    assert all(not loss.history.losses for loss in manager.loss_fns.values())


def test_console_lines(run):
    expected = expected_values(run["calls"])
    lines = []
    for step in range(EPOCHS * 2):
        epoch, iteration = 1 + step // 2, 1 + step % 2
        values = " ".join(f"{n}: {round(expected[n][step], 2)}" for n in ORDER)
        lines.append(f"(epoch: {epoch}, iters: {iteration}) Loss: {values}")
    assert run["lines"] == lines
    assert run["manager"].print_weights(capture=True) == (
        "Loss weights: G_GAN: 1.0 G_L1: 100.0 D_real: 1.0 D_fake: 1.0 G_L2: 10.0 "
        "G_SOBEL: 2.0 G_LAP: 0.5")


def test_learning_rates_follow_the_trainers_schedule(run):
    # Schedule(start_epoch=1, end_epoch=1 + 1 + 2): shifted to 0..3, so after the k-th
    # step() the lr is initial * (1 - k / 3).
    assert len(run["lrs"]) == EPOCHS
    for k, (lr_g, lr_d) in enumerate(run["lrs"], start=1):
        for lr, initial in ((lr_g, 0.003), (lr_d, 0.006)):
            assert lr == pytest.approx((initial * (1 - (k - 1) / 3), initial * (1 - k / 3)),
                                       rel=1e-12, abs=1e-18)


def test_exported_config_is_the_file_given(run):
    folder = run["tmp_path"] / "out" / "tiny"
    assert sorted(p.name for p in folder.glob("*config.json")) == ["train1_config.json"]
    assert (folder / "train1_config.json").read_text() == json.dumps(
        {"config": run["inner"]}, indent=4)


def test_placeholders_are_the_configs_crop_size(tmp_path):
    inner = reference_config({"dataloader.load.crop_size": 4, "dataloader.load.input_nc": 1})
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": inner}))
    config = ConfigManager(str(path)).data
    manager = LossManager(config, tmp_path / "exp")
    manager.init_from_spec(pix2pix, config, "extended")
    tensors = manager.get_loss_tensors()
    assert list(tensors) == ORDER
    assert all(t.shape == (1, 1, 4, 4) and t.device.type == "cpu" and not t.any()
               for t in tensors.values())
    assert np.array_equal(tensors["G_L1"].numpy(), np.zeros((1, 1, 4, 4), np.float32))
