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
from interop_configs import reference_config
from nectargan_jax.manager import reporting
from nectargan_jax import scheduling as sch
from nectargan_jax import LossLog, LossManager
from nectargan_jax.log import DamagedLogError
from nectargan_jax.losses import (LossSpec, VGG19Features, VGGPerceptual,
                                  bce_with_logits, l1, laplacian, load_vgg19_features, mse,
                                  pix2pix, sobel, vgg_perceptual_loss)
from nectargan_jax.scheduling import Schedule
from nectargan_jax.weighting import (adaptive_last_layer, clip, dwa, ema, freeze, gate,
                                     grad_norm_balance, gradnorm, layer_grads, relobralo,
                                     softadapt, uncertainty)

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


def _vector_kind(schedule, epoch):
    return jnp.ones(3) * epoch


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
    """Mutable objects built fresh for each case, in their own folder.

    The interop objects are built only for the ``i-`` cases (the others never reach
    them); the files are written for every case.
    """

    tmp: Path
    ilm: interop.LossManager | None = None
    isched: interop.Schedule | None = None
    opt: torch.optim.Optimizer | None = None
    ilm_damaged: interop.LossManager | None = None  # its log is truncated, history full


def _make_env(tmp: Path, with_interop: bool) -> Env:
    (tmp / "config.json").write_text("{not json", encoding="utf-8")
    (tmp / "latin1.json").write_bytes('{"config": {"name": "café"}}'.encode("latin-1"))
    (tmp / "weights.txt").write_text("not weights", encoding="utf-8")
    (tmp / "afile").write_text("a file, not a folder", encoding="utf-8")
    (tmp / "damaged").mkdir()
    (tmp / "damaged" / "loss_log.json").write_text('{"LOSSMANAGER_LOG": {', encoding="utf-8")
    (tmp / "not_a_log").mkdir()
    (tmp / "not_a_log" / "loss_log.json").write_text("[1, 2]", encoding="utf-8")
    (tmp / "bad.npz").write_bytes(b"not a zip file")
    (tmp / "bad.pth").write_bytes(b"not a torch file")
    np.savez(tmp / "partial.npz", **{"features.2.weight": np.zeros(1)})
    if not with_interop:
        return Env(tmp)
    ilm = interop.LossManager(None, tmp / "exp", history_buffer_size=4)
    isched = interop.Schedule(start_epoch=1, end_epoch=11, initial_value=2.0, target_value=0.0)
    ilm.register_loss_fn("G_L1", torch.nn.L1Loss(), loss_weight=100.0, tags=["G"])
    ilm.register_loss_fn("D_S", torch.nn.MSELoss(), schedule=isched, tags=["D"])
    x, y = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    ilm.compute_loss_xy("G_L1", x, y, epoch=1)
    ilm.compute_loss_xy("D_S", x, y, epoch=3)
    ilm.update_loss_log()
    ilm.compute_loss_xy("G_L1", x, y, epoch=2)
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    damaged = interop.LossManager(None, tmp / "damaged", history_buffer_size=1)
    damaged.register_loss_fn("G_L1", torch.nn.L1Loss(), schedule=interop.Schedule(
        start_epoch=1, end_epoch=11, initial_value=2.0, target_value=0.0))
    damaged.compute_loss_xy("G_L1", x, y, epoch=1)
    return Env(tmp, ilm, isched, opt, damaged)


def _leaves(tree: Any) -> list[np.ndarray]:
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


def _interop_state(manager: interop.LossManager | None) -> tuple | None:
    if manager is None:
        return None
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
                    env.isched and vars(env.isched).copy(),
                    env.opt and env.opt.param_groups[0]["lr"]),
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
    """A bad call: its id, the error it must raise, a regex its message must match."""

    id: str
    error: type[BaseException]
    match: str
    call: Callable[[Env], Any]


C = Case
CASES: list[Case] = []


def cases(*rows: Case) -> None:
    CASES.extend(rows)


# Schedule: kind, numbers, options, epochs ----------------------------------------------

cases(
    C("kind-unknown", ValueError, r"schedule='bogus'.*accepted: 'constant', 'linear'",
      lambda e: Schedule("bogus")),
    C("kind-int", TypeError, r"schedule must be a registered name.*int: 5", lambda e: Schedule(5)),
    C("kind-none", TypeError, r"schedule must be .*NoneType: None", lambda e: Schedule(None)),
    C("kind-branches-in-python", TypeError, r"_branchy.*Python.*traced|_branchy.*jnp.where",
      lambda e: Schedule(_branchy, 0, 10)),
    C("kind-numpy", TypeError, r"_numpy_kind.*NumPy call.*jnp",
      lambda e: Schedule(_numpy_kind, 0, 10)),
    C("kind-int-of-traced", TypeError, r"_int_kind.*traced value in Python control flow",
      lambda e: Schedule(_int_kind, 0, 10)),
    C("kind-returns-string", TypeError, r"_string_kind.*must return.*real.*str",
      lambda e: Schedule(_string_kind, 0, 10)),
    C("kind-returns-vector", ValueError,
      r"_vector_kind.*one value per schedule.*shape \(\).*got shape \(3,\)",
      lambda e: Schedule(_vector_kind, 0, 10)),
    C("kind-returns-vector-batch", ValueError, r"_vector_kind.*shape \(2,\).*got shape \(3,\)",
      lambda e: Schedule(_vector_kind, 0, 10, [1.0, 2.0])),
    C("start-bool", TypeError, r"start_epoch must be a real number, got bool True",
      lambda e: Schedule(start_epoch=True)),
    C("start-str", TypeError, r"start_epoch must be a real number, got str: '0'",
      lambda e: Schedule(start_epoch="0")),
    C("start-none", TypeError, r"start_epoch must be a real number, got NoneType",
      lambda e: Schedule(start_epoch=None)),
    C("start-complex", TypeError, r"start_epoch must be a real number, got complex",
      lambda e: Schedule(start_epoch=1j)),
    C("start-nan", ValueError, r"start_epoch must be finite, got start_epoch=nan",
      lambda e: Schedule(start_epoch=NAN)),
    C("end-inf", ValueError, r"end_epoch must be finite, got end_epoch=inf",
      lambda e: Schedule(end_epoch=INF)),
    C("end-nan", ValueError, r"end_epoch must be finite", lambda e: Schedule(end_epoch=NAN)),
    C("end-bool", TypeError, r"end_epoch must be a real number, got bool",
      lambda e: Schedule(end_epoch=False)),
    C("end-equals-start", ValueError,
      r"end_epoch must be greater than start_epoch, got start_epoch=5.0, end_epoch=5.0",
      lambda e: Schedule("linear", 5, 5)),
    C("end-before-start", ValueError,
      r"end_epoch must be greater than start_epoch.*start_epoch=10.0",
      lambda e: Schedule("cosine", 10, 5)),
    C("end-before-start-batch", ValueError, r"start_epoch=9.0 \(at index \(1,\)",
      lambda e: Schedule("linear", [0, 9], [10, 5])),
    C("initial-nan", ValueError, r"initial_value must be finite, got initial_value=nan",
      lambda e: Schedule(initial_value=NAN)),
    C("initial-neg-inf", ValueError, r"initial_value must be finite, got initial_value=-inf",
      lambda e: Schedule(initial_value=-INF)),
    C("initial-str", TypeError, r"initial_value must be a real number, got str: '1.0'",
      lambda e: Schedule(initial_value="1.0")),
    C("initial-complex-array", TypeError,
      r"initial_value must be a real number, got dtype complex128",
      lambda e: Schedule(initial_value=np.array(1 + 1j))),
    C("initial-bool-array", TypeError, r"initial_value must be a real number, got .*bool",
      lambda e: Schedule(initial_value=np.array(True))),
    C("initial-list-with-bool", TypeError, r"initial_value must hold real numbers, got True",
      lambda e: Schedule(initial_value=[1.0, True])),
    C("initial-list-with-str", TypeError, r"initial_value must hold real numbers, got '2'",
      lambda e: Schedule(initial_value=[1.0, "2"])),
    C("initial-array-nan", ValueError, r"initial_value must be finite.*nan \(at index \(1,\)",
      lambda e: Schedule(initial_value=np.array([1.0, NAN]))),
    C("target-none", TypeError, r"target_value must be a real number, got NoneType",
      lambda e: Schedule(target_value=None)),
    C("target-inf", ValueError, r"target_value must be finite",
      lambda e: Schedule(target_value=INF)),
    C("numbers-shapes-mismatch", ValueError, r"start_epoch.*shape \(2,\).*end_epoch.*shape \(3,\)",
      lambda e: Schedule("linear", [0, 1], [10, 11, 12])),
    C("exp-negative-initial", ValueError, r"exponential.*initial_value >= 0.*initial_value=-1.0",
      lambda e: Schedule("exponential", 0, 10, -1.0, 1.0)),
    C("exp-negative-target", ValueError, r"target_value=-0.5",
      lambda e: Schedule("exponential", 0, 10, 1.0, -0.5)),
    C("exp-zero-strict", ValueError, r"cannot reach or leave 0.*initial_value=0.0",
      lambda e: Schedule("exponential", 0, 10, 0.0, 1.0, options={"allow_zero_weights": False})),
    C("exp-epsilon-negative", ValueError, r"epsilon must be a positive.*epsilon=-1",
      lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": -1})),
    C("exp-epsilon-zero", ValueError, r"epsilon must be a positive.*epsilon=0.0",
      lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": 0.0})),
    C("exp-epsilon-nan", ValueError, r"epsilon must be a positive.*epsilon=nan",
      lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": NAN})),
    C("exp-epsilon-str", TypeError, r"epsilon must be a positive.*'1e-9'",
      lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": "1e-9"})),
    C("exp-epsilon-bool", TypeError, r"epsilon must be a positive.*True",
      lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"epsilon": True})),
    C("exp-allow-zero-str", TypeError, r"allow_zero_weights must be a bool, got str: 'no'",
      lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"allow_zero_weights": "no"})),
    C("exp-silent-int", TypeError, r"silent must be a bool, got int: 1",
      lambda e: Schedule("exponential", 0, 10, 1.0, 0.0, options={"silent": 1})),
    C("options-unknown", TypeError, r"options \{'bogus': 1\} do not fit.*'linear'",
      lambda e: Schedule("linear", 0, 10, options={"bogus": 1})),
    C("options-int", TypeError, r"options must be a mapping.*5",
      lambda e: Schedule("linear", 0, 10, options=5)),
    C("options-bad-pairs", TypeError, r"options must be a mapping.*\[1, 2\]",
      lambda e: Schedule("linear", 0, 10, options=[1, 2])),
    C("replace-unknown-field", TypeError, r"Schedule.replace takes.*'start_epoch'.*\['bogus'\]",
      lambda e: S.replace(bogus=1)),
    C("replace-nan", ValueError, r"target_value must be finite",
      lambda e: S.replace(target_value=NAN)),
    C("call-epoch-bool", TypeError, r"epoch must be a real number, got bool True",
      lambda e: S(True)),
    C("call-epoch-str", TypeError, r"epoch must be a real number.*str: '5'", lambda e: S("5")),
    C("call-epoch-none", TypeError, r"epoch must be a real number.*NoneType: None",
      lambda e: S(None)),
    C("call-epoch-nan", ValueError, r"epoch must be finite, got epoch=nan", lambda e: S(NAN)),
    C("call-epoch-inf", ValueError, r"epoch must be finite, got epoch=-inf", lambda e: S(-INF)),
    C("call-epoch-complex", TypeError, r"epoch must be a real number.*complex", lambda e: S(2j)),
    C("call-epoch-complex-array", TypeError, r"epoch must be a real number.*dtype complex128",
      lambda e: S(np.array([1j]))),
    C("call-epoch-bool-array", TypeError, r"epoch must be a real number.*dtype bool",
      lambda e: S(jnp.array([True, False]))),
    C("call-epoch-array-nan", ValueError, r"epoch must be finite.*nan \(at index \(1,\)",
      lambda e: S(np.array([1.0, NAN]))),
    C("call-epoch-list-str", TypeError, r"epoch must hold real numbers, got '1'",
      lambda e: S(["1"])),
    C("call-stacked-epoch-shape", ValueError, r"epoch.*shape \(3,\).*schedule.*shape \(2,\)",
      lambda e: S2(jnp.zeros(3))),
    C("multiplier-epoch-str", TypeError, r"epoch must be a real number.*str: '1'",
      lambda e: S.multiplier("1")),
    C("exp-call-epoch-nan", ValueError, r"epoch must be finite", lambda e: S_EXP(NAN)),
)

