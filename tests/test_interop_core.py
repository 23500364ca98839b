"""interop against the JAX core: schedule and manager conversion, DLPack, parity."""

from __future__ import annotations

import doctest
import importlib

from hypothesis import given
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from helpers import HYPOTHESIS_SETTINGS
from interop_configs import reference_config
import interop
from interop import LossManager, Schedule, ScheduleDefs, pix2pix, to_core_manager
from interop import to_core_schedule, to_jax, to_torch
import nectargan_jax
from nectargan_jax import losses as core_losses

MODULES = {
    "interop.scheduling.data": ["Schedule"],
    "interop.scheduling.schedules": ["ScheduleDefs", "schedule_map"],
    "interop.scheduling.scheduler": ["Scheduler"],
    "interop.scheduling.scheduler_torch": ["TorchScheduler"],
    "interop.losses.lm_data": ["LMHistory", "LMLoss"],
    "interop.losses.loss_manager": ["LossManager"],
    "interop.losses.losses": ["Sobel", "Laplacian", "VGGPerceptual"],
    "interop.losses.pix2pix_objective": ["pix2pix"],
    "interop.config.config_manager": ["ConfigManager", "GROUP_SCHEMA", "T"],
    "interop.config.config_data": ["Config", "ConfigCommon", "ConfigDataloader", "ConfigTrain",
                                   "ConfigSave", "ConfigVisualizer"],
    "interop.dlpack": ["to_jax", "to_torch"],
    "interop.migrate": ["to_core_schedule", "to_core_manager"],
}
FLAT = ["Schedule", "schedule_map", "ScheduleDefs", "Scheduler", "TorchScheduler", "LMHistory",
        "LMLoss", "LossManager", "Sobel", "Laplacian", "VGGPerceptual", "pix2pix",
        "ConfigManager", "Config", "GROUP_SCHEMA", "to_jax", "to_torch", "to_core_schedule",
        "to_core_manager"]


def test_reference_module_paths_and_flat_exports():
    for path, names in MODULES.items():
        module = importlib.import_module(path)
        assert module.__file__.endswith(path.split(".")[-1] + ".py")
        for name in names:
            assert hasattr(module, name), (path, name)
    assert sorted(interop.__all__) == sorted(FLAT)
    assert interop.Schedule is importlib.import_module("interop.scheduling.data").Schedule


@pytest.mark.parametrize("path", sorted(MODULES))
def test_docstring_examples_run(path):
    result = doctest.testmod(importlib.import_module(path))
    assert result.attempted > 0 and result.failed == 0


# to_core_schedule ----------------------------------------------------------------------------


def test_default_schedule_becomes_a_constant_of_its_current_value():
    s = Schedule()
    s.current_value = 100.0
    core = to_core_schedule(s)
    assert isinstance(core, nectargan_jax.Schedule) and core.schedule == "constant"
    assert [float(core(e)) for e in (0, 50, 10**8)] == [100.0] * 3
    quirk = Schedule(schedule="exponential", start_epoch=1, end_epoch=10_000_001,
                     initial_value=5.0, target_value=0.0)
    assert float(to_core_schedule(quirk)(1000)) == 5.0


def test_converted_schedule_keeps_kind_numbers_and_options():
    s = Schedule(schedule="exponential", start_epoch=10, end_epoch=20, initial_value=2.0,
                 target_value=0.0)
    core = to_core_schedule(s, epsilon=1e-3)
    assert (core.schedule, float(core.start_epoch), float(core.end_epoch)) == \
        ("exponential", 9.0, 19.0)
    assert dict(core.options) == {"epsilon": 1e-3}
    assert float(core(19)) == pytest.approx(
        ScheduleDefs.exponential(s, 19, epsilon=1e-3), rel=1e-6)


def numbers():
    value = st.floats(-5.0, 5.0, allow_nan=False).map(lambda v: round(v, 3))
    return st.tuples(st.integers(-5, 50), st.integers(1, 60), value, value,
                     st.integers(-10, 120))


