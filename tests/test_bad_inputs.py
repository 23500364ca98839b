"""Every bad input to the public API is a clear error at the call, and changes nothing.

One table of bad calls into ``nectargan_jax`` and ``interop``: each row is the call, the
exception type a Python user expects, and a regex the message must match (the argument
and the offending value, or what is accepted). After each call the test checks that no
state moved: the core managers and schedules (their leaves and structure), the interop
manager (histories, weights, schedules, buffer size) and every file in the experiment
folder.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import math
from pathlib import Path
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import interop
from nectargan_jax import scheduling as sch
from nectargan_jax.losses import (DamagedLogError, LossLog, LossManager, LossSpec,
                                  VGG19Features, VGGPerceptual,
                                  bce_with_logits, l1, laplacian, load_vgg19_features, mse,
                                  pix2pix, sobel, vgg_perceptual_loss)
from nectargan_jax.scheduling import Schedule

NAN, INF = float("nan"), float("inf")
X = jnp.ones((1, 4, 4, 3))
Y = jnp.zeros((1, 4, 4, 3))
XC = X.astype(jnp.complex64)


def _two_d_loss(x, y):
    return jnp.abs(x - y)


def _none_loss(x, y):
    return None


def _complex_loss(x, y):
    return jnp.mean(x - y).astype(jnp.complex64)


def _branchy(schedule, epoch):
    if epoch > schedule.start_epoch:  # Python branch on a (traced) value
        return schedule.target_value
    return schedule.initial_value


def _numpy_kind(schedule, epoch):
    return np.clip(epoch, 0.0, 1.0)  # NumPy needs a concrete epoch


def _int_kind(schedule, epoch):
    return schedule.initial_value * [1.0, 0.5][int(epoch > 5)]


def _string_kind(schedule, epoch):
    return "1.0"


LM = (LossManager(capacity=8).register("L1", l1, weight=100.0, tags=("G",))
      .register("GAN", bce_with_logits, tags="D")
      .register("MAP", l1, keep_map=(1, 4, 4, 3))
      .register("TWO_D", _two_d_loss).register("NONE", _none_loss)
      .register("CPLX", _complex_loss))
_, LM_RUN = LM.compute("L1", X, Y)
S = Schedule("linear", 0, 10, 1.0, 0.0)
S_EXP = Schedule("exponential", 0, 10, 1.0, 0.1)
S2 = sch.stack([S, S.replace(initial_value=2.0)])
_SHAPES = ((64, 3), (64, 64), (128, 64), (128, 128), (256, 128), (256, 256), (256, 256))
VGG = VGGPerceptual(VGG19Features([np.zeros((o, i, 3, 3), np.float32) for o, i in _SHAPES],
                                  [np.zeros(o, np.float32) for o, _ in _SHAPES]))
CORE_STATE = (LM, LM_RUN, S, S_EXP, S2)


@dataclasses.dataclass
class Env:
    """Mutable objects built fresh for each case, in their own folder."""

    tmp: Path
    ilm: interop.LossManager
    isched: interop.Schedule
    opt: torch.optim.Optimizer
    ilm_damaged: interop.LossManager  # its log file is truncated; its history is full


def _make_env(tmp: Path) -> Env:
    ilm = interop.LossManager(None, tmp / "exp", history_buffer_size=4)
    isched = interop.Schedule(start_epoch=1, end_epoch=11, initial_value=2.0, target_value=0.0)
    ilm.register_loss_fn("G_L1", torch.nn.L1Loss(), loss_weight=100.0, tags=["G"])
    ilm.register_loss_fn("D_S", torch.nn.MSELoss(), schedule=isched, tags=["D"])
    x, y = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    ilm.compute_loss_xy("G_L1", x, y, epoch=1)
    ilm.compute_loss_xy("D_S", x, y, epoch=3)
    ilm.update_loss_log()
    ilm.compute_loss_xy("G_L1", x, y, epoch=2)
    (tmp / "config.json").write_text("{not json", encoding="utf-8")
    (tmp / "weights.txt").write_text("not weights", encoding="utf-8")
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    (tmp / "afile").write_text("a file, not a folder", encoding="utf-8")
    (tmp / "damaged").mkdir()
    (tmp / "damaged" / "loss_log.json").write_text('{"LOSSMANAGER_LOG": {', encoding="utf-8")
    (tmp / "not_a_log").mkdir()
    (tmp / "not_a_log" / "loss_log.json").write_text("[1, 2]", encoding="utf-8")
    damaged = interop.LossManager(None, tmp / "damaged", history_buffer_size=1)
    damaged.register_loss_fn("G_L1", torch.nn.L1Loss(), schedule=interop.Schedule(
        start_epoch=1, end_epoch=11, initial_value=2.0, target_value=0.0))
    damaged.compute_loss_xy("G_L1", x, y, epoch=1)
    return Env(tmp, ilm, isched, opt, damaged)


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _interop_state(manager: interop.LossManager) -> tuple:
    losses = {name: (e.loss_weight, list(e.tags), list(e.history.losses),
                     list(e.history.weights), vars(e.schedule).copy(),
                     e.last_loss_map.clone(), e.function)
              for name, e in manager.loss_fns.items()}
    return losses, manager.buffer_size, manager.enable_logging, dict(manager._latest)


def _snapshot(env: Env) -> dict[str, Any]:
    """Everything a failed call must leave as it was."""
    return {
        "core": [(jax.tree.structure(t), _leaves(t)) for t in CORE_STATE],
        "interop": (_interop_state(env.ilm), _interop_state(env.ilm_damaged),
                    vars(env.isched).copy(), env.opt.param_groups[0]["lr"]),
        "files": {str(p.relative_to(env.tmp)): p.read_bytes()
                  for p in sorted(env.tmp.rglob("*")) if p.is_file()},
    }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


@dataclasses.dataclass(frozen=True)
class Case:
    """A bad call, the error it must raise and a regex its message must match."""

    id: str
    call: Callable[[Env], Any]
    error: type[BaseException]
    match: str


C = Case
CASES: list[Case] = []


def cases(*rows: Case) -> None:
    CASES.extend(rows)


# Schedule: kind, numbers, options, epochs ----------------------------------------------

cases(
    C("kind-unknown", lambda e: Schedule("bogus"), ValueError, r"schedule='bogus'.*accepted: 'constant', 'linear'"),
    C("kind-int", lambda e: Schedule(5), TypeError, r"schedule must be a registered name.*int: 5"),
    C("kind-none", lambda e: Schedule(None), TypeError, r"schedule must be .*NoneType: None"),
    C("kind-branches-in-python", lambda e: Schedule(_branchy, 0, 10), TypeError, r"_branchy.*Python.*traced|_branchy.*jnp.where"),
    C("kind-numpy", lambda e: Schedule(_numpy_kind, 0, 10), TypeError, r"_numpy_kind.*NumPy call.*jnp"),
    C("kind-int-of-traced", lambda e: Schedule(_int_kind, 0, 10), TypeError, r"_int_kind.*traced value in Python control flow"),
    C("kind-returns-string", lambda e: Schedule(_string_kind, 0, 10), TypeError, r"_string_kind.*must return.*real.*str"),
    C("start-bool", lambda e: Schedule(start_epoch=True), TypeError, r"start_epoch must be a real number, got bool True"),
    C("start-str", lambda e: Schedule(start_epoch="0"), TypeError, r"start_epoch must be a real number, got str: '0'"),
    C("start-none", lambda e: Schedule(start_epoch=None), TypeError, r"start_epoch must be a real number, got NoneType"),
    C("start-complex", lambda e: Schedule(start_epoch=1j), TypeError, r"start_epoch must be a real number, got complex"),
    C("start-nan", lambda e: Schedule(start_epoch=NAN), ValueError, r"start_epoch must be finite, got start_epoch=nan"),
    C("end-inf", lambda e: Schedule(end_epoch=INF), ValueError, r"end_epoch must be finite, got end_epoch=inf"),
    C("end-nan", lambda e: Schedule(end_epoch=NAN), ValueError, r"end_epoch must be finite"),
    C("end-bool", lambda e: Schedule(end_epoch=False), TypeError, r"end_epoch must be a real number, got bool"),
    C("end-equals-start", lambda e: Schedule("linear", 5, 5), ValueError, r"end_epoch must be greater than start_epoch, got start_epoch=5.0, end_epoch=5.0"),
    C("end-before-start", lambda e: Schedule("cosine", 10, 5), ValueError, r"end_epoch must be greater than start_epoch.*start_epoch=10.0"),
    C("end-before-start-batch", lambda e: Schedule("linear", [0, 9], [10, 5]), ValueError, r"start_epoch=9.0 \(at index \(1,\)"),
    C("initial-nan", lambda e: Schedule(initial_value=NAN), ValueError, r"initial_value must be finite, got initial_value=nan"),
    C("initial-neg-inf", lambda e: Schedule(initial_value=-INF), ValueError, r"initial_value must be finite, got initial_value=-inf"),
    C("initial-str", lambda e: Schedule(initial_value="1.0"), TypeError, r"initial_value must be a real number, got str: '1.0'"),
    C("initial-complex-array", lambda e: Schedule(initial_value=np.array(1 + 1j)), TypeError, r"initial_value must be a real number, got dtype complex128"),
    C("initial-bool-array", lambda e: Schedule(initial_value=np.array(True)), TypeError, r"initial_value must be a real number, got .*bool"),
    C("initial-list-with-bool", lambda e: Schedule(initial_value=[1.0, True]), TypeError, r"initial_value must hold real numbers, got True"),
    C("initial-list-with-str", lambda e: Schedule(initial_value=[1.0, "2"]), TypeError, r"initial_value must hold real numbers, got '2'"),
    C("initial-array-nan", lambda e: Schedule(initial_value=np.array([1.0, NAN])), ValueError, r"initial_value must be finite.*nan \(at index \(1,\)"),
    C("target-none", lambda e: Schedule(target_value=None), TypeError, r"target_value must be a real number, got NoneType"),
    C("target-inf", lambda e: Schedule(target_value=INF), ValueError, r"target_value must be finite"),
    C("numbers-shapes-mismatch", lambda e: Schedule("linear", [0, 1], [10, 11, 12]), ValueError, r"start_epoch.*shape \(2,\).*end_epoch.*shape \(3,\)"),
    C("exp-negative-initial", lambda e: Schedule("exponential", 0, 10, -1.0, 1.0), ValueError, r"exponential.*initial_value >= 0.*initial_value=-1.0"),
    C("exp-negative-target", lambda e: Schedule("exponential", 0, 10, 1.0, -0.5), ValueError, r"target_value=-0.5"),
    C("exp-zero-strict", lambda e: Schedule("exponential", 0, 10, 0.0, 1.0, options={"allow_zero_weights": False}), ValueError, r"cannot reach or leave 0.*initial_value=0.0"),
    C("exp-epsilon-negative", lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": -1}), ValueError, r"epsilon must be a positive.*epsilon=-1"),
    C("exp-epsilon-zero", lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": 0.0}), ValueError, r"epsilon must be a positive.*epsilon=0.0"),
    C("exp-epsilon-nan", lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": NAN}), ValueError, r"epsilon must be a positive.*epsilon=nan"),
    C("exp-epsilon-str", lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": "1e-9"}), TypeError, r"epsilon must be a positive.*'1e-9'"),
    C("exp-epsilon-bool", lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": True}), TypeError, r"epsilon must be a positive.*True"),
    C("exp-allow-zero-str", lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"allow_zero_weights": "no"}), TypeError, r"allow_zero_weights must be a bool, got str: 'no'"),
    C("exp-silent-int", lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"silent": 1}), TypeError, r"silent must be a bool, got int: 1"),
    C("options-unknown", lambda e: Schedule("linear", 0, 10, options={"bogus": 1}), TypeError, r"options \{'bogus': 1\} do not fit.*'linear'"),
    C("options-int", lambda e: Schedule("linear", 0, 10, options=5), TypeError, r"options must be a mapping.*5"),
    C("options-bad-pairs", lambda e: Schedule("linear", 0, 10, options=[1, 2]), TypeError, r"options must be a mapping.*\[1, 2\]"),
    C("replace-unknown-field", lambda e: S.replace(bogus=1), TypeError, r"bogus"),
    C("replace-nan", lambda e: S.replace(target_value=NAN), ValueError, r"target_value must be finite"),
    C("call-epoch-bool", lambda e: S(True), TypeError, r"epoch must be a real number, got bool True"),
    C("call-epoch-str", lambda e: S("5"), TypeError, r"epoch must be a real number.*str: '5'"),
    C("call-epoch-none", lambda e: S(None), TypeError, r"epoch must be a real number.*NoneType: None"),
    C("call-epoch-nan", lambda e: S(NAN), ValueError, r"epoch must be finite, got epoch=nan"),
    C("call-epoch-inf", lambda e: S(-INF), ValueError, r"epoch must be finite, got epoch=-inf"),
    C("call-epoch-complex", lambda e: S(2j), TypeError, r"epoch must be a real number.*complex"),
    C("call-epoch-complex-array", lambda e: S(np.array([1j])), TypeError, r"epoch must be a real number.*dtype complex128"),
    C("call-epoch-bool-array", lambda e: S(jnp.array([True, False])), TypeError, r"epoch must be a real number.*dtype bool"),
    C("call-epoch-array-nan", lambda e: S(np.array([1.0, NAN])), ValueError, r"epoch must be finite.*nan \(at index \(1,\)"),
    C("call-epoch-list-str", lambda e: S(["1"]), TypeError, r"epoch must hold real numbers, got '1'"),
    C("call-stacked-epoch-shape", lambda e: S2(jnp.zeros(3)), ValueError, r"epoch.*shape \(3,\).*schedule.*shape \(2,\)"),
    C("multiplier-epoch-str", lambda e: S.multiplier("1"), TypeError, r"epoch must be a real number.*str: '1'"),
    C("exp-call-epoch-nan", lambda e: S_EXP(NAN), ValueError, r"epoch must be finite"),
)

# Factories, register_schedule, stack ----------------------------------------------------

cases(
    C("linear-nan-target", lambda e: sch.linear(0, 10, 1.0, NAN), ValueError, r"target_value must be finite"),
    C("linear-str-start", lambda e: sch.linear("0", 10, 1.0, 0.0), TypeError, r"start_epoch must be a real number, got str: '0'"),
    C("linear-end-before-start", lambda e: sch.linear(10, 0, 1.0, 0.0), ValueError, r"end_epoch must be greater than start_epoch"),
    C("linear-bool-initial", lambda e: sch.linear(0, 10, True, 0.0), TypeError, r"initial_value must be a real number, got bool"),
    C("cosine-equal-epochs", lambda e: sch.cosine(3, 3, 1.0, 0.0), ValueError, r"end_epoch must be greater than start_epoch"),
    C("cosine-none-value", lambda e: sch.cosine(0, 3, None, 0.0), TypeError, r"initial_value must be a real number"),
    C("exponential-negative", lambda e: sch.exponential(0, 10, -2.0, 1.0), ValueError, r"initial_value=-2.0"),
    C("exponential-epsilon-negative", lambda e: sch.exponential(0, 10, 1.0, 0.0, epsilon=-1), ValueError, r"epsilon must be a positive.*epsilon=-1"),
    C("exponential-epsilon-inf", lambda e: sch.exponential(0, 10, 1.0, 0.0, epsilon=INF), ValueError, r"epsilon must be a positive.*epsilon=inf"),
    C("exponential-allow-zero-str", lambda e: sch.exponential(0, 10, 1.0, 0.0, allow_zero_weights="False"), TypeError, r"allow_zero_weights must be a bool, got str: 'False'"),
    C("exponential-silent-none", lambda e: sch.exponential(0, 10, 1.0, 0.0, silent=None), TypeError, r"silent must be a bool, got NoneType"),
    C("exponential-zero-strict", lambda e: sch.exponential(0, 10, 1.0, 0.0, allow_zero_weights=False), ValueError, r"cannot reach or leave 0"),
    C("constant-nan", lambda e: sch.constant(NAN), ValueError, r"initial_value must be finite"),
    C("constant-str", lambda e: sch.constant("1"), TypeError, r"initial_value must be a real number, got str: '1'"),
    C("constant-bool", lambda e: sch.constant(False), TypeError, r"initial_value must be a real number, got bool"),
    C("register-name-int", lambda e: sch.register_schedule(5, sch.schedule_functions()["linear"]), TypeError, r"non-empty string name, got 5"),
    C("register-name-empty", lambda e: sch.register_schedule("", sch.schedule_functions()["linear"]), TypeError, r"non-empty string name, got ''"),
    C("register-fn-not-callable", lambda e: sch.register_schedule("mine", 5), TypeError, r"callable fn, got 5"),
    C("register-taken", lambda e: sch.register_schedule("linear", sch.schedule_functions()["cosine"]), ValueError, r"'linear' is already registered.*overwrite=True"),
    C("register-overwrite-str", lambda e: sch.register_schedule("linear", sch.schedule_functions()["cosine"], overwrite="yes"), TypeError, r"overwrite must be a bool, got str: 'yes'"),
    C("stack-empty", lambda e: sch.stack([]), ValueError, r"stack requires at least one schedule"),
    C("stack-int", lambda e: sch.stack(5), TypeError, r"schedules must be a sequence of Schedules, got int: 5"),
    C("stack-float-element", lambda e: sch.stack([S, 1.0]), TypeError, r"schedules\[1\] must be a Schedule, got float: 1.0"),
    C("stack-mixed-kinds", lambda e: sch.stack([S, S_EXP]), ValueError, r"one kind and options.*'exponential'.*'linear'"),
    C("stack-mixed-shapes", lambda e: sch.stack([S, Schedule("linear", 0, 10, [1.0, 2.0])]), ValueError, r"stack requires schedules of one shape.*\(\).*\(2,\)"),
)

# Composition and optax --------------------------------------------------------------

cases(
    C("join-boundaries-int", lambda e: sch.join_schedules([S, S], 5), TypeError, r"boundaries must be a sequence of real numbers, got int: 5"),
    C("join-schedules-int", lambda e: sch.join_schedules(5, [1]), TypeError, r"schedules must be a sequence of schedules, got int: 5"),
    C("join-schedules-empty", lambda e: sch.join_schedules([], []), ValueError, r"at least one schedule"),
    C("join-element-float", lambda e: sch.join_schedules([S, 2.0], [5]), TypeError, r"schedules\[1\] must be a Schedule.*2.0"),
    C("join-too-many-boundaries", lambda e: sch.join_schedules([S, S], [1, 2]), ValueError, r"len\(boundaries\) == len\(schedules\) - 1, got 2 boundaries for 2 schedules"),
    C("join-too-few-boundaries", lambda e: sch.join_schedules([S, S, S], [1]), ValueError, r"got 1 boundaries for 3 schedules"),
    C("join-decreasing", lambda e: sch.join_schedules([S, S, S], [5, 2]), ValueError, r"strictly increasing, got boundaries=\[5, 2\]"),
    C("join-repeated", lambda e: sch.join_schedules([S, S, S], [5, 5]), ValueError, r"strictly increasing"),
    C("join-nan", lambda e: sch.join_schedules([S, S], [NAN]), ValueError, r"boundaries must be finite"),
    C("join-bool", lambda e: sch.join_schedules([S, S], [True]), TypeError, r"boundaries must hold real numbers, got True"),
    C("join-str", lambda e: sch.join_schedules([S, S], ["5"]), TypeError, r"boundaries must hold real numbers, got '5'"),
    C("join-call-epoch-str", lambda e: sch.join_schedules([S, S], [5])("3"), TypeError, r"epoch must be a real number.*str: '3'"),
    C("join-call-epoch-nan", lambda e: sch.join_schedules([S, S], [5])(NAN), ValueError, r"epoch must be finite"),
    C("warmup-not-schedule", lambda e: sch.warmup(1.0, 5), TypeError, r"schedule must be a Schedule.*1.0"),
    C("warmup-zero-epochs", lambda e: sch.warmup(S, 0), ValueError, r"warmup_epochs > 0, got warmup_epochs=0"),
    C("warmup-negative-epochs", lambda e: sch.warmup(S, -3), ValueError, r"warmup_epochs > 0, got warmup_epochs=-3"),
    C("warmup-nan-epochs", lambda e: sch.warmup(S, NAN), ValueError, r"warmup_epochs must be finite"),
    C("warmup-bool-epochs", lambda e: sch.warmup(S, True), TypeError, r"warmup_epochs must be a real number, got bool"),
    C("warmup-str-epochs", lambda e: sch.warmup(S, "5"), TypeError, r"warmup_epochs must be a real number, got str: '5'"),
    C("warmup-init-nan", lambda e: sch.warmup(S, 5, init_value=NAN), ValueError, r"init_value must be finite"),
    C("warmup-init-none", lambda e: sch.warmup(S, 5, init_value=None), TypeError, r"init_value must be a real number"),
    C("warmup-call-epoch-bool", lambda e: sch.warmup(S, 5)(True), TypeError, r"epoch must be a real number.*bool"),
    C("to-optax-not-schedule", lambda e: sch.to_optax(0.1), TypeError, r"to_optax requires a Schedule, got 0.1"),
    C("to-optax-steps-zero", lambda e: sch.to_optax(S, 0), ValueError, r"steps_per_epoch must be a positive int, got steps_per_epoch=0"),
    C("to-optax-steps-float", lambda e: sch.to_optax(S, 1.5), TypeError, r"steps_per_epoch must be a positive int, got steps_per_epoch=1.5"),
    C("to-optax-steps-bool", lambda e: sch.to_optax(S, True), TypeError, r"steps_per_epoch=True"),
    C("to-optax-stepping", lambda e: sch.to_optax(S, 1, "batch"), ValueError, r"stepping must be one of \('epoch', 'step'\), got stepping='batch'"),
    C("to-optax-stepping-int", lambda e: sch.to_optax(S, 1, 5), ValueError, r"stepping must be one of.*stepping=5"),
    C("to-optax-call-count-str", lambda e: sch.to_optax(S)("3"), TypeError, r"count must be a real number.*str: '3'"),
    C("to-optax-call-count-nan", lambda e: sch.to_optax(S)(NAN), ValueError, r"count must be finite"),
    C("from-optax-not-callable", lambda e: sch.from_optax(5), TypeError, r"from_optax requires a callable optax schedule, got 5"),
    C("from-optax-steps-negative", lambda e: sch.from_optax(optax.constant_schedule(1.0), -1), ValueError, r"steps_per_epoch=-1"),
    C("from-optax-steps-str", lambda e: sch.from_optax(optax.constant_schedule(1.0), "10"), TypeError, r"steps_per_epoch='10'"),
    C("from-optax-call-epoch-str", lambda e: sch.from_optax(optax.constant_schedule(1.0))("1"), TypeError, r"epoch must be a real number.*str: '1'"),
    C("optimizer-name", lambda e: sch.scheduled_optimizer("adam", S), TypeError, r"optimizer must be an optax optimizer factory.*'adam'.*optax.adam"),
    C("optimizer-none", lambda e: sch.scheduled_optimizer(None, S), TypeError, r"optimizer must be an optax optimizer factory.*None"),
    C("optimizer-no-lr", lambda e: sch.scheduled_optimizer(optax.identity, S), TypeError, r"identity.*learning_rate"),
    C("optimizer-lr-given", lambda e: sch.scheduled_optimizer(optax.adam, S, learning_rate=0.1), TypeError, r"learning_rate.*comes from the schedule"),
    C("optimizer-bad-kwarg", lambda e: sch.scheduled_optimizer(optax.adam, S, beta1=0.5), TypeError, r"adam.*beta1"),
    C("optimizer-schedule-float", lambda e: sch.scheduled_optimizer(optax.adam, 2e-4), TypeError, r"to_optax requires a Schedule, got 0.0002"),
    C("optimizer-stepping", lambda e: sch.scheduled_optimizer(optax.adam, S, stepping="iter"), ValueError, r"stepping='iter'"),
    C("optimizer-steps-zero", lambda e: sch.scheduled_optimizer(optax.sgd, S, steps_per_epoch=0), ValueError, r"steps_per_epoch=0"),
    C("current-lr-no-state", lambda e: sch.current_learning_rate(optax.adam(0.1).init({"w": jnp.zeros(2)})), ValueError, r"no inject_hyperparams state with a 'learning_rate'"),
    C("current-lr-int", lambda e: sch.current_learning_rate(5), ValueError, r"no inject_hyperparams state"),
)

# Pure loss functions ----------------------------------------------------------------

IMG = jnp.ones((2, 8, 8, 3))
cases(
    C("l1-complex", lambda e: l1(XC, XC), TypeError, r"l1: x must be a real array, got dtype complex64"),
    C("l1-complex-y", lambda e: l1(X, XC), TypeError, r"l1: y must be a real array, got dtype complex64"),
    C("l1-bool", lambda e: l1(jnp.ones(3, bool), jnp.ones(3, bool)), TypeError, r"l1: x must be a real array, got dtype bool"),
    C("l1-str", lambda e: l1("abc", "abd"), TypeError, r"l1: x must be a real array, got str: 'abc'"),
    C("l1-none", lambda e: l1(None, X), TypeError, r"l1: x must be a real array, got NoneType"),
    C("l1-empty", lambda e: l1(jnp.zeros((0, 3)), jnp.zeros((0, 3))), ValueError, r"l1: x and y must not be empty.*got shape \(0, 3\)"),
    C("l1-shape", lambda e: l1(jnp.zeros((2, 3)), jnp.zeros((3, 2))), ValueError, r"x.shape=\(2, 3\) and y.shape=\(3, 2\)"),
    C("l1-shape-broadcastable", lambda e: l1(jnp.zeros((2, 3)), jnp.zeros(3)), ValueError, r"same shape.*\(2, 3\).*\(3,\)"),
    C("l1-reduction", lambda e: l1(X, Y, reduction="sum"), ValueError, r"reduction must be one of \('mean', 'none'\), got reduction='sum'"),
    C("l1-reduction-none-obj", lambda e: l1(X, Y, reduction=None), ValueError, r"reduction=None"),
    C("mse-complex", lambda e: mse(XC, XC), TypeError, r"mse: x must be a real array, got dtype complex64"),
    C("mse-empty", lambda e: mse(jnp.zeros(0), jnp.zeros(0)), ValueError, r"mse: x and y must not be empty"),
    C("mse-shape", lambda e: mse(jnp.zeros(4), jnp.zeros(5)), ValueError, r"x.shape=\(4,\) and y.shape=\(5,\)"),
    C("mse-reduction", lambda e: mse(X, Y, reduction="max"), ValueError, r"reduction='max'"),
    C("mse-list-of-str", lambda e: mse(["a"], ["b"]), TypeError, r"mse: x must be a real array"),
    C("bce-complex", lambda e: bce_with_logits(XC, X), TypeError, r"bce_with_logits: logits must be a real array, got dtype complex64"),
    C("bce-bool-targets", lambda e: bce_with_logits(X, X > 0), TypeError, r"bce_with_logits: targets must be a real array, got dtype bool"),
    C("bce-empty", lambda e: bce_with_logits(jnp.zeros((1, 0)), jnp.zeros((1, 0))), ValueError, r"logits and targets must not be empty"),
    C("bce-shape", lambda e: bce_with_logits(jnp.zeros((2, 1)), jnp.zeros(2)), ValueError, r"logits.shape=\(2, 1\) and targets.shape=\(2,\)"),
    C("bce-reduction", lambda e: bce_with_logits(X, Y, reduction="sum"), ValueError, r"reduction='sum'"),
    C("sobel-complex", lambda e: sobel(IMG.astype(jnp.complex64), IMG.astype(jnp.complex64)), TypeError, r"sobel: x must be a real array, got dtype complex64"),
    C("sobel-3d", lambda e: sobel(jnp.ones((8, 8, 3)), jnp.ones((8, 8, 3))), ValueError, r"x.shape=\(8, 8, 3\) cannot be an NHWC image batch: it is not 4-D"),
    C("sobel-zero-channels", lambda e: sobel(jnp.ones((1, 8, 8, 0)), jnp.ones((1, 8, 8, 0))), ValueError, r"x.shape=\(1, 8, 8, 0\).*empty axis"),
    C("sobel-empty-batch", lambda e: sobel(jnp.ones((0, 8, 8, 3)), jnp.ones((0, 8, 8, 3))), ValueError, r"x.shape=\(0, 8, 8, 3\).*empty axis"),
    C("sobel-nchw-as-nhwc", lambda e: sobel(jnp.ones((2, 3, 8, 8)), jnp.ones((2, 3, 8, 8))), ValueError, r"cannot be an NHWC image batch.*layout='NCHW'"),
    C("sobel-nhwc-as-nchw", lambda e: sobel(IMG, IMG, layout="NCHW"), ValueError, r"cannot be an NCHW image batch.*layout='NHWC'"),
    C("sobel-layout-lower", lambda e: sobel(IMG, IMG, layout="nhwc"), ValueError, r"layout must be one of \('NHWC', 'NCHW'\), got layout='nhwc'"),
    C("sobel-layout-int", lambda e: sobel(IMG, IMG, layout=4), ValueError, r"layout=4"),
    C("sobel-shape", lambda e: sobel(IMG, IMG[:1]), ValueError, r"x.shape=\(2, 8, 8, 3\) and y.shape=\(1, 8, 8, 3\)"),
    C("sobel-reduction", lambda e: sobel(IMG, IMG, reduction="sum"), ValueError, r"reduction='sum'"),
    C("sobel-int-str", lambda e: sobel("img", "img"), TypeError, r"sobel: x must be a real array, got str"),
    C("laplacian-complex", lambda e: laplacian(IMG.astype(jnp.complex64), IMG.astype(jnp.complex64)), TypeError, r"laplacian: x must be a real array, got dtype complex64"),
    C("laplacian-2d", lambda e: laplacian(jnp.ones((8, 8)), jnp.ones((8, 8))), ValueError, r"x.shape=\(8, 8\) cannot be an NHWC image batch"),
    C("laplacian-zero-width", lambda e: laplacian(jnp.ones((1, 8, 0, 3)), jnp.ones((1, 8, 0, 3))), ValueError, r"empty axis"),
    C("laplacian-zero-channels-nchw", lambda e: laplacian(jnp.ones((1, 0, 8, 8)), jnp.ones((1, 0, 8, 8)), layout="NCHW"), ValueError, r"x.shape=\(1, 0, 8, 8\) cannot be an NCHW.*empty axis"),
    C("laplacian-layout", lambda e: laplacian(IMG, IMG, layout="CHW"), ValueError, r"layout='CHW'"),
    C("laplacian-bool", lambda e: laplacian(IMG > 0, IMG > 0), TypeError, r"laplacian: x must be a real array, got dtype bool"),
    C("laplacian-reduction", lambda e: laplacian(IMG, IMG, reduction=""), ValueError, r"reduction=''"),
)

# VGG --------------------------------------------------------------------------------

cases(
    C("vgg-weights-none", lambda e: vgg_perceptual_loss(None), ValueError, r"No VGG19 weights given \(path=None\)"),
    C("vgg-weights-missing", lambda e: vgg_perceptual_loss(e.tmp / "nope.pth"), FileNotFoundError, r"No VGG19 weights file at '.*nope.pth'"),
    C("vgg-weights-suffix", lambda e: load_vgg19_features(e.tmp / "weights.txt"), ValueError, r"must end in one of.*weights.txt"),
    C("vgg-weights-layout", lambda e: load_vgg19_features(e.tmp / "nope.pth", layout="HWC"), ValueError, r"layout='HWC'"),
    C("vgg-weights-not-npz", lambda e: load_vgg19_features(e.tmp / "bad.npz"), ValueError, r"bad.npz.*not a readable .npz"),
    C("vgg-weights-npz-missing-keys", lambda e: load_vgg19_features(e.tmp / "partial.npz"), KeyError, r"missing \['features.0.weight'"),
    C("vgg-weights-corrupt-pth", lambda e: load_vgg19_features(e.tmp / "bad.pth"), ValueError, r"bad.pth.*not a readable"),
    C("vgg-features-count", lambda e: VGG19Features([], []), ValueError, r"needs 7 kernels and biases, got 0 kernels and 0 biases"),
    C("vgg-features-shape", lambda e: VGG19Features([np.zeros((3, 3, 3, 3))] * 7, [np.zeros(3)] * 7), ValueError, r"features.0 of VGG19 has weight shape \(64, 3, 3, 3\)"),
    C("vgg-features-layout", lambda e: VGG19Features([np.zeros((o, i, 3, 3)) for o, i in _SHAPES], [np.zeros(o) for o, _ in _SHAPES], layout="nchw"), ValueError, r"layout='nchw'"),
    C("vgg-state-dict-missing", lambda e: VGG19Features.from_state_dict({}), KeyError, r"missing \['features.0.weight'"),
    C("vgg-call-int", lambda e: VGG(jnp.ones((1, 8, 8, 3), jnp.int32), jnp.ones((1, 8, 8, 3), jnp.int32)), TypeError, r"floating-point images.*int32"),
    C("vgg-call-complex", lambda e: VGG(jnp.ones((1, 8, 8, 3), jnp.complex64), jnp.ones((1, 8, 8, 3), jnp.complex64)), TypeError, r"VGGPerceptual: x must be a real array, got dtype complex64"),
    C("vgg-call-channels", lambda e: VGG(jnp.ones((1, 8, 8, 4)), jnp.ones((1, 8, 8, 4))), ValueError, r"x.shape=\(1, 8, 8, 4\).*has 4 entries, not 3"),
    C("vgg-call-nchw", lambda e: VGG(jnp.ones((1, 3, 8, 8)), jnp.ones((1, 3, 8, 8))), ValueError, r"cannot be an NHWC image batch.*layout='NCHW'"),
    C("vgg-call-shape", lambda e: VGG(jnp.ones((1, 8, 8, 3)), jnp.ones((2, 8, 8, 3))), ValueError, r"x.shape=\(1, 8, 8, 3\) and y.shape=\(2, 8, 8, 3\)"),
    C("vgg-call-reduction", lambda e: VGG(jnp.ones((1, 8, 8, 3)), jnp.ones((1, 8, 8, 3)), reduction="none"), ValueError, r"only reduction='mean'.*reduction='none'"),
    C("vgg-call-empty", lambda e: VGG(jnp.ones((0, 8, 8, 3)), jnp.ones((0, 8, 8, 3))), ValueError, r"empty axis"),
    C("vgg-call-str", lambda e: VGG("a", "b"), TypeError, r"x must be a real array, got str"),
)

# pix2pix spec -------------------------------------------------------------------------

cases(
    C("pix2pix-subspec", lambda e: pix2pix("full"), ValueError, r"subspec must be one of.*subspec='full'"),
    C("pix2pix-subspec-int", lambda e: pix2pix(5), ValueError, r"subspec=5"),
    C("pix2pix-lambda-l1-str", lambda e: pix2pix(lambda_l1="100"), TypeError, r"lambda_l1 .*G_L1.* must be a number or a Schedule.*str: '100'"),
    C("pix2pix-lambda-gan-bool", lambda e: pix2pix(lambda_gan=True), TypeError, r"lambda_gan.*bool: True"),
    C("pix2pix-lambda-gan-nan", lambda e: pix2pix(lambda_gan=NAN), ValueError, r"lambda_gan.*must be finite"),
    C("pix2pix-lambda-l2-none", lambda e: pix2pix("extended", lambda_l2=None), TypeError, r"lambda_l2.*NoneType"),
    C("pix2pix-lambda-l2-none-basic", lambda e: pix2pix("basic", lambda_l2=None), TypeError, r"lambda_l2.*NoneType"),
    C("pix2pix-lambda-sobel-inf", lambda e: pix2pix("extended", lambda_sobel=INF), ValueError, r"lambda_sobel.*finite"),
    C("pix2pix-lambda-laplacian-list", lambda e: pix2pix("extended", lambda_laplacian=[1.0]), TypeError, r"lambda_laplacian.*list"),
    C("pix2pix-lambda-vgg-str", lambda e: pix2pix(lambda_vgg="0"), TypeError, r"lambda_vgg.*str: '0'"),
    C("pix2pix-layout", lambda e: pix2pix(layout="NCWH"), ValueError, r"layout='NCWH'"),
    C("pix2pix-vgg-no-weights", lambda e: pix2pix("+vgg"), ValueError, r"No VGG19 weights given"),
    C("with-spec-pix2pix-lambda", lambda e: LM.with_spec(pix2pix, lambda_l1="100"), TypeError, r"lambda_l1.*'100'"),
    C("with-spec-not-callable", lambda e: LM.with_spec(5), TypeError, r"spec must be a callable.*got 5"),
    C("with-spec-returns-list", lambda e: LM.with_spec(lambda: [1]), TypeError, r"must return a mapping name -> LossSpec, got list"),
    C("with-spec-bad-entry", lambda e: LM.with_spec(lambda: {"A": (l1, 1.0)}), TypeError, r"spec entry 'A' must be a LossSpec"),
    C("with-spec-bad-weight", lambda e: LM.with_spec(lambda: {"A": LossSpec(l1, "1")}), TypeError, r"weight of loss 'A'.*str: '1'"),
)

# Core LossManager ---------------------------------------------------------------------

cases(
    C("capacity-zero", lambda e: LossManager(capacity=0), ValueError, r"capacity must be a positive int, got capacity=0"),
    C("capacity-negative", lambda e: LossManager(capacity=-1), ValueError, r"capacity=-1"),
    C("capacity-float", lambda e: LossManager(capacity=1.5), TypeError, r"capacity must be a positive int, got float: 1.5"),
    C("capacity-str", lambda e: LossManager(capacity="10"), TypeError, r"capacity must be a positive int, got str: '10'"),
    C("capacity-bool", lambda e: LossManager(capacity=True), TypeError, r"capacity must be a positive int, got bool: True"),
    C("keep-history-str", lambda e: LossManager(keep_history="False"), TypeError, r"keep_history must be a bool, got str: 'False'"),
    C("keep-history-int", lambda e: LossManager(keep_history=0), TypeError, r"keep_history must be a bool, got int: 0"),
    C("check-finite-str", lambda e: LossManager(check_finite="no"), TypeError, r"check_finite must be a bool, got str: 'no'"),
    C("check-finite-none", lambda e: LossManager(check_finite=None), TypeError, r"check_finite must be a bool, got NoneType"),
    C("register-loss-name-int", lambda e: LM.register(5, l1), TypeError, r"loss name must be a non-empty string, got 5"),
    C("register-loss-name-empty", lambda e: LM.register("", l1), TypeError, r"loss name must be a non-empty string, got ''"),
    C("register-name-taken", lambda e: LM.register("L1", l1), ValueError, r"a loss named 'L1' is already registered"),
    C("register-fn-str", lambda e: LM.register("B", "l1"), TypeError, r"loss 'B': fn must be callable.*'l1'"),
    C("register-weight-nan", lambda e: LM.register("B", l1, weight=NAN), ValueError, r"weight of loss 'B'.*must be finite.*nan"),
    C("register-weight-inf", lambda e: LM.register("B", l1, weight=INF), ValueError, r"weight of loss 'B'.*inf"),
    C("register-weight-str", lambda e: LM.register("B", l1, weight="1"), TypeError, r"weight of loss 'B' must be a number or a Schedule.*str: '1'"),
    C("register-weight-bool", lambda e: LM.register("B", l1, weight=True), TypeError, r"weight of loss 'B'.*bool: True"),
    C("register-weight-none", lambda e: LM.register("B", l1, weight=None), TypeError, r"weight of loss 'B'.*NoneType"),
    C("register-weight-optax", lambda e: LM.register("B", l1, weight=optax.constant_schedule(1.0)), TypeError, r"weight of loss 'B'.*from_optax"),
    C("register-weight-complex", lambda e: LM.register("B", l1, weight=np.complex64(1)), TypeError, r"weight of loss 'B'.*complex64"),
    C("register-weight-vector", lambda e: LM.register("B", l1, weight=np.array([1.0, 2.0])), ValueError, r"weight of loss 'B' must be a scalar.*shape \(2,\)"),
    C("register-weight-stacked-schedule", lambda e: LM.register("B", l1, weight=S2), ValueError, r"weight of loss 'B' must be a scalar.*shape \(2,\)"),
    C("register-tags-int", lambda e: LM.register("B", l1, tags=5), TypeError, r"tags of loss 'B' must be a string or a sequence of strings, got 5"),
    C("register-tags-mixed", lambda e: LM.register("B", l1, tags=["G", 5]), TypeError, r"tags of loss 'B'.*\['G', 5\]"),
    C("register-tags-none", lambda e: LM.register("B", l1, tags=None), TypeError, r"tags of loss 'B'.*None"),
    C("register-keep-map-true", lambda e: LM.register("B", l1, keep_map=True), ValueError, r"keep_map must be the shape.*keep_map=True"),
    C("register-keep-map-zero", lambda e: LM.register("B", l1, keep_map=(1, 0)), ValueError, r"keep_map=\(1, 0\)"),
    C("register-keep-map-str", lambda e: LM.register("B", l1, keep_map="full"), ValueError, r"keep_map='full'"),
    C("register-keep-map-float", lambda e: LM.register("B", l1, keep_map=(1, 2.5)), ValueError, r"keep_map=\(1, 2.5\)"),
    C("register-keep-map-no-reduction", lambda e: LM.register("B", _two_d_loss, keep_map=(1, 4)), TypeError, r"loss 'B': keep_map needs a function that accepts reduction='none'"),
    C("set-weight-unknown", lambda e: LM.set_weight("nope", 1.0), KeyError, r"no loss named 'nope'; registered losses: \['L1'"),
    C("set-weight-nan", lambda e: LM.set_weight("L1", NAN), ValueError, r"weight of loss 'L1'.*nan"),
    C("set-weight-str", lambda e: LM.set_weight("L1", "2"), TypeError, r"weight of loss 'L1'.*str: '2'"),
    C("weight-unknown", lambda e: LM.weight("nope", 0), KeyError, r"no loss named 'nope'"),
    C("weight-epoch-bool", lambda e: LM.weight("L1", True), TypeError, r"epoch must be a real number.*bool: True"),
    C("weight-epoch-none", lambda e: LM.weight("L1", None), TypeError, r"epoch must be a real number.*NoneType"),
    C("weight-epoch-vector", lambda e: LM.weight("L1", [1, 2]), TypeError, r"epoch must be a real number or a scalar array, got list"),
    C("weight-epoch-nan", lambda e: LM.weight("L1", NAN), ValueError, r"epoch must be finite, got epoch=nan"),
    C("compute-unknown", lambda e: LM.compute("nope", X, Y), KeyError, r"no loss named 'nope'; registered losses"),
    C("compute-name-int", lambda e: LM.compute(5, X, Y), KeyError, r"no loss named 5"),
    C("compute-epoch-bool", lambda e: LM.compute("L1", X, Y, epoch=True), TypeError, r"epoch must be a real number.*bool: True"),
    C("compute-epoch-str", lambda e: LM.compute("L1", X, Y, epoch="5"), TypeError, r"epoch must be a real number.*str: '5'"),
    C("compute-epoch-nan", lambda e: LM.compute("L1", X, Y, epoch=NAN), ValueError, r"epoch must be finite, got epoch=nan"),
    C("compute-epoch-inf", lambda e: LM.compute("L1", X, Y, epoch=INF), ValueError, r"epoch must be finite, got epoch=inf"),
    C("compute-epoch-none", lambda e: LM.compute("L1", X, Y, epoch=None), TypeError, r"epoch must be a real number.*NoneType"),
    C("compute-epoch-array", lambda e: LM.compute("L1", X, Y, epoch=jnp.zeros(2)), ValueError, r"epoch must be a scalar, got shape \(2,\)"),
    C("compute-epoch-complex", lambda e: LM.compute("L1", X, Y, epoch=np.complex64(1)), TypeError, r"epoch must be a real number.*complex64"),
    C("compute-epoch-jnp-nan", lambda e: LM.compute("L1", X, Y, epoch=jnp.array(NAN)), ValueError, r"epoch must be finite"),
    C("compute-x-complex", lambda e: LM.compute("L1", XC, XC), TypeError, r"loss 'L1': x must be a real array, got dtype complex64"),
    C("compute-y-str", lambda e: LM.compute("L1", X, "y"), TypeError, r"loss 'L1': y must be a real array"),
    C("compute-x-none", lambda e: LM.compute("L1", None, Y), TypeError, r"loss 'L1': x must be a real array"),
    C("compute-shapes", lambda e: LM.compute("L1", X, Y[..., :2]), ValueError, r"loss 'L1': x and y must have the same shape.*\(1, 4, 4, 3\).*\(1, 4, 4, 2\)"),
    C("compute-returns-map", lambda e: LM.compute("TWO_D", X, Y), ValueError, r"loss 'TWO_D': the loss function must return a scalar, got shape \(1, 4, 4, 3\)"),
    C("compute-returns-none", lambda e: LM.compute("NONE", X, Y), TypeError, r"loss 'NONE': the loss function must return a real array, got NoneType"),
    C("compute-returns-complex", lambda e: LM.compute("CPLX", X, Y), TypeError, r"loss 'CPLX': the loss function must return a real array"),
    C("compute-keep-map-shape", lambda e: LM.compute("MAP", jnp.ones((1, 2, 2, 3)), jnp.ones((1, 2, 2, 3))), ValueError, r"loss 'MAP'.*map of shape \(1, 2, 2, 3\).*keep_map=\(1, 4, 4, 3\)"),
    C("compute-many-empty", lambda e: LM.compute_many({}), TypeError, r"inputs must be a non-empty mapping \{name: \(x, y\)\}, got \{\}"),
    C("compute-many-list", lambda e: LM.compute_many([("L1", (X, Y))]), TypeError, r"inputs must be a non-empty mapping"),
    C("compute-many-array-pair", lambda e: LM.compute_many({"L1": jnp.zeros((2, 3))}), TypeError, r"inputs\['L1'\] must be a pair \(x, y\), got ArrayImpl of shape \(2, 3\)"),
    C("compute-many-single", lambda e: LM.compute_many({"L1": (X,)}), TypeError, r"inputs\['L1'\] must be a pair \(x, y\), got tuple of shape"),
    C("compute-many-triple", lambda e: LM.compute_many({"L1": (X, Y, Y)}), TypeError, r"inputs\['L1'\] must be a pair"),
    C("compute-many-unknown", lambda e: LM.compute_many({"L1": (X, Y), "nope": (X, Y)}), KeyError, r"no loss named 'nope'"),
    C("compute-many-epoch-str", lambda e: LM.compute_many({"L1": (X, Y)}, epoch="0"), TypeError, r"epoch must be a real number.*str: '0'"),
    C("flush-path", lambda e: LM_RUN.flush(str(e.tmp / "log")), TypeError, r"log must be a LossLog.*str"),
    C("flush-none", lambda e: LM_RUN.flush(None), TypeError, r"log must be a LossLog.*NoneType"),
    C("flush-path-object", lambda e: LM_RUN.flush(e.tmp), TypeError, r"log must be a LossLog.*Path"),
    C("query-unknown-tag", lambda e: LM.registered("X"), KeyError, r"query 'X' matches no loss; known tags: \['D', 'G'\]"),
    C("query-tag-chars", lambda e: LM.registered("GD"), KeyError, r"query 'GD' matches no loss"),
    C("query-list-unknown", lambda e: LM.registered(["X", "Y"]), KeyError, r"matches no loss"),
    C("query-empty-list", lambda e: LM.registered([]), KeyError, r"query \[\] matches no loss"),
    C("query-int", lambda e: LM.registered(5), TypeError, r"query must be None, a tag \(str\) or a sequence of tags, got 5"),
    C("query-list-int", lambda e: LM.registered(["G", 5]), TypeError, r"query must be.*\['G', 5\]"),
    C("query-dict", lambda e: LM.loss_weights({"G": 1}), TypeError, r"query must be.*\{'G': 1\}"),
    C("loss-values-not-computed", lambda e: LM.loss_values("D"), IndexError, r"loss 'GAN' has not been computed yet"),
    C("loss-values-precision-str", lambda e: LM_RUN.loss_values("G", precision="2"), TypeError, r"precision must be a non-negative int, got str: '2'"),
    C("loss-weights-precision-float", lambda e: LM.loss_weights(precision=1.5), TypeError, r"precision must be a non-negative int, got float: 1.5"),
    C("loss-weights-precision-negative", lambda e: LM.loss_weights(precision=-1), ValueError, r"precision must be a non-negative int, got -1"),
    C("print-losses-query", lambda e: LM_RUN.print_losses(1, 1, query="nope"), KeyError, r"query 'nope' matches no loss"),
    C("print-losses-precision", lambda e: LM_RUN.print_losses(1, 1, precision=None), TypeError, r"precision must be a non-negative int, got NoneType"),
    C("print-weights-precision-bool", lambda e: LM.print_weights(precision=True), TypeError, r"precision must be a non-negative int, got bool"),
    C("index-unknown", lambda e: LM.index("nope"), KeyError, r"no loss named 'nope'"),
)

# interop: Schedule, Scheduler, TorchScheduler ------------------------------------------

cases(
    C("i-schedule-start-bool", lambda e: interop.Schedule(start_epoch=True), TypeError, r"Schedule: start_epoch must be a real number, got bool: True"),
    C("i-schedule-start-str", lambda e: interop.Schedule(start_epoch="1"), TypeError, r"Schedule: start_epoch must be a real number, got str: '1'"),
    C("i-schedule-end-none", lambda e: interop.Schedule(end_epoch=None), TypeError, r"Schedule: end_epoch must be a real number, got NoneType"),
    C("i-schedule-end-nan", lambda e: interop.Schedule(end_epoch=NAN), ValueError, r"Schedule: end_epoch must be finite, got nan"),
    C("i-schedule-initial-nan", lambda e: interop.Schedule(initial_value=NAN), ValueError, r"Schedule: initial_value must be finite, got nan"),
    C("i-schedule-initial-inf", lambda e: interop.Schedule(initial_value=INF), ValueError, r"initial_value must be finite, got inf"),
    C("i-schedule-initial-str", lambda e: interop.Schedule(initial_value="2e-4"), TypeError, r"initial_value must be a real number, got str: '2e-4'"),
    C("i-schedule-target-nan", lambda e: interop.Schedule(target_value=NAN), ValueError, r"target_value must be finite"),
    C("i-schedule-target-bool", lambda e: interop.Schedule(target_value=False), TypeError, r"target_value must be a real number, got bool"),
    C("i-schedule-current-str", lambda e: interop.Schedule(current_value="1"), TypeError, r"current_value must be a real number, got str"),
    C("i-schedule-kind-bogus", lambda e: interop.Schedule(schedule="bogus"), ValueError, r"Schedule: schedule='bogus'.*'linear', 'exponential'"),
    C("i-schedule-kind-int", lambda e: interop.Schedule(schedule=5), TypeError, r"Schedule: schedule must be a name in schedule_map.*int: 5"),
    C("i-schedule-kind-bogus-default-numbers", lambda e: interop.Schedule("cosine"), ValueError, r"schedule='cosine'"),
    C("i-schedule-end-equals-start", lambda e: interop.Schedule(start_epoch=5, end_epoch=5), ValueError, r"end_epoch > start_epoch, got start_epoch=5, end_epoch=5"),
    C("i-schedule-end-before-start", lambda e: interop.Schedule(start_epoch=10, end_epoch=2), ValueError, r"end_epoch > start_epoch"),
    C("i-schedule-exp-negative", lambda e: interop.Schedule("exponential", 1, 10, -1.0, 1.0), ValueError, r"initial_value >= 0.*initial_value=-1.0"),
    C("i-scheduler-not-schedule", lambda e: interop.Scheduler(5), TypeError, r"Scheduler: schedule must be an interop Schedule, got int: 5"),
    C("i-scheduler-str", lambda e: interop.Scheduler("linear"), TypeError, r"Scheduler: schedule must be an interop Schedule, got str: 'linear'"),
    C("i-scheduler-epoch-str", lambda e: interop.Scheduler(e.isched).eval_schedule("3"), TypeError, r"epoch must be a real number.*str: '3'"),
    C("i-scheduler-epoch-nan", lambda e: interop.Scheduler(e.isched).eval_schedule(NAN), ValueError, r"epoch must be finite"),
    C("i-torch-scheduler-str", lambda e: interop.TorchScheduler(e.opt, "linear"), TypeError, r"TorchScheduler: schedule must be an interop Schedule or None, got str: 'linear'"),
    C("i-torch-scheduler-core", lambda e: interop.TorchScheduler(e.opt, S), TypeError, r"TorchScheduler: schedule must be an interop Schedule.*to_core_schedule|TorchScheduler: schedule must be an interop Schedule or None, got Schedule"),
    C("i-torch-scheduler-opt", lambda e: interop.TorchScheduler("adam", e.isched), TypeError, r"TorchScheduler: optimizer must be a torch.optim.Optimizer, got str: 'adam'"),
    C("i-linear-epoch-str", lambda e: interop.ScheduleDefs.linear(e.isched, "2"), TypeError, r"epoch must be a real number.*str: '2'"),
    C("i-exp-epsilon-negative", lambda e: interop.ScheduleDefs.exponential(interop.Schedule("exponential", 1, 10, 1.0, 0.0), 3, epsilon=-1), ValueError, r"epsilon must be a positive.*epsilon=-1"),
)

# interop: LossManager -------------------------------------------------------------------

T = torch.ones(1, 3, 4, 4)
cases(
    C("i-lm-buffer-zero", lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=0), ValueError, r"buffer_size \(history_buffer_size\) must be a positive int, got 0"),
    C("i-lm-buffer-negative", lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=-1), ValueError, r"history_buffer_size\) must be a positive int, got -1"),
    C("i-lm-buffer-float", lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=1.5), TypeError, r"history_buffer_size\) must be a positive int, got float: 1.5"),
    C("i-lm-buffer-bool", lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=True), TypeError, r"got bool: True"),
    C("i-lm-buffer-str", lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size="50"), TypeError, r"got str: '50'"),
    C("i-lm-enable-logging-str", lambda e: interop.LossManager(None, e.tmp / "new", enable_logging="no"), TypeError, r"enable_logging must be a bool, got str: 'no'"),
    C("i-lm-experiment-dir-none", lambda e: interop.LossManager(None, None), TypeError, r"experiment_dir must be a path.*NoneType"),
    C("i-lm-config-missing-file", lambda e: interop.LossManager(e.tmp / "nope.json", e.tmp / "new"), FileNotFoundError, r"no config file at '.*nope.json'"),
    C("i-lm-config-corrupt-file", lambda e: interop.LossManager(e.tmp / "config.json", e.tmp / "new"), ValueError, r"config.json.*not valid JSON"),
    C("i-lm-config-int", lambda e: interop.LossManager(5, e.tmp / "new"), ValueError, r"LossManager reads config.common.device, which this config lacks"),
    C("i-lm-buffer-set-zero", lambda e: setattr(e.ilm, "buffer_size", 0), ValueError, r"buffer_size \(history_buffer_size\) must be a positive int, got 0"),
    C("i-register-name-int", lambda e: e.ilm.register_loss_fn(5, torch.nn.L1Loss()), TypeError, r"register_loss_fn: loss_name must be a non-empty string, got int: 5"),
    C("i-register-name-empty", lambda e: e.ilm.register_loss_fn("", torch.nn.L1Loss()), ValueError, r"loss_name must be a non-empty string, got ''"),
    C("i-register-name-taken", lambda e: e.ilm.register_loss_fn("G_L1", torch.nn.L1Loss()), ValueError, r"Loss name 'G_L1' is already registered"),
    C("i-register-fn-str", lambda e: e.ilm.register_loss_fn("B", "L1Loss"), TypeError, r"register_loss_fn: loss_fn of 'B' must be callable.*'L1Loss'"),
    C("i-register-weight-nan", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=NAN), ValueError, r"loss_weight of 'B' must be finite, got nan"),
    C("i-register-weight-inf", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=-INF), ValueError, r"loss_weight of 'B' must be finite, got -inf"),
    C("i-register-weight-str", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight="1"), TypeError, r"loss_weight of 'B' must be a real number, got str: '1'"),
    C("i-register-weight-bool", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=True), TypeError, r"loss_weight of 'B' must be a real number, got bool"),
    C("i-register-weight-tensor", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=torch.ones(2)), TypeError, r"loss_weight of 'B' must be a real number, got Tensor"),
    C("i-register-schedule-str", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), schedule="linear"), TypeError, r"schedule of 'B' must be an interop Schedule or None, got str: 'linear'"),
    C("i-register-schedule-core", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), schedule=S), TypeError, r"schedule of 'B' must be an interop Schedule"),
    C("i-register-tags-str", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), tags="GEN"), TypeError, r"tags of 'B' must be a list of strings, got str: 'GEN' \(did you mean \['GEN'\]\?\)"),
    C("i-register-tags-int", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), tags=5), TypeError, r"tags of 'B' must be a list of strings, got int: 5"),
    C("i-register-tags-mixed", lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), tags=["G", 1]), TypeError, r"tags of 'B' must be a list of strings, got list: \['G', 1\]"),
    C("i-init-spec-bad", lambda e: e.ilm.init_from_spec(lambda: {"A": 1}), RuntimeError, r"Unable to initialize losses from spec.*'A' is a int, not an LMLoss"),
    C("i-init-spec-raises", lambda e: e.ilm.init_from_spec(interop.pix2pix, None, "full"), RuntimeError, r"Unable to initialize.*subspec 'full'"),
    C("i-init-spec-list", lambda e: e.ilm.init_from_spec(lambda: [1]), RuntimeError, r"returned list, not a dict"),
    C("i-compute-unknown", lambda e: e.ilm.compute_loss_xy("nope", T, T), KeyError, r"Unknown loss 'nope'; registered losses: \['G_L1', 'D_S'\]"),
    C("i-compute-epoch-bool", lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=True), TypeError, r"compute_loss_xy: epoch must be a real number, got bool: True"),
    C("i-compute-epoch-str", lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch="5"), TypeError, r"epoch must be a real number, got str: '5'"),
    C("i-compute-epoch-nan", lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=NAN), ValueError, r"compute_loss_xy: epoch must be finite, got epoch=nan"),
    C("i-compute-epoch-nan-unscheduled", lambda e: e.ilm.compute_loss_xy("G_L1", T, T, epoch=NAN), ValueError, r"epoch must be finite"),
    C("i-compute-epoch-inf", lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=INF), ValueError, r"epoch must be finite, got epoch=inf"),
    C("i-compute-epoch-none", lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=None), TypeError, r"epoch must be a real number, got NoneType"),
    C("i-compute-epoch-tensor", lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=torch.ones(2)), TypeError, r"epoch must be a real number, got Tensor"),
    C("i-compute-kwargs-int", lambda e: e.ilm.compute_loss_xy("D_S", T, T, loss_kwargs=5), TypeError, r"loss_kwargs must be a dict.*int: 5"),
    C("i-compute-weight-kwargs-int", lambda e: e.ilm.compute_loss_xy("D_S", T, T, loss_kwargs={"weight_kwargs": 5}), TypeError, r"loss_kwargs\['weight_kwargs'\] must be a dict.*int: 5"),
    C("i-compute-weight-kwargs-unknown", lambda e: e.ilm.compute_loss_xy("D_S", T, T, loss_kwargs={"weight_kwargs": {"bogus": 1}}), TypeError, r"bogus"),
    C("i-compute-returns-none", lambda e: (e.ilm.register_loss_fn("N", lambda x, y: None), e.ilm.compute_loss_xy("N", T, T)), TypeError, r"compute_loss_xy: loss 'N' returned NoneType, not a torch.Tensor"),
    C("i-query-str", lambda e: e.ilm.get_loss_values(query="G"), TypeError, r"query must be None or a list of tags, got str: 'G' \(did you mean \['G'\]\?\)"),
    C("i-query-int", lambda e: e.ilm.get_loss_weights(query=5), TypeError, r"query must be None or a list of tags, got int: 5"),
    C("i-query-mixed", lambda e: e.ilm.get_loss_tensors(query=["G", None]), TypeError, r"query must be None or a list of tags.*\['G', None\]"),
    C("i-query-registered-str", lambda e: e.ilm.get_registered_losses(query="D"), TypeError, r"query must be None or a list of tags, got str: 'D'"),
    C("i-precision-str", lambda e: e.ilm.get_loss_values(precision="2"), TypeError, r"precision must be a non-negative int, got str: '2'"),
    C("i-precision-negative", lambda e: e.ilm.get_loss_weights(precision=-2), ValueError, r"precision must be a non-negative int, got -2"),
    C("i-print-losses-precision", lambda e: e.ilm.print_losses(1, 1, precision=None), TypeError, r"precision must be a non-negative int, got NoneType"),
    C("i-values-not-run", lambda e: (e.ilm.register_loss_fn("NEW", torch.nn.L1Loss()), e.ilm.get_loss_values(["G", "D"]), e.ilm.get_loss_values()), IndexError, r"Loss 'NEW' has no value yet"),
    C("i-xyz", lambda e: e.ilm.compute_loss_xyz(T, T, T), NotImplementedError, r"compute_loss_xyz is not implemented"),
    C("i-pix2pix-subspec", lambda e: interop.pix2pix(None, "full"), ValueError, r"Unknown pix2pix subspec 'full'"),
    C("i-pix2pix-lambda-str", lambda e: interop.pix2pix({"train": {"loss": {"lambda_l1": "100"}}}), (TypeError, ValueError), r"lambda_l1|invalid"),
    C("i-lmloss-weight-nan", lambda e: interop.LMLoss("A", torch.nn.L1Loss(), loss_weight=NAN), ValueError, r"LMLoss: loss_weight of 'A' must be finite, got nan"),
    C("i-lmloss-weight-str", lambda e: interop.LMLoss("A", torch.nn.L1Loss(), loss_weight="1"), TypeError, r"LMLoss: loss_weight of 'A' must be a real number, got str"),
    C("i-lmloss-tags-str", lambda e: interop.LMLoss("A", torch.nn.L1Loss(), tags="G"), TypeError, r"LMLoss: tags of 'A' must be a list of strings, got str: 'G'"),
    C("i-lmloss-name-int", lambda e: interop.LMLoss(5, torch.nn.L1Loss()), TypeError, r"LMLoss: name must be a non-empty string, got int: 5"),
    C("i-lmloss-schedule-str", lambda e: interop.LMLoss("A", torch.nn.L1Loss(), schedule="linear"), TypeError, r"LMLoss: schedule of 'A' must be an interop Schedule"),
    C("i-sobel-3d", lambda e: interop.Sobel()(torch.ones(3, 8, 8), torch.ones(3, 8, 8)), ValueError, r"Sobel: .*4-D \(N, C, H, W\)"),
    C("i-laplacian-array", lambda e: interop.Laplacian()(np.ones((1, 3, 8, 8)), torch.ones(1, 3, 8, 8)), TypeError, r"Laplacian"),
    C("i-to-jax-array", lambda e: interop.to_jax(np.ones(2)), TypeError, r"to_jax takes a torch.Tensor, got ndarray"),
    C("i-config-missing-file", lambda e: interop.ConfigManager(e.tmp / "missing.json"), FileNotFoundError, r"no config file at '.*missing.json'"),
    C("i-config-corrupt", lambda e: interop.ConfigManager(e.tmp / "config.json"), ValueError, r"config.json.*not valid JSON"),
    C("i-config-bad-dict", lambda e: interop.ConfigManager({"config": {"bogus": 1}}), ValueError, r"Input config dict is invalid"),
    C("i-config-export-missing-dir", lambda e: interop.ConfigManager(None).export_config(e.tmp / "missing_dir"), FileNotFoundError, r"missing_dir"),
)


# The loss log: missing, unwritable and damaged files ---------------------------------

ONE = {"A": ([1.0], [2.0])}
cases(
    C("log-dir-none", lambda e: LossLog(None), TypeError, r"experiment_dir must be a path \(str or os.PathLike\), got None"),
    C("log-dir-int", lambda e: LossLog(5), TypeError, r"experiment_dir must be a path.*got 5"),
    C("log-compact-str", lambda e: LossLog(e.tmp / "exp2", compact_every_append="yes"), TypeError, r"compact_every_append must be True or False, got 'yes'"),
    C("log-dir-is-file-append", lambda e: LossLog(e.tmp / "afile").append(ONE), NotADirectoryError, r"experiment_dir '.*afile' is a file"),
    C("log-dir-is-file-read", lambda e: LossLog(e.tmp / "afile").read(), NotADirectoryError, r"afile' is a file"),
    C("log-parent-is-file", lambda e: LossLog(e.tmp / "afile" / "exp").append(ONE), OSError, r"afile"),
    C("log-append-2d-array", lambda e: LossLog(e.tmp / "exp2").append({"A": np.ones((2, 3))}), ValueError, r"records\['A'\] is an array of shape \(2, 3\), not a pair"),
    C("log-append-lengths", lambda e: LossLog(e.tmp / "exp2").append({"A": ([1.0, 2.0], [1.0])}), ValueError, r"records\['A'\] has columns of different lengths"),
    C("log-append-str", lambda e: LossLog(e.tmp / "exp2").append("records"), TypeError, r"records must be a mapping.*got a str: 'records'"),
    C("log-append-name-int", lambda e: LossLog(e.tmp / "exp2").append({5: ([1.0], [1.0])}), TypeError, r"record names must be strings, got 5"),
    C("log-append-str-losses", lambda e: LossLog(e.tmp / "exp2").append({"A": (["a"], [1.0])}), TypeError, r"records\['A'\] losses must hold real numbers"),
    C("log-append-bool-weights", lambda e: LossLog(e.tmp / "exp2").append({"A": ([1.0], [True])}), TypeError, r"records\['A'\] weights must hold real numbers, got dtype bool"),
    C("log-append-closed", lambda e: _closed_log(e.tmp / "exp3").append(ONE), ValueError, r"LossLog.append: the log of '.*exp3' is closed"),
    C("log-read-truncated", lambda e: LossLog(e.tmp / "damaged").read(), DamagedLogError, r"damaged/loss_log.json, line 1: the file ends in the middle of its JSON document"),
    C("log-append-truncated", lambda e: LossLog(e.tmp / "damaged").append(ONE), DamagedLogError, r"damaged/loss_log.json.*Nothing was written"),
    C("log-compact-truncated", lambda e: LossLog(e.tmp / "damaged").compact(), DamagedLogError, r"damaged/loss_log.json"),
    C("log-read-not-a-log", lambda e: LossLog(e.tmp / "not_a_log").read(), DamagedLogError, r"not_a_log/loss_log.json: the top level is not an object with the key 'LOSSMANAGER_LOG'"),
    C("log-append-not-a-log", lambda e: LossLog(e.tmp / "not_a_log").append(ONE), DamagedLogError, r"not_a_log/loss_log.json"),
    C("flush-into-damaged-log", lambda e: LM_RUN.flush(LossLog(e.tmp / "damaged")), DamagedLogError, r"damaged/loss_log.json.*Nothing was written"),
    C("flush-into-file", lambda e: LM_RUN.flush(LossLog(e.tmp / "afile")), NotADirectoryError, r"afile' is a file"),
    C("i-compute-flush-into-damaged-log", lambda e: e.ilm_damaged.compute_loss_xy("G_L1", T, T * 0, epoch=5), DamagedLogError, r"damaged/loss_log.json"),
    C("i-update-damaged-log", lambda e: e.ilm_damaged.update_loss_log(), DamagedLogError, r"damaged/loss_log.json"),
    C("i-export-into-file", lambda e: interop.LossManager(None, e.tmp / "afile").export_base_log(), NotADirectoryError, r"afile' is a file"),
)


def _closed_log(folder: Path) -> LossLog:
    log = LossLog(folder)
    log.close()
    return log


def _write_broken_weights(tmp: Path) -> None:
    (tmp / "bad.npz").write_bytes(b"not a zip file")
    (tmp / "bad.pth").write_bytes(b"not a torch file")
    np.savez(tmp / "partial.npz", **{"features.2.weight": np.zeros(1)})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clear_error_and_changes_nothing(case: Case, tmp_path: Path):
    env = _make_env(tmp_path)
    _write_broken_weights(tmp_path)
    before = _snapshot(env)
    with pytest.raises(case.error) as caught:
        case.call(env)
    assert re.search(case.match, str(caught.value), re.DOTALL), str(caught.value)
    after = _snapshot(env)
    if case.id.startswith(("i-compute-returns-none", "i-values-not-run")):
        # These cases register a loss first (a valid call); the failing call after it
        # must leave the others as they were.
        after["interop"][0][0].pop("N", None)
        after["interop"][0][0].pop("NEW", None)
    assert _same(before, after)


def test_the_table_walks_at_least_200_bad_inputs():
    assert len(CASES) >= 200
    assert len({c.id for c in CASES}) == len(CASES)


def test_a_traced_epoch_is_not_inspected():
    """Inside a trace, the epoch's value cannot be checked: NaN gives NaN (documented)."""
    value = jax.jit(lambda e: S(e))(jnp.array(NAN))
    assert math.isnan(float(value))
    scheduled = LossManager().register("A", l1, weight=S)
    loss, manager = jax.jit(lambda e: scheduled.compute("A", X, Y, epoch=e))(jnp.array(NAN))
    assert math.isnan(float(loss))
    assert math.isnan(manager.loss_values()["A"])