# Factories, register_schedule, stack ----------------------------------------------------

cases(
    C("linear-nan-target", ValueError, r"target_value must be finite",
      lambda e: sch.linear(0, 10, 1.0, NAN)),
    C("linear-str-start", TypeError, r"start_epoch must be a real number, got str: '0'",
      lambda e: sch.linear("0", 10, 1.0, 0.0)),
    C("linear-end-before-start", ValueError, r"end_epoch must be greater than start_epoch",
      lambda e: sch.linear(10, 0, 1.0, 0.0)),
    C("linear-bool-initial", TypeError, r"initial_value must be a real number, got bool",
      lambda e: sch.linear(0, 10, True, 0.0)),
    C("cosine-equal-epochs", ValueError, r"end_epoch must be greater than start_epoch",
      lambda e: sch.cosine(3, 3, 1.0, 0.0)),
    C("cosine-none-value", TypeError, r"initial_value must be a real number",
      lambda e: sch.cosine(0, 3, None, 0.0)),
    C("exponential-negative", ValueError, r"initial_value=-2.0",
      lambda e: sch.exponential(0, 10, -2.0, 1.0)),
    C("exponential-epsilon-negative", ValueError, r"epsilon must be a positive.*epsilon=-1",
      lambda e: sch.exponential(0, 10, 1.0, 0.0, epsilon=-1)),
    C("exponential-epsilon-inf", ValueError, r"epsilon must be a positive.*epsilon=inf",
      lambda e: sch.exponential(0, 10, 1.0, 0.0, epsilon=INF)),
    C("exponential-allow-zero-str", TypeError,
      r"allow_zero_weights must be a bool, got str: 'False'",
      lambda e: sch.exponential(0, 10, 1.0, 0.0, allow_zero_weights="False")),
    C("exponential-silent-none", TypeError, r"silent must be a bool, got NoneType",
      lambda e: sch.exponential(0, 10, 1.0, 0.0, silent=None)),
    C("exponential-zero-strict", ValueError, r"cannot reach or leave 0",
      lambda e: sch.exponential(0, 10, 1.0, 0.0, allow_zero_weights=False)),
    C("constant-nan", ValueError, r"initial_value must be finite", lambda e: sch.constant(NAN)),
    C("constant-str", TypeError, r"initial_value must be a real number, got str: '1'",
      lambda e: sch.constant("1")),
    C("constant-bool", TypeError, r"initial_value must be a real number, got bool",
      lambda e: sch.constant(False)),
    C("register-name-int", TypeError, r"non-empty string name, got 5",
      lambda e: sch.register_schedule(5, sch.schedule_functions()["linear"])),
    C("register-name-empty", TypeError, r"non-empty string name, got ''",
      lambda e: sch.register_schedule("", sch.schedule_functions()["linear"])),
    C("register-fn-not-callable", TypeError, r"callable fn, got 5",
      lambda e: sch.register_schedule("mine", 5)),
    C("register-taken", ValueError, r"'linear' is already registered.*overwrite=True",
      lambda e: sch.register_schedule("linear", sch.schedule_functions()["cosine"])),
    C("register-overwrite-str", TypeError, r"overwrite must be a bool, got str: 'yes'",
      lambda e: sch.register_schedule("linear", sch.schedule_functions()["cosine"],
                                      overwrite="yes")),
    C("stack-empty", ValueError, r"stack requires at least one schedule", lambda e: sch.stack([])),
    C("stack-int", TypeError, r"schedules must be a sequence of Schedules, got int: 5",
      lambda e: sch.stack(5)),
    C("stack-float-element", TypeError, r"schedules\[1\] must be a Schedule, got float: 1.0",
      lambda e: sch.stack([S, 1.0])),
    C("stack-mixed-kinds", ValueError, r"one kind and options.*'exponential'.*'linear'",
      lambda e: sch.stack([S, S_EXP])),
    C("stack-mixed-shapes", ValueError, r"stack requires schedules of one shape.*\(\).*\(2,\)",
      lambda e: sch.stack([S, Schedule("linear", 0, 10, [1.0, 2.0])])),
)

# Composition and optax --------------------------------------------------------------

cases(
    C("join-boundaries-int", TypeError,
      r"boundaries must be a sequence of real numbers, got int: 5",
      lambda e: sch.join_schedules([S, S], 5)),
    C("join-schedules-int", TypeError, r"schedules must be a sequence of schedules, got int: 5",
      lambda e: sch.join_schedules(5, [1])),
    C("join-schedules-empty", ValueError, r"at least one schedule",
      lambda e: sch.join_schedules([], [])),
    C("join-element-float", TypeError, r"schedules\[1\] must be a Schedule.*2.0",
      lambda e: sch.join_schedules([S, 2.0], [5])),
    C("join-too-many-boundaries", ValueError,
      r"len\(boundaries\) == len\(schedules\) - 1, got 2 boundaries for 2 schedules",
      lambda e: sch.join_schedules([S, S], [1, 2])),
    C("join-too-few-boundaries", ValueError, r"got 1 boundaries for 3 schedules",
      lambda e: sch.join_schedules([S, S, S], [1])),
    C("join-decreasing", ValueError, r"strictly increasing, got boundaries=\[5, 2\]",
      lambda e: sch.join_schedules([S, S, S], [5, 2])),
    C("join-repeated", ValueError, r"strictly increasing",
      lambda e: sch.join_schedules([S, S, S], [5, 5])),
    C("join-nan", ValueError, r"boundaries must be finite",
      lambda e: sch.join_schedules([S, S], [NAN])),
    C("join-bool", TypeError, r"boundaries must hold real numbers, got True",
      lambda e: sch.join_schedules([S, S], [True])),
    C("join-str", TypeError, r"boundaries must hold real numbers, got '5'",
      lambda e: sch.join_schedules([S, S], ["5"])),
    C("join-call-epoch-str", TypeError, r"epoch must be a real number.*str: '3'",
      lambda e: sch.join_schedules([S, S], [5])("3")),
    C("join-call-epoch-nan", ValueError, r"epoch must be finite",
      lambda e: sch.join_schedules([S, S], [5])(NAN)),
    C("warmup-not-schedule", TypeError, r"schedule must be a Schedule.*1.0",
      lambda e: sch.warmup(1.0, 5)),
    C("warmup-zero-epochs", ValueError, r"warmup_epochs > 0, got warmup_epochs=0",
      lambda e: sch.warmup(S, 0)),
    C("warmup-negative-epochs", ValueError, r"warmup_epochs > 0, got warmup_epochs=-3",
      lambda e: sch.warmup(S, -3)),
    C("warmup-nan-epochs", ValueError, r"warmup_epochs must be finite",
      lambda e: sch.warmup(S, NAN)),
    C("warmup-bool-epochs", TypeError, r"warmup_epochs must be a real number, got bool",
      lambda e: sch.warmup(S, True)),
    C("warmup-str-epochs", TypeError, r"warmup_epochs must be a real number, got str: '5'",
      lambda e: sch.warmup(S, "5")),
    C("warmup-init-nan", ValueError, r"init_value must be finite",
      lambda e: sch.warmup(S, 5, init_value=NAN)),
    C("warmup-init-none", TypeError, r"init_value must be a real number",
      lambda e: sch.warmup(S, 5, init_value=None)),
    C("warmup-call-epoch-bool", TypeError, r"epoch must be a real number.*bool",
      lambda e: sch.warmup(S, 5)(True)),
    C("to-optax-not-schedule", TypeError, r"to_optax requires a Schedule, got 0.1",
      lambda e: sch.to_optax(0.1)),
    C("to-optax-steps-zero", ValueError,
      r"steps_per_epoch must be a positive int, got steps_per_epoch=0",
      lambda e: sch.to_optax(S, 0)),
    C("to-optax-steps-float", TypeError,
      r"steps_per_epoch must be a positive int, got steps_per_epoch=1.5",
      lambda e: sch.to_optax(S, 1.5)),
    C("to-optax-steps-bool", TypeError, r"steps_per_epoch=True", lambda e: sch.to_optax(S, True)),
    C("to-optax-stepping", ValueError,
      r"stepping must be one of \('epoch', 'step'\), got stepping='batch'",
      lambda e: sch.to_optax(S, 1, "batch")),
    C("to-optax-stepping-int", ValueError, r"stepping must be one of.*stepping=5",
      lambda e: sch.to_optax(S, 1, 5)),
    C("to-optax-call-count-str", TypeError, r"count must be a real number.*str: '3'",
      lambda e: sch.to_optax(S)("3")),
    C("to-optax-call-count-nan", ValueError, r"count must be finite",
      lambda e: sch.to_optax(S)(NAN)),
    C("from-optax-not-callable", TypeError, r"from_optax requires a callable optax schedule, got 5",
      lambda e: sch.from_optax(5)),
    C("from-optax-steps-negative", ValueError, r"steps_per_epoch=-1",
      lambda e: sch.from_optax(optax.constant_schedule(1.0), -1)),
    C("from-optax-steps-str", TypeError, r"steps_per_epoch='10'",
      lambda e: sch.from_optax(optax.constant_schedule(1.0), "10")),
    C("from-optax-call-epoch-str", TypeError, r"epoch must be a real number.*str: '1'",
      lambda e: sch.from_optax(optax.constant_schedule(1.0))("1")),
    C("optimizer-name", TypeError,
      r"optimizer must be an optax optimizer factory.*'adam'.*optax.adam",
      lambda e: sch.scheduled_optimizer("adam", S)),
    C("optimizer-none", TypeError, r"optimizer must be an optax optimizer factory.*None",
      lambda e: sch.scheduled_optimizer(None, S)),
    C("optimizer-no-lr", TypeError, r"identity.*learning_rate",
      lambda e: sch.scheduled_optimizer(optax.identity, S)),
    C("optimizer-lr-given", TypeError, r"learning_rate.*comes from the schedule",
      lambda e: sch.scheduled_optimizer(optax.adam, S, learning_rate=0.1)),
    C("optimizer-bad-kwarg", TypeError, r"adam.*beta1",
      lambda e: sch.scheduled_optimizer(optax.adam, S, beta1=0.5)),
    C("optimizer-schedule-float", TypeError, r"to_optax requires a Schedule, got 0.0002",
      lambda e: sch.scheduled_optimizer(optax.adam, 2e-4)),
    C("optimizer-stepping", ValueError, r"stepping='iter'",
      lambda e: sch.scheduled_optimizer(optax.adam, S, stepping="iter")),
    C("optimizer-steps-zero", ValueError, r"steps_per_epoch=0",
      lambda e: sch.scheduled_optimizer(optax.sgd, S, steps_per_epoch=0)),
    C("current-lr-no-state", ValueError, r"no inject_hyperparams state with a 'learning_rate'",
      lambda e: sch.current_learning_rate(optax.adam(0.1).init({"w": jnp.zeros(2)}))),
    C("current-lr-int", ValueError, r"no inject_hyperparams state",
      lambda e: sch.current_learning_rate(5)),
)