@HYPOTHESIS_SETTINGS
@given(numbers())
def test_linear_interop_values_equal_the_core(case):
    start, span, initial, target, epoch = case
    s = Schedule(start_epoch=start, end_epoch=start + span, initial_value=initial,
                 target_value=target)
    expected = float(to_core_schedule(s)(epoch))
    assert ScheduleDefs.linear(s, epoch) == pytest.approx(expected, rel=1e-6, abs=1e-6)


@HYPOTHESIS_SETTINGS
@given(numbers())
def test_exponential_interop_values_equal_the_core(case):
    start, span, initial, target, epoch = case
    s = Schedule(schedule="exponential", start_epoch=start, end_epoch=start + span,
                 initial_value=abs(initial), target_value=abs(target))
    expected = float(to_core_schedule(s)(epoch))
    assert ScheduleDefs.exponential(s, epoch) == pytest.approx(expected, rel=1e-5, abs=1e-12)


def test_manager_weights_equal_the_core_schedule_at_every_epoch(tmp_path):
    manager = LossManager(None, tmp_path)
    schedules = {
        "lin": Schedule(start_epoch=5, end_epoch=25, initial_value=100.0, target_value=0.0),
        "exp": Schedule(schedule="exponential", start_epoch=1, end_epoch=30, initial_value=1.0,
                        target_value=1e-3),
        "const": None,
    }
    for name, schedule in schedules.items():
        manager.register_loss_fn(name, torch.nn.L1Loss(), loss_weight=3.0, schedule=schedule)
    core = {name: to_core_schedule(entry.schedule) for name, entry in manager.loss_fns.items()}
    x, y = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    for epoch in range(0, 35, 3):
        for name in schedules:
            weighted = manager.compute_loss_xy(name, x, y, epoch=epoch).item()
            assert weighted == pytest.approx(float(core[name](epoch)), rel=1e-6)


def test_jnp_callable_schedules_convert():
    def halving(schedule, epoch):
        steps = jnp.clip(epoch - schedule.start_epoch, 0, None)
        return schedule.initial_value * 0.5 ** steps

    s = Schedule(schedule=halving, start_epoch=3, end_epoch=10, initial_value=8.0)
    core = to_core_schedule(s)
    assert [float(core(e)) for e in (0, 2, 3, 5)] == [8.0, 8.0, 4.0, 1.0]
    assert float(jax.jit(core)(jnp.float32(4))) == pytest.approx(float(halving(s, 4)))


def test_python_callable_schedules_are_a_clear_error():
    def python_only(schedule, epoch):
        return schedule.initial_value if epoch < schedule.start_epoch else 0.0

    s = Schedule(schedule=python_only, start_epoch=3, end_epoch=10)
    with pytest.raises(TypeError, match="'python_only' is not core-compatible"):
        to_core_schedule(s)


def test_unknown_schedule_name_cannot_convert():
    schedule = Schedule(end_epoch=10)
    schedule.schedule = "cosine"  # Schedule(schedule='cosine') itself is a ValueError
    with pytest.raises(KeyError, match="'cosine'"):
        to_core_schedule(schedule)


# to_core_manager ------------------------------------------------------------------------------


def test_to_core_manager_keeps_names_tags_weights_and_values(tmp_path):
    manager = LossManager(None, tmp_path)
    manager.init_from_spec(pix2pix, reference_config(
        {"train.loss.lambda_sobel": 2.0, "train.loss.lambda_laplacian": 3.0}), "extended")
    manager.loss_fns["G_L1"].schedule = Schedule(start_epoch=1, end_epoch=11,
                                                 initial_value=100.0, target_value=0.0)
    core = to_core_manager(manager)
    assert isinstance(core, nectargan_jax.manager.LossManager)
    assert core.names == tuple(manager.loss_fns)
    assert [e.tags for e in core.entries] == [tuple(l.tags) for l in manager.loss_fns.values()]
    torch.manual_seed(0)
    fake, real = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    logits = torch.randn(1, 1, 4, 4)
    inputs = {"G_GAN": (logits, torch.ones_like(logits)), "G_L1": (fake, real),
              "G_L2": (fake, real), "G_SOBEL": (fake, real), "G_LAP": (fake, real),
              "D_real": (logits, torch.ones_like(logits)),
              "D_fake": (logits, torch.zeros_like(logits))}
    for epoch in (0, 5):
        (_, theirs, _), core = core.compute_many(
            {name: (to_jax(x), to_jax(y)) for name, (x, y) in inputs.items()}, epoch=epoch)
        for name, (x, y) in inputs.items():
            ours = manager.compute_loss_xy(name, x, y, epoch=epoch).item()
            assert ours == pytest.approx(float(theirs[name]), rel=1e-5, abs=1e-7), (name, epoch)
    assert float(core.weight("G_L1", 5)) == pytest.approx(50.0)
    assert (core.capacity, core.keep_history) == (50000, True)


