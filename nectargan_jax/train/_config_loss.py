"""The config's loss settings, typed: ``train.loss`` (weights and weight rules) and
``train.health``.

A ``train.loss.lambda_*`` is a number, as in the reference, or (an extension) a schedule
object ``{"schedule": "linear", "start_epoch": 0, "end_epoch": 10, "initial_value":
100.0, "target_value": 10.0}`` (optional ``"options": {...}``) in the core's epoch
convention: epochs counted from 0, no hidden shift (see ``nectargan_jax.Schedule``).

Two optional weight rules (absent or null = off); an object takes the keys it changes,
the rest default:

- ``train.loss.adaptive_gan_weight`` (``AdaptiveGanWeightConfig``): G_GAN's weight
  becomes ``lambda_gan * gate(start_step) * adaptive_last_layer('nll', eps, maximum) *
  scale`` (taming-transformers' adaptive discriminator weight; the NLL is the sum of
  the other weighted G losses).
- ``train.loss.uncertainty_weighting`` (``UncertaintyWeightingConfig``): uncertainty
  weighting (Kendall et al. 2018) over those G losses, its log-variances trained by an
  Adam of their own.

An optional ``train.health`` (``HealthConfig``; absent or null = off) turns on the
manager's GAN health checks (``nectargan_jax.losses.HealthChecks``).

Each section checks its values by building what it describes (a ``Schedule``, a rule,
``HealthChecks``); an error names the key path.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import math
from typing import Any

from nectargan_jax.health import HealthChecks
from nectargan_jax.scheduling import Schedule
from nectargan_jax.train._config_schema import extension, fail, is_number, join, read_with
from nectargan_jax.train._config_schema import type_name
from nectargan_jax.weighting import Rule, adaptive_last_layer, gate, uncertainty

G_LOSSES = ("G_GAN", "G_L1", "G_L2", "G_SOBEL", "G_LAP")
LOSS_LAMBDAS = ("lambda_gan", "lambda_l1", "lambda_l2", "lambda_sobel", "lambda_laplacian",
                "lambda_vgg")
_SCHEDULE_KEYS = ("schedule", "start_epoch", "end_epoch", "initial_value", "target_value",
                  "options")
_SCHEDULE_REQUIRED = ("start_epoch", "end_epoch", "initial_value", "target_value")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """A loss weight's schedule object (an extension): the arguments of a ``Schedule``.

    Attributes:
      start_epoch, end_epoch, initial_value, target_value: the schedule's numbers.
      schedule: a registered schedule kind (``'linear'``, ``'exponential'``, ...).
      options: the kind's keyword options, as sorted ``(name, value)`` pairs.
    """

    start_epoch: float
    end_epoch: float
    initial_value: float
    target_value: float
    schedule: str = "linear"
    options: tuple[tuple[str, Any], ...] = ()

    def to_schedule(self) -> Schedule:
        """The ``Schedule`` (raises as ``Schedule`` does for bad numbers or options)."""
        return Schedule(self.schedule, self.start_epoch, self.end_epoch, self.initial_value,
                        self.target_value, options=self.options)

    def to_dict(self) -> dict[str, Any]:
        """The schedule object as written in a config file."""
        out = {"schedule": self.schedule, "start_epoch": self.start_epoch,
               "end_epoch": self.end_epoch, "initial_value": self.initial_value,
               "target_value": self.target_value}
        return {**out, "options": dict(self.options)} if self.options else out


def _read_weight(given: Any, path: str) -> Any:
    """A ``lambda_*`` from JSON: a number as a float, an object as a ``ScheduleConfig``."""
    if is_number(given) or not isinstance(given, dict):
        return float(given) if is_number(given) else given
    unknown = sorted(set(given) - set(_SCHEDULE_KEYS))
    missing = [key for key in _SCHEDULE_REQUIRED if key not in given]
    if unknown or missing:
        raise ValueError(f"config key {path!r}: a schedule object takes the keys "
                         f"{list(_SCHEDULE_KEYS)} (all but 'schedule' and 'options' required); "
                         f"unknown {unknown}, missing {missing}.")
    numbers = {key: float(given[key]) if is_number(given[key]) else given[key]
               for key in _SCHEDULE_REQUIRED}
    options = given.get("options", {})
    if isinstance(options, Mapping):
        options = tuple(sorted(options.items()))
    elif isinstance(options, list):
        options = tuple(tuple(pair) if isinstance(pair, list) else pair for pair in options)
    return ScheduleConfig(**numbers, schedule=given.get("schedule", "linear"), options=options)


def _weight(default: float) -> Any:
    return read_with(_read_weight, default)


def _check_weight(path: str, value: Any) -> None:
    """A loss weight: a finite number >= 0, or a schedule that never goes below 0."""
    if is_number(value):
        if not 0 <= value < math.inf:
            fail(path, value, "a finite number >= 0")
        return
    if not isinstance(value, ScheduleConfig):
        raise ValueError(f"config key {path!r} must be a number or a schedule object "
                         f"{{'schedule', 'start_epoch', 'end_epoch', 'initial_value', "
                         f"'target_value'}}, got {type_name(value)}: {value!r}.")
    try:
        schedule = value.to_schedule()
    except (TypeError, ValueError) as err:
        raise ValueError(f"config key {path!r} is not a valid schedule: {err}") from None
    if float(min(schedule.initial_value, schedule.target_value)) < 0:
        raise ValueError(f"config key {path!r}: loss weights must be >= 0, got "
                         f"{value.to_dict()!r}.")


def _built(path: str, build: Any) -> Any:
    """What ``build()`` makes (a rule, the health checks), its errors naming the config key."""
    try:
        return build()
    except (TypeError, ValueError) as err:
        raise ValueError(f"config key {path!r}: {err}") from None


@dataclasses.dataclass(frozen=True)
class AdaptiveGanWeightConfig:
    """``train.loss.adaptive_gan_weight``: the adaptive G_GAN weight's settings."""

    start_step: int = 0
    scale: float = 1.0
    eps: float = 1e-4
    maximum: float = 1e4

    def rule(self) -> Rule:
        """``gate(start_step) * adaptive_last_layer('nll', eps, maximum) * scale``."""
        return gate(self.start_step) * adaptive_last_layer(
            "nll", eps=self.eps, maximum=self.maximum) * self.scale

    def _check(self, where: str) -> None:
        if self.start_step < 0:
            fail(join(where, "start_step"), self.start_step, "an int >= 0")
        if self.start_step >= 2 ** 31:
            fail(join(where, "start_step"), self.start_step,
                 "an int < 2**31 (the manager counts steps in int32)")
        if not 0 <= self.scale < math.inf:
            fail(join(where, "scale"), self.scale, "a finite number >= 0")
        for key in ("eps", "maximum"):
            if not 0 < getattr(self, key) < math.inf:
                fail(join(where, key), getattr(self, key), "a finite number > 0")
        _built(where, self.rule)