# Pure loss functions ----------------------------------------------------------------

IMG = jnp.ones((2, 8, 8, 3))
cases(
    C("l1-complex", TypeError, r"l1: x must be a real array, got dtype complex64",
      lambda e: l1(XC, XC)),
    C("l1-complex-y", TypeError, r"l1: y must be a real array, got dtype complex64",
      lambda e: l1(X, XC)),
    C("l1-bool", TypeError, r"l1: x must be a real array, got dtype bool",
      lambda e: l1(jnp.ones(3, bool), jnp.ones(3, bool))),
    C("l1-str", TypeError, r"l1: x must be a real array, got str: 'abc'",
      lambda e: l1("abc", "abd")),
    C("l1-none", TypeError, r"l1: x must be a real array, got NoneType", lambda e: l1(None, X)),
    C("l1-empty", ValueError, r"l1: x and y must not be empty.*got shape \(0, 3\)",
      lambda e: l1(jnp.zeros((0, 3)), jnp.zeros((0, 3)))),
    C("l1-shape", ValueError, r"x.shape=\(2, 3\) and y.shape=\(3, 2\)",
      lambda e: l1(jnp.zeros((2, 3)), jnp.zeros((3, 2)))),
    C("l1-shape-broadcastable", ValueError, r"same shape.*\(2, 3\).*\(3,\)",
      lambda e: l1(jnp.zeros((2, 3)), jnp.zeros(3))),
    C("l1-reduction", ValueError,
      r"reduction must be one of \('mean', 'none'\), got reduction='sum'",
      lambda e: l1(X, Y, reduction="sum")),
    C("l1-reduction-none-obj", ValueError, r"reduction=None", lambda e: l1(X, Y, reduction=None)),
    C("mse-complex", TypeError, r"mse: x must be a real array, got dtype complex64",
      lambda e: mse(XC, XC)),
    C("mse-empty", ValueError, r"mse: x and y must not be empty",
      lambda e: mse(jnp.zeros(0), jnp.zeros(0))),
    C("mse-shape", ValueError, r"x.shape=\(4,\) and y.shape=\(5,\)",
      lambda e: mse(jnp.zeros(4), jnp.zeros(5))),
    C("mse-reduction", ValueError, r"reduction='max'", lambda e: mse(X, Y, reduction="max")),
    C("mse-list-of-str", TypeError, r"mse: x must be a real array", lambda e: mse(["a"], ["b"])),
    C("bce-complex", TypeError,
      r"bce_with_logits: logits must be a real array, got dtype complex64",
      lambda e: bce_with_logits(XC, X)),
    C("bce-bool-targets", TypeError,
      r"bce_with_logits: targets must be a real array, got dtype bool",
      lambda e: bce_with_logits(X, X > 0)),
    C("bce-empty", ValueError, r"logits and targets must not be empty",
      lambda e: bce_with_logits(jnp.zeros((1, 0)), jnp.zeros((1, 0)))),
    C("bce-shape", ValueError, r"logits.shape=\(2, 1\) and targets.shape=\(2,\)",
      lambda e: bce_with_logits(jnp.zeros((2, 1)), jnp.zeros(2))),
    C("bce-reduction", ValueError, r"reduction='sum'",
      lambda e: bce_with_logits(X, Y, reduction="sum")),
    C("sobel-complex", TypeError, r"sobel: x must be a real array, got dtype complex64",
      lambda e: sobel(IMG.astype(jnp.complex64), IMG.astype(jnp.complex64))),
    C("sobel-3d", ValueError, r"x.shape=\(8, 8, 3\) cannot be an NHWC image batch: it is not 4-D",
      lambda e: sobel(jnp.ones((8, 8, 3)), jnp.ones((8, 8, 3)))),
    C("sobel-zero-channels", ValueError, r"x.shape=\(1, 8, 8, 0\).*empty axis",
      lambda e: sobel(jnp.ones((1, 8, 8, 0)), jnp.ones((1, 8, 8, 0)))),
    C("sobel-empty-batch", ValueError, r"x.shape=\(0, 8, 8, 3\).*empty axis",
      lambda e: sobel(jnp.ones((0, 8, 8, 3)), jnp.ones((0, 8, 8, 3)))),
    C("sobel-nchw-as-nhwc", ValueError, r"cannot be an NHWC image batch.*layout='NCHW'",
      lambda e: sobel(jnp.ones((2, 3, 8, 8)), jnp.ones((2, 3, 8, 8)))),
    C("sobel-nhwc-as-nchw", ValueError, r"cannot be an NCHW image batch.*layout='NHWC'",
      lambda e: sobel(IMG, IMG, layout="NCHW")),
    C("sobel-layout-lower", ValueError,
      r"layout must be one of \('NHWC', 'NCHW'\), got layout='nhwc'",
      lambda e: sobel(IMG, IMG, layout="nhwc")),
    C("sobel-layout-int", ValueError, r"layout=4", lambda e: sobel(IMG, IMG, layout=4)),
    C("sobel-shape", ValueError, r"x.shape=\(2, 8, 8, 3\) and y.shape=\(1, 8, 8, 3\)",
      lambda e: sobel(IMG, IMG[:1])),
    C("sobel-reduction", ValueError, r"reduction='sum'",
      lambda e: sobel(IMG, IMG, reduction="sum")),
    C("sobel-int-str", TypeError, r"sobel: x must be a real array, got str",
      lambda e: sobel("img", "img")),
    C("laplacian-complex", TypeError, r"laplacian: x must be a real array, got dtype complex64",
      lambda e: laplacian(IMG.astype(jnp.complex64), IMG.astype(jnp.complex64))),
    C("laplacian-2d", ValueError, r"x.shape=\(8, 8\) cannot be an NHWC image batch",
      lambda e: laplacian(jnp.ones((8, 8)), jnp.ones((8, 8)))),
    C("laplacian-zero-width", ValueError, r"empty axis",
      lambda e: laplacian(jnp.ones((1, 8, 0, 3)), jnp.ones((1, 8, 0, 3)))),
    C("laplacian-zero-channels-nchw", ValueError,
      r"x.shape=\(1, 0, 8, 8\) cannot be an NCHW.*empty axis",
      lambda e: laplacian(jnp.ones((1, 0, 8, 8)), jnp.ones((1, 0, 8, 8)), layout="NCHW")),
    C("laplacian-layout", ValueError, r"layout='CHW'", lambda e: laplacian(IMG, IMG, layout="CHW")),
    C("laplacian-bool", TypeError, r"laplacian: x must be a real array, got dtype bool",
      lambda e: laplacian(IMG > 0, IMG > 0)),
    C("laplacian-reduction", ValueError, r"reduction=''",
      lambda e: laplacian(IMG, IMG, reduction="")),
)

# VGG --------------------------------------------------------------------------------

