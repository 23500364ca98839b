"""interop.scheduling against the reference's documented behaviour (REFERENCE.md)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from interop.scheduling import Schedule, ScheduleDefs, Scheduler, TorchScheduler, schedule_map
from interop.scheduling import _core
from interop.scheduling.data import DEFAULT_END_EPOCH

# The reference's own test: Schedule(schedule=k, end_epoch=10, target_value=0.0) at
# epochs 0..9.
LINEAR_EXAMPLE = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
EXPONENTIAL_EXAMPLE = [0.12589, 0.01584, 0.00199, 0.00025, 3.16227e-05, 3.98107e-06,
                       5.01187e-07, 6.30957e-08, 7.94328e-09]


def evaluate(schedule: Schedule, epoch: float, **kwargs) -> float:
    return schedule_map[schedule.schedule](schedule, epoch, **kwargs)


# Schedule ---------------------------------------------------------------------------


def test_all_default_schedule_is_untouched():
    s = Schedule()
    assert (s.schedule, s.start_epoch, s.end_epoch) == ("linear", 0, DEFAULT_END_EPOCH)
    assert (s.initial_value, s.target_value, s.current_value) == (1.0, 1.0, 1.0)


def test_any_non_default_field_shifts_epochs_and_sets_current_value():
    s = Schedule(start_epoch=100, end_epoch=200, initial_value=2.0, target_value=0.5)
    assert (s.start_epoch, s.end_epoch, s.current_value) == (99, 199, 2.0)
    only_current = Schedule(current_value=5.0)
    assert (only_current.start_epoch, only_current.end_epoch) == (-1, DEFAULT_END_EPOCH - 1)
    assert only_current.current_value == 1.0
    by_kind = Schedule(schedule="exponential")
    assert (by_kind.start_epoch, by_kind.end_epoch) == (-1, DEFAULT_END_EPOCH - 1)


def test_equality_compares_only_the_epochs():
    quirk = Schedule(start_epoch=1, end_epoch=10_000_001, initial_value=5.0)
    assert quirk == Schedule()
    assert quirk.current_value == 5.0
    assert Schedule("exponential", 3, 8, 9.0, 1.0) == Schedule("linear", 3, 8, 2.0, 0.0)
    assert Schedule(end_epoch=10) != Schedule()
    assert Schedule() != "linear"


def test_schedule_is_a_mutable_dataclass():
    assert dataclasses.is_dataclass(Schedule)
    assert [f.name for f in dataclasses.fields(Schedule)] == [
        "schedule", "start_epoch", "end_epoch", "initial_value", "target_value", "current_value"]
    s = Schedule(end_epoch=10)
    s.current_value = 0.25
    s.target_value = 3.0
    assert (s.current_value, s.target_value) == (0.25, 3.0)


@pytest.mark.parametrize(("start", "end"), [(5, 5), (6, 5)])
def test_d3_end_not_after_start_is_rejected_at_construction(start, end):
    with pytest.raises(ValueError, match=rf"end_epoch > start_epoch.*start_epoch={start}"):
        Schedule(start_epoch=start, end_epoch=end)


def test_d3_mutated_schedule_is_rejected_at_evaluation():
    s = Schedule(end_epoch=10, target_value=0.0)
    s.end_epoch = s.start_epoch
    with pytest.raises(ValueError, match="end_epoch must be greater than start_epoch"):
        ScheduleDefs.linear(s, 0)


@pytest.mark.parametrize("kind", ["exponential", ScheduleDefs.exponential])
@pytest.mark.parametrize(("initial", "target"), [(-1.0, 1.0), (1.0, -0.5)])
def test_d4_exponential_negative_values_are_rejected(kind, initial, target):
    with pytest.raises(ValueError, match="'exponential' schedule requires initial_value >= 0"):
        Schedule(schedule=kind, end_epoch=10, initial_value=initial, target_value=target)


def test_d4_mutated_exponential_negative_value_is_rejected_at_evaluation():
    s = Schedule(schedule="exponential", end_epoch=10, target_value=0.5)
    s.initial_value = -2.0
    with pytest.raises(ValueError, match="initial_value=-2.0"):
        ScheduleDefs.exponential(s, 3)


# Schedule functions ---------------------------------------------------------------------


def test_schedule_map_holds_the_builtins():
    assert schedule_map == {"linear": ScheduleDefs.linear,
                            "exponential": ScheduleDefs.exponential}


def test_reference_ten_epoch_linear_example():
    s = Schedule(schedule="linear", end_epoch=10, target_value=0.0)
    values = [ScheduleDefs.linear(s, epoch) for epoch in range(10)]
    assert values == pytest.approx(LINEAR_EXAMPLE, abs=1e-12)


def test_reference_ten_epoch_exponential_example():
    s = Schedule(schedule="exponential", end_epoch=10, target_value=0.0)
    values = [ScheduleDefs.exponential(s, epoch) for epoch in range(10)]
    for value, documented in zip(values, EXPONENTIAL_EXAMPLE):
        assert documented <= value < documented * 1.005  # the documented digits are truncated
    # Target 0 is raised to epsilon=1e-9, so the value is (1e-9) ** ((epoch + 1) / 10).
    assert values == pytest.approx([1e-9 ** ((e + 1) / 10) for e in range(10)], rel=1e-12)
    assert values[-1] == pytest.approx(1e-9, rel=1e-12)


def test_values_are_python_floats_even_for_integer_numbers():
    s = Schedule(start_epoch=1, end_epoch=11, initial_value=4, target_value=0)
    value = ScheduleDefs.linear(s, 5)
    assert type(value) is float and value == 2.0
    assert type(ScheduleDefs.exponential(
        Schedule("exponential", 1, 11, 4, 1), 5)) is float


def test_linear_ramps_between_and_holds_outside():
    s = Schedule(start_epoch=11, end_epoch=21, initial_value=1.0, target_value=3.0)
    assert [evaluate(s, e) for e in (0, 10, 15, 20, 40)] == pytest.approx(
        [1.0, 1.0, 2.0, 3.0, 3.0], abs=1e-12)


def test_linear_negative_values_are_clamped_like_the_reference():
    down = Schedule(start_epoch=1, end_epoch=11, initial_value=2.0, target_value=-2.0)
    assert [evaluate(down, e) for e in (0, 2, 5, 10)] == pytest.approx(
        [2.0, 1.2, 0.0, 0.0], abs=1e-12)
    both_negative = Schedule(start_epoch=1, end_epoch=11, initial_value=-3.0, target_value=-1.0)
    assert [evaluate(both_negative, e) for e in range(0, 12, 3)] == [-1.0] * 4


def test_exponential_zero_values_are_raised_to_epsilon():
    s = Schedule(schedule="exponential", start_epoch=1, end_epoch=11, initial_value=1.0,
                 target_value=0.0)
    assert ScheduleDefs.exponential(s, 10, epsilon=1e-4) == pytest.approx(1e-4, rel=1e-12)
    assert ScheduleDefs.exponential(s, 5, epsilon=1e-4) == pytest.approx(1e-2, rel=1e-12)
    tiny = Schedule(schedule="exponential", start_epoch=1, end_epoch=11, initial_value=1e-12,
                    target_value=0.0)
    assert [ScheduleDefs.exponential(tiny, e) for e in (0, 5, 10)] == pytest.approx(
        [1e-9] * 3, rel=1e-12)


def test_exponential_silent_steps_at_the_end():
    s = Schedule(schedule="exponential", start_epoch=1, end_epoch=11, initial_value=2.0,
                 target_value=0.0)
    values = [ScheduleDefs.exponential(s, e, allow_zero_weights=False, silent=True)
              for e in (0, 9, 10, 11)]
    assert values == [2.0, 2.0, 0.0, 0.0]


def test_exponential_zero_without_allowance_raises_zero_division():
    s = Schedule(schedule="exponential", end_epoch=10, target_value=0.0)
    with pytest.raises(ZeroDivisionError, match="allow_zero_weights=False"):
        ScheduleDefs.exponential(s, 3, allow_zero_weights=False)


def test_exponential_ramps_geometrically_between_positive_values():
    s = Schedule(schedule="exponential", start_epoch=1, end_epoch=5, initial_value=16.0,
                 target_value=1.0)
    assert [ScheduleDefs.exponential(s, e) for e in range(6)] == pytest.approx(
        [16.0, 8.0, 4.0, 2.0, 1.0, 1.0], rel=1e-12)


def test_each_schedule_and_epoch_is_evaluated_by_jax_once(monkeypatch):
    calls = []
    evaluate_core = _core._evaluate

    def counting(schedule, epoch):
        calls.append(float(epoch))
        return evaluate_core(schedule, epoch)

    monkeypatch.setattr(_core, "_evaluate", counting)
    _core.core_value.cache_clear()
    s = Schedule(start_epoch=3, end_epoch=7, initial_value=5.0, target_value=1.0)
    first = [ScheduleDefs.linear(s, e) for e in (2, 4, 4, 4, 2, 6)]
    assert calls == [2.0, 4.0, 6.0]
    assert first == pytest.approx([5.0, 3.0, 3.0, 3.0, 5.0, 1.0], abs=1e-12)
    s.target_value = 3.0  # new numbers: evaluated again
    assert ScheduleDefs.linear(s, 4) == pytest.approx(4.0, abs=1e-12)
    assert calls == [2.0, 4.0, 6.0, 4.0]


# Scheduler ------------------------------------------------------------------------------


def test_scheduler_normalises_and_writes_back_the_raw_value():
    s = Schedule(start_epoch=1, end_epoch=11, initial_value=4.0, target_value=2.0)
    scheduler = Scheduler(s)
    assert scheduler.max_value == 4.0
    assert scheduler.eval_schedule(5) == pytest.approx(0.75, abs=1e-12)
    assert s.current_value == pytest.approx(3.0, abs=1e-12)


def test_scheduler_default_schedule_returns_current_value_as_is():
    s = Schedule()
    s.current_value = 7.0
    assert Scheduler(s).eval_schedule(123) == 7.0


def test_scheduler_resolves_the_function_once():
    s = Schedule(schedule="exponential", start_epoch=1, end_epoch=5, initial_value=16.0,
                 target_value=1.0)
    scheduler = Scheduler(s)
    assert scheduler.schedule_fn is ScheduleDefs.exponential
    s.schedule = "linear"
    assert scheduler.eval_schedule(2) == pytest.approx(0.25, abs=1e-12)


def test_scheduler_runs_callable_schedules():
    def halfway(schedule, epoch):
        return schedule.initial_value / 2 if epoch >= schedule.start_epoch else 0.0

    s = Schedule(schedule=halfway, start_epoch=3, end_epoch=9, initial_value=6.0, target_value=2.0)
    assert Scheduler(s).eval_schedule(4) == 0.5
    assert s.current_value == 3.0


@pytest.mark.parametrize("kind", ["cosine", 42, None])
def test_scheduler_rejects_unknown_schedule_types(kind):
    schedule = Schedule(end_epoch=10)
    schedule.schedule = kind  # Schedule(schedule=kind) itself raises when built
    with pytest.raises(TypeError, match="Invalid schedule type"):
        Scheduler(schedule)


def test_scheduler_integer_values_work():
    scheduler = Scheduler(Schedule(start_epoch=1, end_epoch=11, initial_value=4, target_value=0))
    assert scheduler.eval_schedule(5) == 0.5


def test_scheduler_both_values_zero_is_refused_naming_them():
    """The reference divides by max(initial, target) = 0 at the first evaluation."""
    zero = Schedule(start_epoch=1, end_epoch=11, initial_value=0.0, target_value=0.0)
    with pytest.raises(ValueError, match=r"Scheduler: .*max\(initial_value, target_value\)"
                                         r".*initial_value=0.0 and target_value=0.0"):
        Scheduler(zero)
    assert zero.current_value == 0.0  # untouched
    # Counted as the default schedule (start 0, end 10,000,000 after the shift): its
    # current_value is returned as it is, nothing is divided.
    default = Schedule(start_epoch=1, end_epoch=10_000_001, initial_value=0.0,
                       target_value=0.0)
    assert Scheduler(default).eval_schedule(5) == 0.0


# TorchScheduler ----------------------------------------------------------------------------


def pix2pix_lr(steps: int, lr: float = 2e-4, epochs: int = 100, decay: int = 100) -> float:
    """The lr after ``steps`` steps, by hand from REFERENCE.md.

    The shifted schedule runs from ``epochs - 1`` to ``epochs + decay``; LambdaLR sets
    ``lr = base_lr * value(steps) / max(initial, target)``.
    """
    start, end = epochs - 1, epochs + decay
    sample = min(1.0, max(0.0, (steps - start) / (end - start)))
    value = lr + sample * (0.0 - lr)
    return lr * (value / lr)


def test_torch_scheduler_pix2pix_run_with_adam():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    scheduler = TorchScheduler(optimizer, Schedule(start_epoch=100, end_epoch=201,
                                                   initial_value=2e-4, target_value=0.0))
    assert scheduler.get_lr() == (2e-4, 2e-4)
    assert isinstance(scheduler.scheduler, torch.optim.lr_scheduler.LambdaLR)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    lrs = []
    for _ in range(1, 206):  # epochs counted from 1, one step() at the end of each
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_lr())
    for steps, (before, after) in enumerate(lrs, start=1):
        assert before == pytest.approx(pix2pix_lr(steps - 1), rel=1e-12, abs=1e-20)
        assert after == pytest.approx(pix2pix_lr(steps), rel=1e-12, abs=1e-20)
    assert lrs[98] == (2e-4, 2e-4)  # after epoch 99
    assert lrs[99][1] == pytest.approx(2e-4 * 100 / 101, rel=1e-12)  # after epoch 100
    assert lrs[149][1] == pytest.approx(2e-4 * 50 / 101, rel=1e-12)
    assert lrs[199] == (pytest.approx(2e-4 / 101, rel=1e-12), 0.0)  # after epoch 200
    assert lrs[-1] == (0.0, 0.0)
    assert optimizer.param_groups[0]["lr"] == 0.0


def test_torch_scheduler_default_schedule_is_a_constant_instance():
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    scheduler = TorchScheduler(optimizer)
    assert isinstance(scheduler.schedule, Schedule) and scheduler.schedule == Schedule()
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    assert scheduler.get_lr() == (0.1, 0.1)


def test_torch_scheduler_exponential_decay():
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
    scheduler = TorchScheduler(optimizer, Schedule(schedule="exponential", start_epoch=1,
                                                   end_epoch=5, initial_value=1.0,
                                                   target_value=1e-4))
    seen = []
    for _ in range(4):
        optimizer.step()
        scheduler.step()
        seen.append(scheduler.get_lr()[1])
    assert seen == pytest.approx([math.pow(1e-4, k / 4) for k in range(1, 5)], rel=1e-12)