@dataclasses.dataclass(frozen=True)
class UncertaintyWeightingConfig:
    """``train.loss.uncertainty_weighting``: the G losses weighted by uncertainty, and
    the Adam learning rate and initial value of their log-variances."""

    losses: tuple[str, ...] | None
    learning_rate: float = 1e-3
    init_log_variance: float = 0.0

    def rule(self) -> Rule:
        """``uncertainty(init_log_variance)``, to be bound to ``losses``."""
        return uncertainty(init_log_variance=self.init_log_variance)

    def _check(self, where: str) -> None:
        if not 0 < self.learning_rate < math.inf:
            fail(join(where, "learning_rate"), self.learning_rate, "a finite number > 0")
        if not math.isfinite(self.init_log_variance):
            fail(join(where, "init_log_variance"), self.init_log_variance, "a finite number")
        losses = self.losses
        if not isinstance(losses, (tuple, list)) or not losses \
                or not set(losses) <= set(G_LOSSES) or len(set(losses)) != len(losses):
            fail(join(where, "losses"), list(losses) if isinstance(losses, tuple) else losses,
                 f"a non-empty list of distinct G losses from {list(G_LOSSES)}")
        _built(where, self.rule)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """``train.loss``: the pix2pix losses' weights (a number or a ``ScheduleConfig``
    each) and the optional weight rules."""

    lambda_gan: float | ScheduleConfig = _weight(1.0)
    lambda_l1: float | ScheduleConfig = _weight(100.0)
    lambda_l2: float | ScheduleConfig = _weight(0.0)
    lambda_sobel: float | ScheduleConfig = _weight(0.0)
    lambda_laplacian: float | ScheduleConfig = _weight(0.0)
    lambda_vgg: float | ScheduleConfig = _weight(0.0)
    adaptive_gan_weight: AdaptiveGanWeightConfig | None = extension(None)
    uncertainty_weighting: UncertaintyWeightingConfig | None = extension(None)

    def weights(self) -> dict[str, float | Schedule]:
        """The pix2pix spec's lambdas: ``{'lambda_gan': 1.0, 'lambda_l1': Schedule(...), ...}``.

        Pass them on as ``LossManager().with_spec(pix2pix, 'extended', **weights)``.
        """
        weights = {name: getattr(self, name) for name in LOSS_LAMBDAS}
        return {name: value.to_schedule() if isinstance(value, ScheduleConfig) else value
                for name, value in weights.items()}

    def rules(self) -> tuple[tuple[Rule, tuple[str, ...]], ...]:
        """The weight rules turned on, each with the losses it weighs (``with_rule``'s
        arguments), the adaptive G_GAN weight first."""
        rules = []
        if self.adaptive_gan_weight is not None:
            rules.append((self.adaptive_gan_weight.rule(), ("G_GAN",)))
        if self.uncertainty_weighting is not None:
            rules.append((self.uncertainty_weighting.rule(),
                          tuple(self.uncertainty_weighting.losses)))
        return tuple(rules)

    def _check(self, where: str) -> None:
        for name in LOSS_LAMBDAS:
            _check_weight(join(where, name), getattr(self, name))
        if self.adaptive_gan_weight is not None:
            self.adaptive_gan_weight._check(join(where, "adaptive_gan_weight"))
        if self.uncertainty_weighting is None:
            return
        self.uncertainty_weighting._check(join(where, "uncertainty_weighting"))
        path, balanced = join(where, "uncertainty_weighting.losses"), \
            list(self.uncertainty_weighting.losses)
        if self.adaptive_gan_weight is not None and "G_GAN" in balanced:
            fail(path, balanced, f"without 'G_GAN' while {where}.adaptive_gan_weight is on "
                 "(it sets G_GAN's weight)")
        lambdas = dict(zip(G_LOSSES, LOSS_LAMBDAS))
        off = [name for name in balanced if getattr(self, lambdas[name]) == 0]
        if off:
            fail(path, balanced, f"losses whose lambda is not 0 ({off} weigh nothing: "
                 "their log-variances would fall without end)")