cases(
    C("vgg-weights-none", ValueError, r"No VGG19 weights given \(path=None\)",
      lambda e: vgg_perceptual_loss(None)),
    C("vgg-weights-missing", FileNotFoundError, r"No VGG19 weights file at '.*nope.pth'",
      lambda e: vgg_perceptual_loss(e.tmp / "nope.pth")),
    C("vgg-weights-suffix", ValueError, r"must end in one of.*weights.txt",
      lambda e: load_vgg19_features(e.tmp / "weights.txt")),
    C("vgg-weights-layout", ValueError, r"layout='HWC'",
      lambda e: load_vgg19_features(e.tmp / "nope.pth", layout="HWC")),
    C("vgg-weights-not-npz", ValueError, r"bad.npz.*not a readable .npz",
      lambda e: load_vgg19_features(e.tmp / "bad.npz")),
    C("vgg-weights-npz-missing-keys", KeyError, r"missing \['features.0.weight'",
      lambda e: load_vgg19_features(e.tmp / "partial.npz")),
    C("vgg-weights-corrupt-pth", ValueError, r"bad.pth.*not a readable",
      lambda e: load_vgg19_features(e.tmp / "bad.pth")),
    C("vgg-features-count", ValueError, r"needs 7 kernels and biases, got 0 kernels and 0 biases",
      lambda e: VGG19Features([], [])),
    C("vgg-features-shape", ValueError, r"features.0 of VGG19 has weight shape \(64, 3, 3, 3\)",
      lambda e: VGG19Features([np.zeros((3, 3, 3, 3))] * 7, [np.zeros(3)] * 7)),
    C("vgg-features-layout", ValueError, r"layout='nchw'",
      lambda e: VGG19Features(VGG.features.kernels, VGG.features.biases, layout="nchw")),
    C("vgg-state-dict-missing", KeyError, r"missing \['features.0.weight'",
      lambda e: VGG19Features.from_state_dict({})),
    C("vgg-call-int", TypeError, r"floating-point images.*int32",
      lambda e: VGG(jnp.ones((1, 8, 8, 3), jnp.int32), jnp.ones((1, 8, 8, 3), jnp.int32))),
    C("vgg-call-complex", TypeError, r"VGGPerceptual: x must be a real array, got dtype complex64",
      lambda e: VGG(jnp.ones((1, 8, 8, 3), jnp.complex64), jnp.ones((1, 8, 8, 3), jnp.complex64))),
    C("vgg-call-channels", ValueError, r"x.shape=\(1, 8, 8, 4\).*has 4 entries, not 3",
      lambda e: VGG(jnp.ones((1, 8, 8, 4)), jnp.ones((1, 8, 8, 4)))),
    C("vgg-call-nchw", ValueError, r"cannot be an NHWC image batch.*layout='NCHW'",
      lambda e: VGG(jnp.ones((1, 3, 8, 8)), jnp.ones((1, 3, 8, 8)))),
    C("vgg-call-shape", ValueError, r"x.shape=\(1, 8, 8, 3\) and y.shape=\(2, 8, 8, 3\)",
      lambda e: VGG(jnp.ones((1, 8, 8, 3)), jnp.ones((2, 8, 8, 3)))),
    C("vgg-call-reduction", ValueError, r"only reduction='mean'.*reduction='none'",
      lambda e: VGG(jnp.ones((1, 8, 8, 3)), jnp.ones((1, 8, 8, 3)), reduction="none")),
    C("vgg-call-empty", ValueError, r"empty axis",
      lambda e: VGG(jnp.ones((0, 8, 8, 3)), jnp.ones((0, 8, 8, 3)))),
    C("vgg-call-str", TypeError, r"x must be a real array, got str", lambda e: VGG("a", "b")),
)

# pix2pix spec -------------------------------------------------------------------------

cases(
    C("pix2pix-subspec", ValueError, r"subspec must be one of.*subspec='full'",
      lambda e: pix2pix("full")),
    C("pix2pix-subspec-int", ValueError, r"subspec=5", lambda e: pix2pix(5)),
    C("pix2pix-lambda-l1-str", TypeError,
      r"lambda_l1 .*G_L1.* must be a number or a Schedule.*str: '100'",
      lambda e: pix2pix(lambda_l1="100")),
    C("pix2pix-lambda-gan-bool", TypeError, r"lambda_gan.*bool: True",
      lambda e: pix2pix(lambda_gan=True)),
    C("pix2pix-lambda-gan-nan", ValueError, r"lambda_gan.*must be finite",
      lambda e: pix2pix(lambda_gan=NAN)),
    C("pix2pix-lambda-l2-none", TypeError, r"lambda_l2.*NoneType",
      lambda e: pix2pix("extended", lambda_l2=None)),
    C("pix2pix-lambda-l2-none-basic", TypeError, r"lambda_l2.*NoneType",
      lambda e: pix2pix("basic", lambda_l2=None)),
    C("pix2pix-lambda-sobel-inf", ValueError, r"lambda_sobel.*finite",
      lambda e: pix2pix("extended", lambda_sobel=INF)),
    C("pix2pix-lambda-laplacian-list", TypeError, r"lambda_laplacian.*list",
      lambda e: pix2pix("extended", lambda_laplacian=[1.0])),
    C("pix2pix-lambda-vgg-str", TypeError, r"lambda_vgg.*str: '0'",
      lambda e: pix2pix(lambda_vgg="0")),
    C("pix2pix-layout", ValueError, r"layout='NCWH'", lambda e: pix2pix(layout="NCWH")),
    C("pix2pix-vgg-no-weights", ValueError, r"No VGG19 weights given", lambda e: pix2pix("+vgg")),
    C("with-spec-pix2pix-lambda", TypeError, r"lambda_l1.*'100'",
      lambda e: LM.with_spec(pix2pix, lambda_l1="100")),
    C("with-spec-not-callable", TypeError, r"spec must be a callable.*got 5",
      lambda e: LM.with_spec(5)),
    C("with-spec-returns-list", TypeError, r"must return a mapping name -> LossSpec, got list",
      lambda e: LM.with_spec(lambda: [1])),
    C("with-spec-bad-entry", TypeError, r"spec entry 'A' must be a LossSpec",
      lambda e: LM.with_spec(lambda: {"A": (l1, 1.0)})),
    C("with-spec-bad-weight", TypeError, r"weight of loss 'A'.*str: '1'",
      lambda e: LM.with_spec(lambda: {"A": LossSpec(l1, "1")})),
)

# Core LossManager ---------------------------------------------------------------------