def test_to_core_manager_keeps_the_buffer_size_and_logging_mode(tmp_path):
    manager = LossManager(None, tmp_path, enable_logging=False, history_buffer_size=16)
    manager.register_loss_fn("L1", torch.nn.L1Loss())
    core = to_core_manager(manager)
    assert (core.capacity, core.keep_history) == (16, False)


def test_to_core_manager_rejects_modules_without_core_equivalent(tmp_path):
    manager = LossManager(None, tmp_path)
    manager.register_loss_fn("smooth", torch.nn.SmoothL1Loss())
    with pytest.raises(TypeError, match="'smooth'.*SmoothL1Loss"):
        to_core_manager(manager)
    manager.init_from_spec(None)
    manager.register_loss_fn("sum", torch.nn.L1Loss(reduction="sum"))
    with pytest.raises(ValueError, match=r"L1Loss\(reduction='sum'\)"):
        to_core_manager(manager)


# Weighted losses against the core functions ---------------------------------------------------


@pytest.mark.parametrize(("module", "core_fn"), [
    (torch.nn.L1Loss(), core_losses.l1), (torch.nn.MSELoss(), core_losses.mse),
    (torch.nn.BCEWithLogitsLoss(), core_losses.bce_with_logits),
    (interop.Sobel(), core_losses.ImageLoss(core_losses.sobel, "NCHW")),
    (interop.Laplacian(), core_losses.ImageLoss(core_losses.laplacian, "NCHW"))])
def test_weighted_losses_match_the_core_functions(tmp_path, module, core_fn):
    manager = LossManager(None, tmp_path)
    schedule = Schedule(start_epoch=2, end_epoch=12, initial_value=10.0, target_value=1.0)
    manager.register_loss_fn("loss", module, schedule=schedule)
    core_schedule = to_core_schedule(schedule)
    torch.manual_seed(0)
    x, y = torch.randn(2, 3, 9, 7), torch.rand(2, 3, 9, 7)
    for epoch in (0, 6, 20):
        ours = manager.compute_loss_xy("loss", x, y, epoch=epoch).item()
        theirs = float(core_fn(to_jax(x), to_jax(y)) * core_schedule(epoch))
        assert ours == pytest.approx(theirs, rel=1e-5)


# DLPack ----------------------------------------------------------------------------------------


def test_to_jax_shares_memory_on_the_cpu():
    tensor = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    array = to_jax(tensor)
    assert isinstance(array, jax.Array) and array.shape == (3, 4)
    assert array.unsafe_buffer_pointer() == tensor.data_ptr()
    tensor[0, 0] = 42.0
    assert float(array[0, 0]) == 42.0


def test_to_torch_shares_memory_on_the_cpu():
    array = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
    tensor = to_torch(array)
    assert tensor.data_ptr() == array.unsafe_buffer_pointer()
    assert tensor.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def test_round_trip_keeps_values_and_dtypes():
    for dtype in (torch.float32, torch.int32, torch.bool):
        tensor = torch.arange(5).to(dtype)
        back = to_torch(to_jax(tensor))
        assert back.dtype == dtype and torch.equal(back, tensor)
        assert back.data_ptr() == tensor.data_ptr()


def test_to_jax_detaches_tensors_that_require_grad():
    tensor = torch.ones(3, requires_grad=True)
    np.testing.assert_array_equal(np.asarray(to_jax(tensor * 2)), [2.0, 2.0, 2.0])


def test_to_jax_rejects_other_types():
    with pytest.raises(TypeError, match="to_jax takes a torch.Tensor, got list"):
        to_jax([1.0])