@dataclasses.dataclass(frozen=True)
class HealthConfig:
    """``train.health``: the discriminator collapse check on ``D_real`` and ``D_fake``
    (both below ``collapse_threshold`` for ``collapse_patience`` consecutive steps), the
    non-finite loss check and the clamped weight check."""

    collapse: bool = True
    collapse_threshold: float = 0.05
    collapse_patience: int = 100
    non_finite: bool = True
    clamped: bool = True

    def checks(self) -> HealthChecks:
        """The LossManager's health checks.

        Examples:
          >>> checks = HealthConfig(collapse_patience=50).checks()
          >>> checks.collapse, int(checks.patience)
          (('D_real', 'D_fake'), 50)
        """
        return HealthChecks(collapse=("D_real", "D_fake") if self.collapse else None,
                            threshold=self.collapse_threshold,
                            patience=self.collapse_patience, non_finite=self.non_finite,
                            clamped=self.clamped)

    def _check(self, where: str) -> None:
        threshold, patience = self.collapse_threshold, self.collapse_patience
        if not 0 < threshold < math.inf:  # the BCE losses are >= 0: <= 0 never fires
            fail(join(where, "collapse_threshold"), threshold,
                 "a finite number > 0 (D_real and D_fake are never below 0)")
        if not 1 <= patience < 2 ** 31:
            fail(join(where, "collapse_patience"), patience, "an int >= 1")
        _built(where, self.checks)