cases(
    C("capacity-zero", ValueError, r"capacity must be a positive int, got capacity=0",
      lambda e: LossManager(capacity=0)),
    C("capacity-negative", ValueError, r"capacity=-1", lambda e: LossManager(capacity=-1)),
    C("capacity-float", TypeError, r"capacity must be a positive int, got float: 1.5",
      lambda e: LossManager(capacity=1.5)),
    C("capacity-str", TypeError, r"capacity must be a positive int, got str: '10'",
      lambda e: LossManager(capacity="10")),
    C("capacity-bool", TypeError, r"capacity must be a positive int, got bool: True",
      lambda e: LossManager(capacity=True)),
    C("keep-history-str", TypeError, r"keep_history must be a bool, got str: 'False'",
      lambda e: LossManager(keep_history="False")),
    C("keep-history-int", TypeError, r"keep_history must be a bool, got int: 0",
      lambda e: LossManager(keep_history=0)),
    C("check-finite-str", TypeError, r"check_finite must be a bool, got str: 'no'",
      lambda e: LossManager(check_finite="no")),
    C("check-finite-none", TypeError, r"check_finite must be a bool, got NoneType",
      lambda e: LossManager(check_finite=None)),
    C("register-loss-name-int", TypeError, r"loss name must be a non-empty string, got 5",
      lambda e: LM.register(5, l1)),
    C("register-loss-name-empty", TypeError, r"loss name must be a non-empty string, got ''",
      lambda e: LM.register("", l1)),
    C("register-name-taken", ValueError, r"a loss named 'L1' is already registered",
      lambda e: LM.register("L1", l1)),
    C("register-fn-str", TypeError, r"loss 'B': fn must be callable.*'l1'",
      lambda e: LM.register("B", "l1")),
    C("register-weight-nan", ValueError, r"weight of loss 'B'.*must be finite.*nan",
      lambda e: LM.register("B", l1, weight=NAN)),
    C("register-weight-inf", ValueError, r"weight of loss 'B'.*inf",
      lambda e: LM.register("B", l1, weight=INF)),
    C("register-weight-str", TypeError,
      r"weight of loss 'B' must be a number or a Schedule.*str: '1'",
      lambda e: LM.register("B", l1, weight="1")),
    C("register-weight-bool", TypeError, r"weight of loss 'B'.*bool: True",
      lambda e: LM.register("B", l1, weight=True)),
    C("register-weight-none", TypeError, r"weight of loss 'B'.*NoneType",
      lambda e: LM.register("B", l1, weight=None)),
    C("register-weight-optax", TypeError, r"weight of loss 'B'.*from_optax",
      lambda e: LM.register("B", l1, weight=optax.constant_schedule(1.0))),
    C("register-weight-complex", TypeError, r"weight of loss 'B'.*complex64",
      lambda e: LM.register("B", l1, weight=np.complex64(1))),
    C("register-weight-vector", ValueError, r"weight of loss 'B' must be a scalar.*shape \(2,\)",
      lambda e: LM.register("B", l1, weight=np.array([1.0, 2.0]))),
    C("register-weight-stacked-schedule", ValueError,
      r"weight of loss 'B' must be a scalar.*shape \(2,\)",
      lambda e: LM.register("B", l1, weight=S2)),
    C("register-tags-int", TypeError,
      r"tags of loss 'B' must be a string or a sequence of strings, got 5",
      lambda e: LM.register("B", l1, tags=5)),
    C("register-tags-mixed", TypeError, r"tags of loss 'B'.*\['G', 5\]",
      lambda e: LM.register("B", l1, tags=["G", 5])),
    C("register-tags-none", TypeError, r"tags of loss 'B'.*None",
      lambda e: LM.register("B", l1, tags=None)),
    C("register-keep-map-true", ValueError, r"keep_map must be the shape.*keep_map=True",
      lambda e: LM.register("B", l1, keep_map=True)),
    C("register-keep-map-zero", ValueError, r"keep_map=\(1, 0\)",
      lambda e: LM.register("B", l1, keep_map=(1, 0))),
    C("register-keep-map-str", ValueError, r"keep_map='full'",
      lambda e: LM.register("B", l1, keep_map="full")),
    C("register-keep-map-float", ValueError, r"keep_map=\(1, 2.5\)",
      lambda e: LM.register("B", l1, keep_map=(1, 2.5))),
    C("register-keep-map-no-reduction", TypeError,
      r"loss 'B': keep_map needs a function that accepts reduction='none'",
      lambda e: LM.register("B", _two_d_loss, keep_map=(1, 4))),
    C("set-weight-unknown", KeyError, r"no loss named 'nope'; registered losses: \['L1'",
      lambda e: LM.set_weight("nope", 1.0)),
    C("set-weight-nan", ValueError, r"weight of loss 'L1'.*nan",
      lambda e: LM.set_weight("L1", NAN)),
    C("set-weight-str", TypeError, r"weight of loss 'L1'.*str: '2'",
      lambda e: LM.set_weight("L1", "2")),
    C("weight-unknown", KeyError, r"no loss named 'nope'", lambda e: LM.weight("nope", 0)),
    C("weight-epoch-bool", TypeError, r"epoch must be a real number.*bool: True",
      lambda e: LM.weight("L1", True)),
    C("weight-epoch-none", TypeError, r"epoch must be a real number.*NoneType",
      lambda e: LM.weight("L1", None)),
    C("weight-epoch-vector", TypeError, r"epoch must be a real number or a scalar array, got list",
      lambda e: LM.weight("L1", [1, 2])),
    C("weight-epoch-nan", ValueError, r"epoch must be finite, got epoch=nan",
      lambda e: LM.weight("L1", NAN)),
    C("compute-unknown", KeyError, r"no loss named 'nope'; registered losses",
      lambda e: LM.compute("nope", X, Y)),
    C("compute-name-int", KeyError, r"no loss named 5", lambda e: LM.compute(5, X, Y)),
    C("compute-epoch-bool", TypeError, r"epoch must be a real number.*bool: True",
      lambda e: LM.compute("L1", X, Y, epoch=True)),
    C("compute-epoch-str", TypeError, r"epoch must be a real number.*str: '5'",
      lambda e: LM.compute("L1", X, Y, epoch="5")),
    C("compute-epoch-nan", ValueError, r"epoch must be finite, got epoch=nan",
      lambda e: LM.compute("L1", X, Y, epoch=NAN)),
    C("compute-epoch-inf", ValueError, r"epoch must be finite, got epoch=inf",
      lambda e: LM.compute("L1", X, Y, epoch=INF)),
    C("compute-epoch-none", TypeError, r"epoch must be a real number.*NoneType",
      lambda e: LM.compute("L1", X, Y, epoch=None)),
    C("compute-epoch-array", ValueError, r"epoch must be a scalar, got shape \(2,\)",
      lambda e: LM.compute("L1", X, Y, epoch=jnp.zeros(2))),
    C("compute-epoch-complex", TypeError, r"epoch must be a real number.*complex64",
      lambda e: LM.compute("L1", X, Y, epoch=np.complex64(1))),
    C("compute-epoch-jnp-nan", ValueError, r"epoch must be finite",
      lambda e: LM.compute("L1", X, Y, epoch=jnp.array(NAN))),
    C("compute-x-complex", TypeError, r"loss 'L1': x must be a real array, got dtype complex64",
      lambda e: LM.compute("L1", XC, XC)),
    C("compute-y-str", TypeError, r"loss 'L1': y must be a real array",
      lambda e: LM.compute("L1", X, "y")),
    C("compute-x-none", TypeError, r"loss 'L1': x must be a real array",
      lambda e: LM.compute("L1", None, Y)),
    C("compute-shapes", ValueError,
      r"loss 'L1': x and y must have the same shape.*\(1, 4, 4, 3\).*\(1, 4, 4, 2\)",
      lambda e: LM.compute("L1", X, Y[..., :2])),
    C("compute-returns-map", ValueError,
      r"loss 'TWO_D': the loss function must return a scalar, got shape \(1, 4, 4, 3\)",
      lambda e: LM.compute("TWO_D", X, Y)),
    C("compute-returns-none", TypeError,
      r"loss 'NONE': the loss function must return a real array, got NoneType",
      lambda e: LM.compute("NONE", X, Y)),
    C("compute-returns-complex", TypeError,
      r"loss 'CPLX': the loss function must return a real array",
      lambda e: LM.compute("CPLX", X, Y)),
    C("compute-keep-map-shape", ValueError,
      r"loss 'MAP'.*map of shape \(1, 2, 2, 3\).*keep_map=\(1, 4, 4, 3\)",
      lambda e: LM.compute("MAP", jnp.ones((1, 2, 2, 3)), jnp.ones((1, 2, 2, 3)))),
    C("compute-many-empty", TypeError,
      r"inputs must be a non-empty mapping \{name: \(x, y\)\}, got \{\}",
      lambda e: LM.compute_many({})),
    C("compute-many-list", TypeError, r"inputs must be a non-empty mapping",
      lambda e: LM.compute_many([("L1", (X, Y))])),
    C("compute-many-array-pair", TypeError,
      r"inputs\['L1'\] must be a pair \(x, y\), got ArrayImpl of shape \(2, 3\)",
      lambda e: LM.compute_many({"L1": jnp.zeros((2, 3))})),
    C("compute-many-single", TypeError,
      r"inputs\['L1'\] must be a pair \(x, y\), got tuple of shape",
      lambda e: LM.compute_many({"L1": (X,)})),
    C("compute-many-triple", TypeError, r"inputs\['L1'\] must be a pair",
      lambda e: LM.compute_many({"L1": (X, Y, Y)})),
    C("compute-many-unknown", KeyError, r"no loss named 'nope'",
      lambda e: LM.compute_many({"L1": (X, Y), "nope": (X, Y)})),
    C("compute-many-epoch-str", TypeError, r"epoch must be a real number.*str: '0'",
      lambda e: LM.compute_many({"L1": (X, Y)}, epoch="0")),
    C("flush-path", TypeError, r"sink must have an append\(records\) method.*str",
      lambda e: LM_RUN.flush(str(e.tmp / "log"))),
    C("flush-none", TypeError, r"sink must have an append.*NoneType",
      lambda e: LM_RUN.flush(None)),
    C("flush-on-health", TypeError, r"on_health must be callable",
      lambda e: LM_RUN.flush([], on_health="echo")),
    C("flush-path-object", TypeError, r"sink must have an append.*Path",
      lambda e: LM_RUN.flush(e.tmp)),
    C("query-unknown-tag", KeyError, r"query 'X' matches no loss; known tags: \['D', 'G'\]",
      lambda e: LM.registered("X")),
    C("query-tag-chars", KeyError, r"query 'GD' matches no loss", lambda e: LM.registered("GD")),
    C("query-list-unknown", KeyError, r"matches no loss", lambda e: LM.registered(["X", "Y"])),
    C("query-empty-list", KeyError, r"query \[\] matches no loss", lambda e: LM.registered([])),
    C("query-int", TypeError, r"query must be None, a tag \(str\) or a sequence of tags, got 5",
      lambda e: LM.registered(5)),
    C("query-list-int", TypeError, r"query must be.*\['G', 5\]", lambda e: LM.registered(["G", 5])),
    C("query-dict", TypeError, r"query must be.*\{'G': 1\}",
      lambda e: reporting.loss_weights(LM, {"G": 1})),
    C("loss-values-not-computed", IndexError, r"loss 'GAN' has not been computed yet",
      lambda e: reporting.loss_values(LM, "D")),
    C("loss-values-precision-str", TypeError, r"precision must be a non-negative int, got str: '2'",
      lambda e: reporting.loss_values(LM_RUN, "G", precision="2")),
    C("loss-weights-precision-float", TypeError,
      r"precision must be a non-negative int, got float: 1.5",
      lambda e: reporting.loss_weights(LM, precision=1.5)),
    C("loss-weights-precision-negative", ValueError,
      r"precision must be a non-negative int, got -1",
      lambda e: reporting.loss_weights(LM, precision=-1)),
    C("loss-values-query", KeyError, r"query 'nope' matches no loss",
      lambda e: reporting.loss_values(LM_RUN, "nope")),
    C("loss-values-precision", TypeError, r"precision must be a non-negative int, got NoneType",
      lambda e: reporting.loss_values(LM_RUN, precision=None)),
    C("loss-weights-precision-bool", TypeError, r"precision must be a non-negative int, got bool",
      lambda e: reporting.loss_weights(LM, precision=True)),
    C("index-unknown", KeyError, r"no loss named 'nope'", lambda e: LM.index("nope")),
)

# interop: Schedule, Scheduler, TorchScheduler ------------------------------------------

