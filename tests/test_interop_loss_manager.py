"""interop's LMLoss and LossManager (registration, computation, queries, console)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from interop import ConfigManager, LMHistory, LMLoss, LossManager, Schedule, pix2pix
from interop_configs import reference_config


class MovedL1(torch.nn.L1Loss):
    """An L1Loss that records the devices it was moved to."""

    def __init__(self):
        super().__init__()
        self.moved_to = []

    def to(self, *args, **kwargs):
        self.moved_to.append(args[0] if args else kwargs.get("device"))
        return super().to(*args, **kwargs)


@pytest.fixture
def manager(tmp_path):
    return LossManager(None, tmp_path / "exp")


def pair(seed: int = 0, shape=(1, 3, 4, 4)):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)


# LMHistory / LMLoss -------------------------------------------------------------------


def test_lm_history_fields():
    history = LMHistory([1.0], [2.0])
    assert (history.losses, history.weights) == ([1.0], [2.0])
    assert LMHistory(weights=[3.0]) == LMHistory([], [3.0])


def test_lm_loss_defaults_and_unscheduled_post_init():
    loss = LMLoss("a", torch.nn.L1Loss(), loss_weight=100.0)
    assert loss.schedule == Schedule() and loss.schedule.current_value == 100.0
    assert loss.last_loss_map.numel() == 0
    assert (loss.history.losses, loss.history.weights, loss.tags) == ([], [], [])
    other = LMLoss("b", torch.nn.L1Loss())
    assert other.schedule is not loss.schedule and other.history is not loss.history
    assert other.tags is not loss.tags


def test_lm_loss_scheduled_post_init_replaces_loss_weight():
    schedule = Schedule(end_epoch=10, initial_value=7.0, target_value=0.0)
    loss = LMLoss("a", torch.nn.L1Loss(), loss_weight=100.0, schedule=schedule)
    assert loss.loss_weight == 7.0 and loss.schedule.current_value == 7.0


def test_lm_loss_equality_quirk_counts_as_default():
    quirk = Schedule(start_epoch=1, end_epoch=10_000_001, initial_value=5.0)
    loss = LMLoss("a", torch.nn.L1Loss(), loss_weight=3.0, schedule=quirk)
    assert loss.schedule.current_value == 3.0 and loss.loss_weight == 3.0


# Construction -------------------------------------------------------------------------


CONFIG = reference_config({"dataloader.dataroot": "/data", "dataloader.load.input_nc": 1,
                           "dataloader.load.crop_size": 4})


@pytest.mark.parametrize("form", ["dict", "path", "manager", "data", "object"])
def test_config_forms(tmp_path, form):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"config": CONFIG}))
    config = {
        "dict": CONFIG,
        "path": str(path),
        "manager": ConfigManager(CONFIG),
        "data": ConfigManager(path).data,
        "object": SimpleNamespace(
            common=SimpleNamespace(device="cpu"),
            dataloader=SimpleNamespace(dataroot="/data", load=SimpleNamespace(
                input_nc=1, crop_size=4))),
    }[form]
    manager = LossManager(config, tmp_path)
    manager.register_loss_fn("a", torch.nn.L1Loss())
    assert manager.loss_fns["a"].last_loss_map.shape == (1, 1, 4, 4)
    assert not manager.loss_fns["a"].last_loss_map.any()
    assert (manager.device, manager.dataroot) == ("cpu", "/data")


def test_default_config_is_cpu_256(manager):
    manager.register_loss_fn("a", torch.nn.L1Loss())
    assert manager.device == "cpu"
    assert manager.loss_fns["a"].last_loss_map.shape == (1, 3, 256, 256)


# Registration ------------------------------------------------------------------------------


def test_register_loss_fn_builds_an_lm_loss_and_moves_it(manager):
    fn = MovedL1()
    manager.register_loss_fn("L1", fn, loss_weight=10.0, tags=["G"])
    entry = manager.loss_fns["L1"]
    assert isinstance(entry, LMLoss)
    assert (entry.name, entry.function, entry.loss_weight, entry.tags) == ("L1", fn, 10.0, ["G"])
    assert entry.schedule.current_value == 10.0
    assert fn.moved_to == ["cpu"]


def test_register_loss_fn_accepts_plain_functions(manager):
    manager.register_loss_fn("l1", torch.nn.functional.l1_loss, loss_weight=2.0)
    x, y = pair()
    assert manager.compute_loss_xy("l1", x, y).item() == pytest.approx(
        2 * (x - y).abs().mean().item())


def test_register_duplicate_name_is_a_value_error(manager):
    manager.register_loss_fn("a", torch.nn.L1Loss())
    with pytest.raises(ValueError, match="'a' is already registered"):
        manager.register_loss_fn("a", torch.nn.MSELoss())


def test_d1_each_loss_owns_its_default_schedule_and_tags(manager):
    manager.register_loss_fn("a", torch.nn.L1Loss(), loss_weight=100.0)
    manager.register_loss_fn("b", torch.nn.L1Loss(), loss_weight=1.0)
    a, b = manager.loss_fns["a"], manager.loss_fns["b"]
    assert a.schedule is not b.schedule and a.tags is not b.tags
    assert manager.get_loss_weights() == {"a": 100.0, "b": 1.0}
    x, y = pair()
    base = (x - y).abs().mean().item()
    assert manager.compute_loss_xy("a", x, y).item() == pytest.approx(100 * base)
    assert manager.compute_loss_xy("b", x, y).item() == pytest.approx(base)
    a.tags.append("G")
    assert b.tags == []


def test_register_copies_the_tags_given(manager):
    tags = ["G"]
    manager.register_loss_fn("a", torch.nn.L1Loss(), tags=tags)
    tags.append("D")
    assert manager.loss_fns["a"].tags == ["G"]


# init_from_spec ---------------------------------------------------------------------------


def test_init_from_spec_replaces_registered_losses(manager):
    manager.register_loss_fn("old", torch.nn.L1Loss())
    manager.init_from_spec(pix2pix, None, subspec="extended")
    assert list(manager.loss_fns) == ["G_GAN", "G_L1", "D_real", "D_fake", "G_L2", "G_SOBEL",
                                      "G_LAP"]


def test_init_from_spec_passes_args_and_kwargs(manager):
    seen = {}

    def spec(*args, **kwargs):
        seen.update(args=args, kwargs=kwargs)
        return {"x": LMLoss("x", torch.nn.L1Loss())}

    manager.init_from_spec(spec, 1, 2, k=3)
    assert seen == {"args": (1, 2), "kwargs": {"k": 3}}
    assert list(manager.loss_fns) == ["x"]


def test_init_from_spec_none_empties(manager):
    manager.register_loss_fn("a", torch.nn.L1Loss())
    manager.init_from_spec(None)
    assert manager.loss_fns == {}


def test_init_from_spec_failures_are_runtime_errors(manager):
    def broken():
        raise OSError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone") as info:
        manager.init_from_spec(broken)
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(RuntimeError, match="'bad' is a Linear, not an LMLoss"):
        manager.init_from_spec(lambda: {"bad": torch.nn.Linear(1, 1)})
    with pytest.raises(RuntimeError, match="returned list, not a dict"):
        manager.init_from_spec(lambda: [])
    with pytest.raises(RuntimeError, match="Unknown pix2pix subspec"):
        manager.init_from_spec(pix2pix, None, "nope")


# compute_loss_xy ---------------------------------------------------------------------------


def test_compute_unknown_name_lists_the_valid_names(manager):
    manager.register_loss_fn("G_L1", torch.nn.L1Loss())
    manager.register_loss_fn("D_real", torch.nn.BCEWithLogitsLoss())
    with pytest.raises(KeyError, match=r"'nope'.*\['G_L1', 'D_real'\]"):
        manager.compute_loss_xy("nope", *pair())


def test_compute_weights_records_and_returns(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(), loss_weight=100.0)
    x, y = pair()
    weighted = manager.compute_loss_xy("L1", x, y)
    expected = 100 * (x - y).abs().mean()
    assert weighted.item() == pytest.approx(expected.item())
    entry = manager.loss_fns["L1"]
    assert torch.equal(entry.last_loss_map, weighted.detach())
    assert entry.last_loss_map.device.type == "cpu" and not entry.last_loss_map.requires_grad
    assert entry.history.losses == [pytest.approx(expected.item())]
    assert entry.history.weights == [100.0]


def test_last_loss_map_is_a_copy(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(reduction="none"))
    x, y = pair()
    weighted = manager.compute_loss_xy("L1", x, y)
    weighted.mul_(0)
    entry = manager.loss_fns["L1"]
    assert torch.allclose(entry.last_loss_map, (x - y).abs())
    assert entry.history.losses == [pytest.approx((x - y).abs().mean().item())]


def test_gradients_flow_through_the_weighted_loss(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(), loss_weight=4.0)
    x, y = pair()
    x.requires_grad_(True)
    manager.compute_loss_xy("L1", x, y).backward()
    assert torch.allclose(x.grad, 4.0 * torch.sign(x - y) / x.numel())


def test_scheduled_weight_follows_the_schedule(manager):
    schedule = Schedule(start_epoch=1, end_epoch=11, initial_value=10.0, target_value=0.0)
    manager.register_loss_fn("L1", torch.nn.L1Loss(), loss_weight=99.0, schedule=schedule)
    assert manager.loss_fns["L1"].loss_weight == 10.0
    x, y = pair()
    base = (x - y).abs().mean().item()
    for epoch, weight in [(0, 10.0), (5, 5.0), (10, 0.0), (12, 0.0)]:
        assert manager.compute_loss_xy("L1", x, y, epoch=epoch).item() == pytest.approx(
            weight * base, abs=1e-9)
        assert schedule.current_value == pytest.approx(weight, abs=1e-12)


def test_d2_history_records_the_applied_weight(manager):
    schedule = Schedule(start_epoch=1, end_epoch=11, initial_value=10.0, target_value=0.0)
    manager.register_loss_fn("L1", torch.nn.L1Loss(), schedule=schedule)
    x, y = pair()
    for epoch in (0, 2, 5):
        manager.compute_loss_xy("L1", x, y, epoch=epoch)
    history = manager.loss_fns["L1"].history
    assert history.weights == pytest.approx([10.0, 8.0, 5.0], abs=1e-12)
    base = (x - y).abs().mean().item()
    assert history.losses == pytest.approx([10 * base, 8 * base, 5 * base], rel=1e-6)


def test_weight_kwargs_reach_the_schedule_function(manager):
    schedule = Schedule(schedule="exponential", start_epoch=1, end_epoch=11, initial_value=1.0,
                        target_value=0.0)
    manager.register_loss_fn("L1", torch.nn.L1Loss(), schedule=schedule)
    x, y = pair()
    manager.compute_loss_xy("L1", x, y, epoch=10, loss_kwargs={"weight_kwargs": {"epsilon": 1e-3}})
    assert schedule.current_value == pytest.approx(1e-3, rel=1e-12)
    manager.compute_loss_xy("L1", x, y, epoch=10)
    assert schedule.current_value == pytest.approx(1e-9, rel=1e-12)


def test_callable_schedule_gets_the_schedule_epoch_and_kwargs(manager):
    seen = []

    def custom(schedule, epoch, scale=1.0):
        seen.append((epoch, scale))
        return schedule.initial_value * scale

    manager.register_loss_fn("L1", torch.nn.L1Loss(),
                             schedule=Schedule(schedule=custom, end_epoch=5, initial_value=2.0))
    x, y = pair()
    out = manager.compute_loss_xy("L1", x, y, epoch=3, loss_kwargs={"weight_kwargs": {"scale": 3}})
    assert seen == [(3, 3)]
    assert out.item() == pytest.approx(6 * (x - y).abs().mean().item())


def test_unknown_schedule_name_is_a_key_error(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(),
                             schedule=Schedule(schedule="cosine", end_epoch=5))
    with pytest.raises(KeyError, match=r"'cosine'.*\['linear', 'exponential'\]"):
        manager.compute_loss_xy("L1", *pair())


def test_schedule_that_is_neither_name_nor_callable_is_a_type_error(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(), schedule=Schedule(schedule=3, end_epoch=5))
    with pytest.raises(TypeError, match="Invalid schedule type"):
        manager.compute_loss_xy("L1", *pair())


def test_integer_schedule_values_work(manager):
    manager.register_loss_fn("L1", torch.nn.L1Loss(),
                             schedule=Schedule(start_epoch=1, end_epoch=11, initial_value=4,
                                               target_value=0))
    x, y = pair()
    out = manager.compute_loss_xy("L1", x, y, epoch=5)
    assert out.item() == pytest.approx(2 * (x - y).abs().mean().item())
    assert manager.loss_fns["L1"].history.weights == [2.0]


# Queries ---------------------------------------------------------------------------------


@pytest.fixture
def tagged(manager):
    manager.register_loss_fn("G_L1", torch.nn.L1Loss(), loss_weight=100.0, tags=["G"])
    manager.register_loss_fn("G_L2", torch.nn.MSELoss(), loss_weight=0.5, tags=["G", "extra"])
    manager.register_loss_fn("D", torch.nn.L1Loss(), loss_weight=1.0 / 3.0, tags=["D"])
    manager.register_loss_fn("untagged", torch.nn.L1Loss())
    x, y = pair()
    for name in manager.loss_fns:
        manager.compute_loss_xy(name, x, y)
    return manager


@pytest.mark.parametrize(("query", "names"), [
    (None, ["G_L1", "G_L2", "D", "untagged"]),
    ([], []),
    (["G"], ["G_L1", "G_L2"]),
    (["extra"], ["G_L2"]),
    (["D", "extra"], ["G_L2", "D"]),
    (["nothing"], []),
])
def test_queries_filter_by_any_tag(tagged, query, names):
    assert list(tagged.get_registered_losses(query)) == names
    assert list(tagged.get_loss_values(query)) == names
    assert list(tagged.get_loss_tensors(query)) == names
    assert list(tagged.get_loss_weights(query)) == names


def test_get_loss_values_rounds_the_latest_value(tagged):
    x, y = pair()
    exact = 100 * (x - y).abs().mean().item()
    assert tagged.get_loss_values(["G"])["G_L1"] == round(exact, 2)
    assert tagged.get_loss_values(["G"], precision=5)["G_L1"] == round(exact, 5)


def test_get_loss_weights_rounds_current_values(tagged):
    assert tagged.get_loss_weights(["D"]) == {"D": 0.33}
    assert tagged.get_loss_weights(["D"], precision=4) == {"D": 0.3333}


def test_get_loss_tensors_returns_last_loss_maps(tagged):
    tensors = tagged.get_loss_tensors(["D"])
    assert tensors["D"] is tagged.loss_fns["D"].last_loss_map


def test_get_registered_losses_returns_stripped_shallow_copies(tagged):
    copies = tagged.get_registered_losses(["G"])
    original = tagged.loss_fns["G_L1"]
    assert copies["G_L1"] is not original
    assert copies["G_L1"].function is original.function
    assert copies["G_L1"].history.losses == [] and len(original.history.losses) == 1
    kept = tagged.get_registered_losses(["G"], strip=False)
    assert kept["G_L1"].history is original.history


def test_get_loss_values_of_a_loss_that_never_ran_is_an_index_error(manager):
    manager.register_loss_fn("a", torch.nn.L1Loss())
    with pytest.raises(IndexError, match="'a'"):
        manager.get_loss_values()


def test_latest_value_stays_queryable_after_the_log_update(tagged):
    before = tagged.get_loss_values()
    tagged.update_loss_log()
    assert tagged.loss_fns["G_L1"].history.losses == []
    assert tagged.get_loss_values() == before


# Console ------------------------------------------------------------------------------------


def test_print_losses_format(tagged, capsys):
    values = tagged.get_loss_values(precision=3)
    expected = ("(epoch: 4, iters: 250) Loss: "
                + " ".join(f"{n}: {v}" for n, v in values.items()))
    assert tagged.print_losses(4, 250, precision=3, capture=True) == expected
    assert capsys.readouterr().out == ""
    assert tagged.print_losses(4, 250, precision=3) is None
    assert capsys.readouterr().out == expected + "\n"


def test_print_weights_format(tagged, capsys):
    expected = "Loss weights: G_L1: 100.0 G_L2: 0.5 D: 0.33 untagged: 1.0"
    assert tagged.print_weights(capture=True) == expected
    tagged.print_weights()
    assert capsys.readouterr().out == expected + "\n"


def test_print_losses_exact_string(manager):
    manager.register_loss_fn("G_L1", torch.nn.L1Loss(), loss_weight=2.0)
    manager.register_loss_fn("G_L2", torch.nn.MSELoss())
    x, y = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    manager.compute_loss_xy("G_L1", x, y)
    manager.compute_loss_xy("G_L2", x, y)
    assert manager.print_losses(1, 10, capture=True) == \
        "(epoch: 1, iters: 10) Loss: G_L1: 1.0 G_L2: 0.25"


# enable_logging=False -----------------------------------------------------------------------


def test_disabled_logging_keeps_only_the_latest_call(tmp_path):
    manager = LossManager(None, tmp_path, enable_logging=False)
    manager.register_loss_fn("a", torch.nn.L1Loss())
    for seed in range(3):
        manager.compute_loss_xy("a", *pair(seed))
    history = manager.loss_fns["a"].history
    x, y = pair(2)
    assert history.losses == [pytest.approx((x - y).abs().mean().item())]
    assert history.weights == [1.0]


def test_disabled_logging_warns_and_writes_nothing(tmp_path):
    manager = LossManager(None, tmp_path, enable_logging=False)
    manager.register_loss_fn("a", torch.nn.L1Loss())
    manager.compute_loss_xy("a", *pair())
    with pytest.warns(UserWarning, match="export_base_log: logging is disabled"):
        assert manager.export_base_log() is None
    with pytest.warns(UserWarning, match="update_loss_log: logging is disabled"):
        assert manager.update_loss_log(silent=False, capture=True) is None
    assert list(tmp_path.iterdir()) == []
    assert manager.loss_fns["a"].history.losses != []