cases(
    C("i-schedule-start-bool", TypeError,
      r"Schedule: start_epoch must be a real number, got bool: True",
      lambda e: interop.Schedule(start_epoch=True)),
    C("i-schedule-start-str", TypeError,
      r"Schedule: start_epoch must be a real number, got str: '1'",
      lambda e: interop.Schedule(start_epoch="1")),
    C("i-schedule-end-none", TypeError, r"Schedule: end_epoch must be a real number, got NoneType",
      lambda e: interop.Schedule(end_epoch=None)),
    C("i-schedule-end-nan", ValueError, r"Schedule: end_epoch must be finite, got nan",
      lambda e: interop.Schedule(end_epoch=NAN)),
    C("i-schedule-initial-nan", ValueError, r"Schedule: initial_value must be finite, got nan",
      lambda e: interop.Schedule(initial_value=NAN)),
    C("i-schedule-initial-inf", ValueError, r"initial_value must be finite, got inf",
      lambda e: interop.Schedule(initial_value=INF)),
    C("i-schedule-initial-str", TypeError, r"initial_value must be a real number, got str: '2e-4'",
      lambda e: interop.Schedule(initial_value="2e-4")),
    C("i-schedule-target-nan", ValueError, r"target_value must be finite",
      lambda e: interop.Schedule(target_value=NAN)),
    C("i-schedule-target-bool", TypeError, r"target_value must be a real number, got bool",
      lambda e: interop.Schedule(target_value=False)),
    C("i-schedule-current-str", TypeError, r"current_value must be a real number, got str",
      lambda e: interop.Schedule(current_value="1")),
    C("i-schedule-kind-bogus", ValueError, r"Schedule: schedule='bogus'.*'linear', 'exponential'",
      lambda e: interop.Schedule(schedule="bogus")),
    C("i-schedule-kind-int", TypeError,
      r"Schedule: schedule must be a name in schedule_map.*int: 5",
      lambda e: interop.Schedule(schedule=5)),
    C("i-schedule-kind-bogus-default-numbers", ValueError, r"schedule='cosine'",
      lambda e: interop.Schedule("cosine")),
    C("i-schedule-end-equals-start", ValueError,
      r"end_epoch > start_epoch, got start_epoch=5, end_epoch=5",
      lambda e: interop.Schedule(start_epoch=5, end_epoch=5)),
    C("i-schedule-end-before-start", ValueError, r"end_epoch > start_epoch",
      lambda e: interop.Schedule(start_epoch=10, end_epoch=2)),
    C("i-schedule-exp-negative", ValueError, r"initial_value >= 0.*initial_value=-1.0",
      lambda e: interop.Schedule("exponential", 1, 10, -1.0, 1.0)),
    C("i-scheduler-not-schedule", TypeError,
      r"Scheduler: schedule must be an interop Schedule, got int: 5",
      lambda e: interop.Scheduler(5)),
    C("i-scheduler-str", TypeError,
      r"Scheduler: schedule must be an interop Schedule, got str: 'linear'",
      lambda e: interop.Scheduler("linear")),
    C("i-scheduler-epoch-str", TypeError, r"epoch must be a real number.*str: '3'",
      lambda e: interop.Scheduler(e.isched).eval_schedule("3")),
    C("i-scheduler-epoch-nan", ValueError, r"epoch must be finite",
      lambda e: interop.Scheduler(e.isched).eval_schedule(NAN)),
    C("i-scheduler-zero-values", ValueError,
      r"Scheduler: eval_schedule divides by max\(initial_value, target_value\), which is 0 "
      r"for initial_value=0.0 and target_value=0",
      lambda e: interop.Scheduler(interop.Schedule(start_epoch=1, end_epoch=11,
                                                   initial_value=0.0, target_value=0))),
    C("i-torch-scheduler-zero-values", ValueError, r"TorchScheduler: .* is 0",
      lambda e: interop.TorchScheduler(e.opt, interop.Schedule(start_epoch=1, end_epoch=11,
                                                               initial_value=0.0,
                                                               target_value=0.0))),
    C("i-torch-scheduler-str", TypeError,
      r"TorchScheduler: schedule must be an interop Schedule or None, got str: 'linear'",
      lambda e: interop.TorchScheduler(e.opt, "linear")),
    C("i-torch-scheduler-core", TypeError,
      r"TorchScheduler: schedule must be an interop Schedule or None, got Schedule",
      lambda e: interop.TorchScheduler(e.opt, S)),
    C("i-torch-scheduler-opt", TypeError,
      r"TorchScheduler: optimizer must be a torch.optim.Optimizer, got str: 'adam'",
      lambda e: interop.TorchScheduler("adam", e.isched)),
    C("i-linear-epoch-str", TypeError, r"epoch must be a real number.*str: '2'",
      lambda e: interop.ScheduleDefs.linear(e.isched, "2")),
    C("i-exp-epsilon-negative", ValueError, r"epsilon must be a positive.*epsilon=-1",
      lambda e: interop.ScheduleDefs.exponential(
          interop.Schedule("exponential", 1, 10, 1.0, 0.0), 3, epsilon=-1)),
)

# interop: LossManager -------------------------------------------------------------------

T = torch.ones(1, 3, 4, 4)
cases(
    C("i-lm-buffer-zero", ValueError,
      r"buffer_size \(history_buffer_size\) must be a positive int, got 0",
      lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=0)),
    C("i-lm-buffer-negative", ValueError, r"history_buffer_size\) must be a positive int, got -1",
      lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=-1)),
    C("i-lm-buffer-float", TypeError,
      r"history_buffer_size\) must be a positive int, got float: 1.5",
      lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=1.5)),
    C("i-lm-buffer-bool", TypeError, r"got bool: True",
      lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size=True)),
    C("i-lm-buffer-str", TypeError, r"got str: '50'",
      lambda e: interop.LossManager(None, e.tmp / "new", history_buffer_size="50")),
    C("i-lm-enable-logging-str", TypeError, r"enable_logging must be a bool, got str: 'no'",
      lambda e: interop.LossManager(None, e.tmp / "new", enable_logging="no")),
    C("i-lm-experiment-dir-none", TypeError, r"experiment_dir must be a path.*NoneType",
      lambda e: interop.LossManager(None, None)),
    C("i-lm-config-missing-file", FileNotFoundError, r"no config file at '.*nope.json'",
      lambda e: interop.LossManager(e.tmp / "nope.json", e.tmp / "new")),
    C("i-lm-config-corrupt-file", ValueError, r"config.json.*not valid JSON",
      lambda e: interop.LossManager(e.tmp / "config.json", e.tmp / "new")),
    C("i-lm-config-int", ValueError,
      r"LossManager reads config.common.device, which this config lacks",
      lambda e: interop.LossManager(5, e.tmp / "new")),
    C("i-lm-buffer-set-zero", ValueError,
      r"buffer_size \(history_buffer_size\) must be a positive int, got 0",
      lambda e: setattr(e.ilm, "buffer_size", 0)),
    C("i-register-name-int", TypeError,
      r"register_loss_fn: loss_name must be a non-empty string, got int: 5",
      lambda e: e.ilm.register_loss_fn(5, torch.nn.L1Loss())),
    C("i-register-name-empty", ValueError, r"loss_name must be a non-empty string, got ''",
      lambda e: e.ilm.register_loss_fn("", torch.nn.L1Loss())),
    C("i-register-name-taken", ValueError, r"Loss name 'G_L1' is already registered",
      lambda e: e.ilm.register_loss_fn("G_L1", torch.nn.L1Loss())),
    C("i-register-fn-str", TypeError,
      r"register_loss_fn: loss_fn of 'B' must be callable.*'L1Loss'",
      lambda e: e.ilm.register_loss_fn("B", "L1Loss")),
    C("i-register-weight-nan", ValueError, r"loss_weight of 'B' must be finite, got nan",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=NAN)),
    C("i-register-weight-inf", ValueError, r"loss_weight of 'B' must be finite, got -inf",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=-INF)),
    C("i-register-weight-str", TypeError, r"loss_weight of 'B' must be a real number, got str: '1'",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight="1")),
    C("i-register-weight-bool", TypeError, r"loss_weight of 'B' must be a real number, got bool",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=True)),
    C("i-register-weight-tensor", TypeError,
      r"loss_weight of 'B' must be a real number, got Tensor",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), loss_weight=torch.ones(2))),
    C("i-register-schedule-str", TypeError,
      r"schedule of 'B' must be an interop Schedule or None, got str: 'linear'",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), schedule="linear")),
    C("i-register-schedule-core", TypeError, r"schedule of 'B' must be an interop Schedule",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), schedule=S)),
    C("i-register-tags-str", TypeError,
      r"tags of 'B' must be a list of strings, got str: 'GEN' \(did you mean \['GEN'\]\?\)",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), tags="GEN")),
    C("i-register-tags-int", TypeError, r"tags of 'B' must be a list of strings, got int: 5",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), tags=5)),
    C("i-register-tags-mixed", TypeError,
      r"tags of 'B' must be a list of strings, got list: \['G', 1\]",
      lambda e: e.ilm.register_loss_fn("B", torch.nn.L1Loss(), tags=["G", 1])),
    C("i-init-spec-bad", RuntimeError,
      r"Unable to initialize losses from spec.*'A' is a int, not an LMLoss",
      lambda e: e.ilm.init_from_spec(lambda: {"A": 1})),
    C("i-init-spec-raises", RuntimeError, r"Unable to initialize.*subspec 'full'",
      lambda e: e.ilm.init_from_spec(interop.pix2pix, None, "full")),
    C("i-init-spec-list", RuntimeError, r"returned list, not a dict",
      lambda e: e.ilm.init_from_spec(lambda: [1])),
    C("i-compute-unknown", KeyError, r"Unknown loss 'nope'; registered losses: \['G_L1', 'D_S'\]",
      lambda e: e.ilm.compute_loss_xy("nope", T, T)),
    C("i-compute-shapes-broadcast", ValueError,
      r"loss 'G_L1' \(L1Loss\).*same shape, got x of shape \(1, 3, 4, 4\) and y of "
      r"shape \(1, 1, 4, 4\)",
      lambda e: e.ilm.compute_loss_xy("G_L1", T, torch.zeros(1, 1, 4, 4), epoch=1)),
    C("i-compute-shapes-unbroadcastable", ValueError,
      r"loss 'D_S' \(MSELoss\).*\(1, 3, 4, 4\).*\(1, 2, 4, 4\)",
      lambda e: e.ilm.compute_loss_xy("D_S", T, torch.zeros(1, 2, 4, 4), epoch=3)),
    C("i-compute-custom-unbroadcastable", RuntimeError,
      r"compute_loss_xy: loss 'C' failed on x of shape \(1, 3, 4, 4\) and y of shape "
      r"\(1, 2, 4, 4\): .*size of tensor",
      lambda e: (e.ilm.register_loss_fn("C", lambda x, y: (x - y).abs().mean()),
                 e.ilm.compute_loss_xy("C", T, torch.zeros(1, 2, 4, 4)))),
    C("i-compute-numpy", TypeError,
      r"compute_loss_xy: x of loss 'G_L1' must be a torch.Tensor, got ndarray",
      lambda e: e.ilm.compute_loss_xy("G_L1", np.ones((1, 3, 4, 4)), T)),
    C("i-compute-y-list", TypeError, r"y of loss 'G_L1' must be a torch.Tensor, got list",
      lambda e: e.ilm.compute_loss_xy("G_L1", T, [1.0])),
    C("i-compute-epoch-bool", TypeError,
      r"compute_loss_xy: epoch must be a real number, got bool: True",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=True)),
    C("i-compute-epoch-str", TypeError, r"epoch must be a real number, got str: '5'",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch="5")),
    C("i-compute-epoch-nan", ValueError, r"compute_loss_xy: epoch must be finite, got epoch=nan",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=NAN)),
    C("i-compute-epoch-nan-unscheduled", ValueError, r"epoch must be finite",
      lambda e: e.ilm.compute_loss_xy("G_L1", T, T, epoch=NAN)),
    C("i-compute-epoch-inf", ValueError, r"epoch must be finite, got epoch=inf",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=INF)),
    C("i-compute-epoch-none", TypeError, r"epoch must be a real number, got NoneType",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=None)),
    C("i-compute-epoch-tensor", TypeError, r"epoch must be a real number, got Tensor",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, epoch=torch.ones(2))),
    C("i-compute-kwargs-int", TypeError, r"loss_kwargs must be a dict.*int: 5",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, loss_kwargs=5)),
    C("i-compute-weight-kwargs-int", TypeError,
      r"loss_kwargs\['weight_kwargs'\] must be a dict.*int: 5",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, loss_kwargs={"weight_kwargs": 5})),
    C("i-compute-weight-kwargs-unknown", TypeError, r"bogus",
      lambda e: e.ilm.compute_loss_xy("D_S", T, T, loss_kwargs={"weight_kwargs": {"bogus": 1}})),
    C("i-compute-returns-none", TypeError,
      r"compute_loss_xy: loss 'N' returned NoneType, not a torch.Tensor",
      lambda e: (e.ilm.register_loss_fn("N", lambda x, y: None), e.ilm.compute_loss_xy("N", T, T))),
    C("i-query-str", TypeError,
      r"query must be None or a list of tags, got str: 'G' \(did you mean \['G'\]\?\)",
      lambda e: e.ilm.get_loss_values(query="G")),
    C("i-query-int", TypeError, r"query must be None or a list of tags, got int: 5",
      lambda e: e.ilm.get_loss_weights(query=5)),
    C("i-query-mixed", TypeError, r"query must be None or a list of tags.*\['G', None\]",
      lambda e: e.ilm.get_loss_tensors(query=["G", None])),
    C("i-query-registered-str", TypeError, r"query must be None or a list of tags, got str: 'D'",
      lambda e: e.ilm.get_registered_losses(query="D")),
    C("i-precision-str", TypeError, r"precision must be a non-negative int, got str: '2'",
      lambda e: e.ilm.get_loss_values(precision="2")),
    C("i-precision-negative", ValueError, r"precision must be a non-negative int, got -2",
      lambda e: e.ilm.get_loss_weights(precision=-2)),
    C("i-print-losses-precision", TypeError, r"precision must be a non-negative int, got NoneType",
      lambda e: e.ilm.print_losses(1, 1, precision=None)),
    C("i-values-not-run", IndexError, r"Loss 'NEW' has no value yet",
      lambda e: (e.ilm.register_loss_fn("NEW", torch.nn.L1Loss()),
                 e.ilm.get_loss_values(["G", "D"]), e.ilm.get_loss_values())),
    C("i-xyz", NotImplementedError, r"compute_loss_xyz is not implemented",
      lambda e: e.ilm.compute_loss_xyz(T, T, T)),
    C("i-pix2pix-subspec", ValueError, r"Unknown pix2pix subspec 'full'",
      lambda e: interop.pix2pix(None, "full")),
    C("i-pix2pix-lambda-str", TypeError,
      r"pix2pix: config.train.loss.lambda_l1 must be a number, got '100'",
      lambda e: interop.pix2pix(reference_config({"train.loss.lambda_l1": "100"}))),
    C("i-pix2pix-config-incomplete", ValueError, r"Input config dict is invalid.*missing keys",
      lambda e: interop.pix2pix({"train": {"loss": {"lambda_l1": 100.0}}})),
    C("i-lmloss-weight-nan", ValueError, r"LMLoss: loss_weight of 'A' must be finite, got nan",
      lambda e: interop.LMLoss("A", torch.nn.L1Loss(), loss_weight=NAN)),
    C("i-lmloss-weight-str", TypeError,
      r"LMLoss: loss_weight of 'A' must be a real number, got str",
      lambda e: interop.LMLoss("A", torch.nn.L1Loss(), loss_weight="1")),
    C("i-lmloss-tags-str", TypeError,
      r"LMLoss: tags of 'A' must be a list of strings, got str: 'G'",
      lambda e: interop.LMLoss("A", torch.nn.L1Loss(), tags="G")),
    C("i-lmloss-name-int", TypeError, r"LMLoss: name must be a non-empty string, got int: 5",
      lambda e: interop.LMLoss(5, torch.nn.L1Loss())),
    C("i-lmloss-schedule-str", TypeError, r"LMLoss: schedule of 'A' must be an interop Schedule",
      lambda e: interop.LMLoss("A", torch.nn.L1Loss(), schedule="linear")),
    C("i-sobel-3d", ValueError, r"Sobel: .*4-D \(N, C, H, W\)",
      lambda e: interop.Sobel()(torch.ones(3, 8, 8), torch.ones(3, 8, 8))),
    C("i-laplacian-array", TypeError, r"Laplacian: fake must be a torch.Tensor, got ndarray",
      lambda e: interop.Laplacian()(np.ones((1, 3, 8, 8)), torch.ones(1, 3, 8, 8))),
    C("i-to-jax-array", TypeError, r"to_jax takes a torch.Tensor, got ndarray",
      lambda e: interop.to_jax(np.ones(2))),
    C("i-to-torch-str", TypeError, r"to_torch takes a JAX array.*got str: 'x'",
      lambda e: interop.to_torch("x")),
    C("i-to-torch-none", TypeError, r"to_torch takes a JAX array.*got NoneType",
      lambda e: interop.to_torch(None)),
    C("i-to-core-schedule-int", TypeError, r"to_core_schedule takes an interop Schedule, got int",
      lambda e: interop.to_core_schedule(5)),
    C("i-to-core-schedule-core", TypeError, r"to_core_schedule takes an interop Schedule",
      lambda e: interop.to_core_schedule(S)),
    C("i-to-core-schedule-option", TypeError, r"options \{'bogus': 1\} do not fit.*'linear'",
      lambda e: interop.to_core_schedule(e.isched, bogus=1)),
    C("i-to-core-manager-int", TypeError, r"to_core_manager takes an interop LossManager",
      lambda e: interop.to_core_manager(5)),
    C("i-to-core-manager-core", TypeError, r"to_core_manager takes an interop LossManager",
      lambda e: interop.to_core_manager(LM)),
    C("i-vgg-weights-int", TypeError, r"weights_path must be a path.*got int: 5",
      lambda e: interop.VGGPerceptual(weights_path=5)),
    C("i-vgg-weights-missing", FileNotFoundError, r"No file at '.*nope.pth' \(weights_path\)",
      lambda e: interop.VGGPerceptual(weights_path=e.tmp / "nope.pth")),
    C("i-sobel-shapes", ValueError, r"Sobel: fake and real must have the same shape",
      lambda e: interop.Sobel()(torch.ones(1, 3, 8, 8), torch.ones(1, 3, 4, 4))),
    C("i-init-spec-int", RuntimeError, r"Unable to initialize losses from spec 5",
      lambda e: e.ilm.init_from_spec(5)),
    C("i-config-int", TypeError, r"ConfigManager\(input_config\) takes the path.*got int: 5",
      lambda e: interop.ConfigManager(5)),
    C("i-config-missing-file", FileNotFoundError, r"no config file at '.*missing.json'",
      lambda e: interop.ConfigManager(e.tmp / "missing.json")),
    C("i-config-corrupt", ValueError, r"config.json.*not valid JSON",
      lambda e: interop.ConfigManager(e.tmp / "config.json")),
    C("i-config-not-utf8", ValueError,
      r"config file '.*latin1.json' is not UTF-8 text.*byte 0xe9 in position 24",
      lambda e: interop.ConfigManager(e.tmp / "latin1.json")),
    C("i-config-bad-dict", ValueError, r"Input config dict is invalid",
      lambda e: interop.ConfigManager({"config": {"bogus": 1}})),
    C("i-config-export-missing-dir", FileNotFoundError, r"missing_dir",
      lambda e: interop.ConfigManager(None).export_config(e.tmp / "missing_dir")),
)


# Weight rules and their binding to a manager -----------------------------------------

cases(
    C("gate-start-nan", ValueError, r"start must be finite, got start=nan", lambda e: gate(NAN)),
    C("gate-start-str", TypeError, r"start must be a real number, got str: '1'",
      lambda e: gate("1")),
    C("gate-start-vector", TypeError, r"start must be a real number, got an array of shape "
      r"\(2,\)", lambda e: gate(np.array([1, 2]))),
    C("gate-unit", ValueError, r"unit must be one of \('step', 'epoch'\), got unit='epochs'",
      lambda e: gate(1, "epochs")),
    C("clip-minimum-nan", ValueError, r"minimum must be finite, got minimum=nan",
      lambda e: clip(1.0, NAN)),
    C("clip-maximum-str", TypeError, r"maximum must be a real number, got str: '2'",
      lambda e: clip(1.0, 0.0, "2")),
    C("clip-inverted", ValueError, r"clip needs minimum <= maximum, got minimum=2.0, "
      r"maximum=1.0", lambda e: clip(1.0, 2.0, 1.0)),
    C("clip-rule-str", TypeError, r"rule must be a rule, a schedule or a real number, got "
      r"str: 'x'", lambda e: clip("x")),
    C("ema-decay-one", ValueError, r"decay must be in \[0, 1\), got decay=1.0",
      lambda e: ema(1.0, 1.0)),
    C("ema-rule-none", TypeError, r"rule must be a rule.*NoneType: None", lambda e: ema(None)),
    C("freeze-empty", ValueError, r"freeze: weights must be a non-empty 1-D sequence, got "
      r"shape \(0,\)", lambda e: freeze([])),
    C("freeze-str", TypeError, r"weights must hold real numbers, got 'a'",
      lambda e: freeze(["a"])),
    C("freeze-bool", TypeError, r"weights must hold real numbers, got True",
      lambda e: freeze([True, False])),
    C("freeze-none", TypeError, r"weights must be a real number, got NoneType",
      lambda e: freeze(None)),
    C("freeze-nan", ValueError, r"weights must be finite, got weights=nan",
      lambda e: freeze([1.0, NAN])),
    C("freeze-steps-length", ValueError,
      r"freeze: steps and weights must have the same length, got 1 steps and 2 weights",
      lambda e: freeze([1.0, 2.0], [0])),
    C("freeze-steps-decreasing", ValueError, r"steps must be strictly increasing, got "
      r"steps\[0\]=1.0 then steps\[1\]=0.0", lambda e: freeze([1.0, 2.0], [1, 0])),
    C("piecewise-str", TypeError, r"values must hold real numbers, got 'a'",
      lambda e: sch.piecewise_linear([0], ["a"])),
    C("piecewise-bool", TypeError, r"points must hold real numbers, got True",
      lambda e: sch.piecewise_linear([True], [1.0])),
    C("piecewise-2d", ValueError, r"piecewise_linear: values must be a non-empty 1-D "
      r"sequence, got shape \(1, 2\)", lambda e: sch.piecewise_linear([0, 1],
                                                                     np.ones((1, 2)))),
    C("uncertainty-vector", TypeError, r"init_log_variance must be a real number, got an "
      r"array of shape \(2,\)", lambda e: uncertainty(np.ones(2))),
    C("uncertainty-bool", TypeError, r"init_log_variance must be a real number, got bool",
      lambda e: uncertainty(True)),
    C("adaptive-reference-int", TypeError, r"reference must be a string.*int: 5",
      lambda e: adaptive_last_layer(5)),
    C("adaptive-eps-zero", ValueError, r"eps must be > 0, got eps=0",
      lambda e: adaptive_last_layer(eps=0)),
    C("adaptive-maximum-inf", ValueError, r"maximum must be finite",
      lambda e: adaptive_last_layer(maximum=INF)),
    C("dwa-temperature-zero", ValueError, r"temperature must be > 0.0, got temperature=0",
      lambda e: dwa(0)),
    C("dwa-temperature-str", TypeError, r"temperature must be a real number, got str",
      lambda e: dwa("2")),
    C("softadapt-variant", ValueError, r"variant must be one of \('plain', 'normalized', "
      r"'loss_weighted'\), got variant='x'", lambda e: softadapt(variant="x")),
    C("softadapt-eps-negative", ValueError, r"eps must be >= 0.0, got eps=-1",
      lambda e: softadapt(eps=-1)),
    C("softadapt-beta-nan", ValueError, r"beta must be finite", lambda e: softadapt(NAN)),
    C("relobralo-alpha", ValueError, r"alpha must be in \[0.0, 1.0\], got alpha=2",
      lambda e: relobralo(alpha=2)),
    C("relobralo-seed-float", TypeError, r"seed must be an int, got float: 1.5",
      lambda e: relobralo(seed=1.5)),
    C("relobralo-seed-huge", ValueError, r"seed must be an int in \[-2\*\*63, 2\*\*63\) .*, "
      r"got seed=1180591620717411303424", lambda e: relobralo(seed=2 ** 70)),
    C("grad-norm-balance-every-huge", ValueError, r"every must be a positive int \(at most "
      r"2\*\*31 - 1\), got every=1099511627776", lambda e: grad_norm_balance(2 ** 40)),
    C("gradnorm-alpha-negative", ValueError, r"alpha must be >= 0, got alpha=-1",
      lambda e: gradnorm(alpha=-1)),
    C("gradnorm-learning-rate-inf", ValueError, r"learning_rate must be finite",
      lambda e: gradnorm(learning_rate=INF)),
    C("rule-times-str", TypeError, r"factor must be a rule, a schedule or a real number, "
      r"got str: 'x'", lambda e: gate(1) * "x"),
    C("rule-times-nan", ValueError, r"factor must be finite, got factor=nan",
      lambda e: NAN * gate(1)),
    C("with-rule-unknown", KeyError, r"no loss named 'zz'; registered losses: \['L1'",
      lambda e: LM.with_rule(dwa(), ["L1", "zz"])),
    C("with-rule-names-str", TypeError, r"names must be a non-empty sequence of loss names, "
      r"got 'L1'", lambda e: LM.with_rule(dwa(), "L1")),
    C("with-rule-duplicate", ValueError, r"names must be distinct, got \['L1', 'L1'\]",
      lambda e: LM.with_rule(dwa(), ["L1", "L1"])),
    C("with-rule-one-loss", ValueError, r"dwa balances a group of at least 2 losses",
      lambda e: LM.with_rule(dwa(), ["L1"])),
    C("with-rule-name-of-rule", TypeError, r"weight must be a rule.*str: 'dwa'",
      lambda e: LM.with_rule("dwa", ["L1", "GAN"])),
    C("register-group-rule", ValueError,
      r"dwa balances a group of at least 2 losses.*got names=\['B'\]",
      lambda e: LM.register("B", l1, weight=dwa())),
    C("layer-grads-not-callable", TypeError, r"fn must be callable.*str: 'f'",
      lambda e: layer_grads("f", jnp.ones(2))),
)


# The loss log: missing, unwritable and damaged files ---------------------------------

ONE = {"A": ([1.0], [2.0])}
cases(
    C("log-dir-none", TypeError, r"experiment_dir must be a path \(str or os.PathLike\), got None",
      lambda e: LossLog(None)),
    C("log-dir-int", TypeError, r"experiment_dir must be a path.*got 5", lambda e: LossLog(5)),
    C("log-dataroot-int", TypeError, r"dataroot must be a path \(str or os.PathLike\), got 5",
      lambda e: LossLog(e.tmp / "exp2", dataroot=5)),
    C("log-dataroot-none", TypeError, r"dataroot must be a path.*got None",
      lambda e: LossLog(e.tmp / "exp2", dataroot=None)),
    C("log-device-int", TypeError, r"device must be a string such as 'cpu' or 'cuda', got 0",
      lambda e: LossLog(e.tmp / "exp2", device=0)),
    C("log-compact-str", TypeError, r"compact_every_append must be True or False, got 'yes'",
      lambda e: LossLog(e.tmp / "exp2", compact_every_append="yes")),
    C("log-dir-is-file-append", NotADirectoryError, r"experiment_dir '.*afile' is a file",
      lambda e: LossLog(e.tmp / "afile").append(ONE)),
    C("log-dir-is-file-read", NotADirectoryError, r"afile' is a file",
      lambda e: LossLog(e.tmp / "afile").read()),
    C("log-parent-is-file", OSError, r"afile",
      lambda e: LossLog(e.tmp / "afile" / "exp").append(ONE)),
    C("log-append-2d-array", ValueError,
      r"records\['A'\] is an array of shape \(2, 3\), not a pair",
      lambda e: LossLog(e.tmp / "exp2").append({"A": np.ones((2, 3))})),
    C("log-append-lengths", ValueError, r"records\['A'\] has columns of different lengths",
      lambda e: LossLog(e.tmp / "exp2").append({"A": ([1.0, 2.0], [1.0])})),
    C("log-append-str", TypeError, r"records must be a mapping.*got a str: 'records'",
      lambda e: LossLog(e.tmp / "exp2").append("records")),
    C("log-append-name-int", TypeError, r"record names must be strings, got 5",
      lambda e: LossLog(e.tmp / "exp2").append({5: ([1.0], [1.0])})),
    C("log-append-str-losses", TypeError, r"records\['A'\] losses must hold real numbers",
      lambda e: LossLog(e.tmp / "exp2").append({"A": (["a"], [1.0])})),
    C("log-append-bool-weights", TypeError,
      r"records\['A'\] weights must hold real numbers, got dtype bool",
      lambda e: LossLog(e.tmp / "exp2").append({"A": ([1.0], [True])})),
    C("log-append-closed", ValueError, r"LossLog.append: the log of '.*exp3' is closed",
      lambda e: _closed_log(e.tmp / "exp3").append(ONE)),
    C("log-read-truncated", DamagedLogError,
      r"damaged/loss_log.json, line 1: the file ends in the middle of its JSON document",
      lambda e: LossLog(e.tmp / "damaged").read()),
    C("log-append-truncated", DamagedLogError, r"damaged/loss_log.json.*Nothing was written",
      lambda e: LossLog(e.tmp / "damaged").append(ONE)),
    C("log-compact-truncated", DamagedLogError, r"damaged/loss_log.json",
      lambda e: LossLog(e.tmp / "damaged").compact()),
    C("log-read-not-a-log", DamagedLogError,
      r"not_a_log/loss_log.json: the top level is not an object with the key 'LOSSMANAGER_LOG'",
      lambda e: LossLog(e.tmp / "not_a_log").read()),
    C("log-append-not-a-log", DamagedLogError, r"not_a_log/loss_log.json",
      lambda e: LossLog(e.tmp / "not_a_log").append(ONE)),
    C("flush-into-damaged-log", DamagedLogError, r"damaged/loss_log.json.*Nothing was written",
      lambda e: LM_RUN.flush(LossLog(e.tmp / "damaged"))),
    C("flush-into-file", NotADirectoryError, r"afile' is a file",
      lambda e: LM_RUN.flush(LossLog(e.tmp / "afile"))),
    C("i-compute-flush-into-damaged-log", DamagedLogError, r"damaged/loss_log.json",
      lambda e: e.ilm_damaged.compute_loss_xy("G_L1", T, T * 0, epoch=5)),
    C("i-update-damaged-log", DamagedLogError, r"damaged/loss_log.json",
      lambda e: e.ilm_damaged.update_loss_log()),
    C("i-export-into-file", NotADirectoryError, r"afile' is a file",
      lambda e: interop.LossManager(None, e.tmp / "afile").export_base_log()),
)


def _closed_log(folder: Path) -> LossLog:
    log = LossLog(folder)
    log.close()
    return log


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clear_error_and_changes_nothing(case: Case, tmp_path: Path):
    env = _make_env(tmp_path, with_interop=case.id.startswith("i-"))
    before = _snapshot(env)
    with pytest.raises(case.error) as caught:
        case.call(env)
    assert re.search(case.match, str(caught.value), re.DOTALL), str(caught.value)
    after = _snapshot(env)
    if case.id.startswith(("i-compute-returns-none", "i-values-not-run",
                           "i-compute-custom-unbroadcastable")):
        # These cases register a loss first (a valid call); the failing call after it
        # must leave the others as they were.
        after["interop"][0][0].pop("C", None)
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
    assert math.isnan(reporting.loss_values(manager)["A"])
