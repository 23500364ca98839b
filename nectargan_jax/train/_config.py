"""The training config: the reference's JSON format, validated, with scheduled loss weights.

A config file holds ``{"config": {...}}`` with the reference's sections (common,
dataloader, train, save, visualizer); ``load_config`` returns the inner dict. Keys a file
leaves out take the packaged default's values; unknown keys, wrong types and bad values
are a ValueError naming the key path (``train.generator.n_downs``).

One backward-compatible extension: any ``train.loss.lambda_*`` may be a number (as in
the reference) or a schedule object
``{"schedule": "linear", "start_epoch": 0, "end_epoch": 10, "initial_value": 100.0,
"target_value": 10.0}`` (optional ``"options": {...}``) in the core's epoch convention:
epochs counted from 0, no hidden shift (see ``nectargan_jax.Schedule``).

Another: an optional ``train.generator.norm`` (``GENERATOR_NORMS``): absent means
``'instance'``, the reference's ``InstanceNorm2d``; ``'batch'`` builds BatchNorm instead.

Another: an optional ``train.health`` turns on the manager's GAN health checks
(``nectargan_jax.health.HealthChecks``): absent or null = off (the reference's files are
unchanged); an object takes ``HEALTH_DEFAULTS``'s keys, each optional.

``save.keep_checkpoints`` (an extension; absent = ``KEEP_CHECKPOINTS``): how many of the
newest checkpoints a run keeps, older ones being deleted as new ones are written; null
keeps every one, as the reference does.

Another: an optional ``visualizer.tensorboard`` (absent or null = off) names a folder
for TensorBoard event files of the run's losses, weights, learning rates and example
images (``nectargan_jax.train._writers``).

Two optional weight rules (absent or null = off, so older configs and their checkpoint
fingerprints are unchanged); an object takes the keys it changes, the rest default:

- ``train.loss.adaptive_gan_weight``: ``{"start_step": 0, "scale": 1.0, "eps": 1e-4,
  "maximum": 1e4}``: G_GAN's weight becomes ``lambda_gan * gate(start_step) *
  adaptive_last_layer('nll', eps, maximum) * scale`` (taming-transformers' adaptive
  discriminator weight; the NLL is the sum of the other weighted G losses).
- ``train.loss.uncertainty_weighting``: ``{"losses": ["G_L1", ...], "learning_rate":
  1e-3, "init_log_variance": 0.0}``: uncertainty weighting (Kendall et al. 2018) over
  those G losses, its log-variances trained by an Adam of their own.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
from pathlib import Path
import re
from typing import Any

from nectargan_jax.configs import load_default_config
from nectargan_jax.health import HealthChecks
from nectargan_jax.models import BLOCK_TYPES
from nectargan_jax.models import NORMS as GENERATOR_NORMS
from nectargan_jax.models import UPSAMPLE_TYPES
from nectargan_jax.scheduling import Schedule
from nectargan_jax.train._augment_config import check_augmentations

DIRECTIONS = ("AtoB", "BtoA")
G_LOSSES = ("G_GAN", "G_L1", "G_L2", "G_SOBEL", "G_LAP")
LOSS_LAMBDAS = ("lambda_gan", "lambda_l1", "lambda_l2", "lambda_sobel", "lambda_laplacian",
                "lambda_vgg")
_SCHEDULE_KEYS = ("schedule", "start_epoch", "end_epoch", "initial_value", "target_value",
                  "options")
_SCHEDULE_REQUIRED = ("start_epoch", "end_epoch", "initial_value", "target_value")
NORM_KEY = "train.generator.norm"
HEALTH_KEY = "train.health"
KEEP_KEY = "save.keep_checkpoints"
KEEP_CHECKPOINTS = 3
HEALTH_DEFAULTS = {"collapse": True, "collapse_threshold": 0.05, "collapse_patience": 100,
                   "non_finite": True, "clamped": True}
"""``train.health``'s keys: the discriminator collapse check on ``D_real`` and ``D_fake``
(both below ``collapse_threshold`` for ``collapse_patience`` consecutive steps), the
non-finite loss check and the clamped weight check."""
TENSORBOARD_KEY = "visualizer.tensorboard"
ADAPTIVE_GAN_WEIGHT = {"start_step": 0, "scale": 1.0, "eps": 1e-4, "maximum": 1e4}
UNCERTAINTY_WEIGHTING = {"losses": None, "learning_rate": 1e-3, "init_log_variance": 0.0}
_RULES = {"train.loss.adaptive_gan_weight": ADAPTIVE_GAN_WEIGHT,
          "train.loss.uncertainty_weighting": UNCERTAINTY_WEIGHTING}
# What ``common.device`` may name (torch's device strings); the trainer runs on JAX's
# default device and says so when it is another (``_notes``).
_DEVICE = re.compile(r"(cpu|cuda|gpu|tpu|mps)(:\d+)?")


def embedded_default_overrides() -> dict[str, Any]:
    """Settings of the embedded default run (the README's main command), as overrides
    with dotted keys (``load_config(overrides=...)``; flags merge with them key by key).

    A small model on 64x64 procedurally generated pairs (``dataloader.dataroot`` empty),
    so that ``nectargan-jax train`` completes in minutes on a 2-core CPU.
    """
    return {
        "dataloader.batch_size": 4,
        "dataloader.load.load_size": 64,
        "dataloader.load.crop_size": 64,
        "train.generator.features": 16,
        "train.generator.n_downs": 3,
        "train.generator.learning_rate.epochs": 4,
        "train.generator.learning_rate.epochs_decay": 4,
        "train.discriminator.base_channels": 16,
        "train.discriminator.max_channels": 64,
        "train.discriminator.learning_rate.epochs": 4,
        "train.discriminator.learning_rate.epochs_decay": 4,
    }


def load_config(path: str | Path | None = None,
                overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reads, completes and validates a config; returns the inner dict.

    Args:
      path: a JSON file holding ``{"config": {...}}``; None = the packaged default.
      overrides: values laid over the file's, as a nested dict
        (``{"train": {"generator": {"n_downs": 4}}}``) or with dotted keys
        (``{"train.generator.n_downs": 4}``).

    Returns:
      The inner config dict: the default's structure, every key present.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: not a ``{"config": {...}}`` JSON file, an unknown key, a wrong type or
        a bad value (the message names the key path).

    Examples:
      >>> config = load_config(overrides={"train.generator.n_downs": 4})
      >>> config["train"]["generator"]["n_downs"], config["train"]["generator"]["features"]
      (4, 64)
    """
    default = load_default_config()
    config = copy.deepcopy(default)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {str(path)!r}.")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"config file {str(path)!r} is not valid JSON: {err}.") from None
        if not isinstance(data, dict) or set(data) != {"config"}:
            raise ValueError(f'config file {str(path)!r} must hold {{"config": {{...}}}}, got '
                             f"top-level keys {sorted(data) if isinstance(data, dict) else data!r}.")
        _merge(config, data["config"], default, "")
    if overrides is not None:
        if not isinstance(overrides, dict):
            raise TypeError(f"overrides must be a dict, got {type(overrides).__name__}.")
        _merge(config, _nest(overrides), default, "")
    _check_values(config)
    return config


def _nest(overrides: dict[str, Any]) -> dict[str, Any]:
    """Turns dotted keys into nested dicts."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        *parents, leaf = str(key).split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return nested


def _merge(config: dict, given: Any, default: dict, where: str) -> None:
    """Lays ``given`` over ``config`` (in place), checking keys and types against ``default``."""
    if not isinstance(given, dict):
        raise ValueError(f"config key {where or '<root>'!r} must be an object, got {given!r}.")
    for key, value in given.items():
        path = f"{where}.{key}" if where else key
        if path == HEALTH_KEY:  # laid over the settings given before (a file's)
            given_before = config.get(key) if isinstance(value, dict) else None
            config[key] = _check_health({**given_before, **value} if given_before else value)
            continue
        if path in _RULES:
            _set_rule(config, key, value, path)
            continue
        if path == KEEP_KEY:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                _fail(path, value, "an int >= 1 (checkpoints kept), or null (keep all)")
            config[key] = value
            continue
        if path == TENSORBOARD_KEY:
            config[key] = _check_tensorboard(value)
            continue
        if path == NORM_KEY:
            if value not in GENERATOR_NORMS:
                _fail(path, value, f"one of {GENERATOR_NORMS}")
            config[key] = value
            continue
        if key not in default:
            raise ValueError(f"unknown config key {path!r}; known keys there: "
                             f"{sorted(default)}.")
        expected = default[key]
        if _is_lambda(path):
            config[key] = _check_lambda(path, value)
        elif isinstance(expected, dict):
            _merge(config[key], value, expected, path)
        else:
            config[key] = _check_type(path, value, expected)


def _is_lambda(path: str) -> bool:
    return path.startswith("train.loss.lambda_")


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_type(path: str, value: Any, expected: Any) -> Any:
    """``value`` if it has the default's type (an int is accepted where a float is)."""
    if isinstance(expected, bool):
        ok = isinstance(value, bool)
    elif isinstance(expected, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(expected, float):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(expected, str):
        ok = isinstance(value, str)
    else:  # a list of ints (common.gpu_ids)
        ok = isinstance(value, list) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok:
        raise ValueError(f"config key {path!r} must be of type {_type_name(expected)} like the "
                         f"default {expected!r}, got {_type_name(value)}: {value!r}.")
    return value


def _check_lambda(path: str, value: Any) -> Any:
    """A loss weight: a number >= 0, or a schedule object (checked by building it)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"config key {path!r} must be a finite number >= 0, got {value!r}.")
        return float(value)
    if not isinstance(value, dict):
        raise ValueError(f"config key {path!r} must be a number or a schedule object "
                         f"{{'schedule', 'start_epoch', 'end_epoch', 'initial_value', "
                         f"'target_value'}}, got {_type_name(value)}: {value!r}.")
    unknown = sorted(set(value) - set(_SCHEDULE_KEYS))
    missing = [k for k in _SCHEDULE_REQUIRED if k not in value]
    if unknown or missing:
        raise ValueError(f"config key {path!r}: a schedule object takes the keys "
                         f"{list(_SCHEDULE_KEYS)} (all but 'schedule' and 'options' required); "
                         f"unknown {unknown}, missing {missing}.")
    try:
        schedule = _schedule_of(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config key {path!r} is not a valid schedule: {err}") from None
    if float(min(schedule.initial_value, schedule.target_value)) < 0:
        raise ValueError(f"config key {path!r}: loss weights must be >= 0, got {value!r}.")
    return copy.deepcopy(value)


def _check_tensorboard(value: Any) -> str | None:
    """``visualizer.tensorboard``: null (off) or the folder of the event files."""
    if value is not None and (not isinstance(value, str) or not value):
        raise ValueError(f"config key {TENSORBOARD_KEY!r} must be null (off) or the folder of "
                         f"the TensorBoard event files, got {_type_name(value)}: {value!r}.")
    return value


def _check_object(path: str, value: Any, defaults: dict[str, Any]) -> None:
    """An optional section (``train.health``, a weight rule) given as an object: its keys
    must be among ``defaults``'."""
    if not isinstance(value, dict):
        raise ValueError(f"config key {path!r} must be null (off) or an object with the keys "
                         f"{list(defaults)}, got {_type_name(value)}: {value!r}.")
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ValueError(f"unknown config key(s) {[f'{path}.{key}' for key in unknown]}; "
                         f"known keys there: {list(defaults)}.")


def _check_health(value: Any) -> dict[str, Any] | None:
    """``train.health``: null (off), or an object of ``HEALTH_DEFAULTS``'s keys, completed."""
    if value is None:
        return None
    _check_object(HEALTH_KEY, value, HEALTH_DEFAULTS)
    checked = {key: _check_type(f"{HEALTH_KEY}.{key}", value.get(key, default), default)
               for key, default in HEALTH_DEFAULTS.items()}
    threshold, patience = checked["collapse_threshold"], checked["collapse_patience"]
    if not 0 < threshold < math.inf:  # the BCE losses are >= 0: <= 0 never fires
        _fail(f"{HEALTH_KEY}.collapse_threshold", threshold,
              "a finite number > 0 (D_real and D_fake are never below 0)")
    if not 1 <= patience < 2 ** 31:
        _fail(f"{HEALTH_KEY}.collapse_patience", patience, "an int >= 1")
    try:
        _health_of(checked)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config key {HEALTH_KEY!r}: {err}") from None
    return checked


def _health_of(settings: dict[str, Any]) -> HealthChecks:
    return HealthChecks(collapse=("D_real", "D_fake") if settings["collapse"] else None,
                        threshold=settings["collapse_threshold"],
                        patience=settings["collapse_patience"],
                        non_finite=settings["non_finite"], clamped=settings["clamped"])


def health_checks(config: dict[str, Any]) -> HealthChecks | None:
    """The LossManager's health checks that ``train.health`` asks for, or None (off).

    Examples:
      >>> health_checks(load_config()) is None
      True
      >>> health_checks(load_config(overrides={"train.health": {"collapse_patience": 50}}))
      HealthChecks(collapse=('D_real', 'D_fake'), threshold=0.05, patience=50, non_finite=True, clamped=True)
    """
    settings = config["train"].get("health")
    return None if settings is None else _health_of(settings)


def keep_checkpoints(config: dict[str, Any]) -> int | None:
    """How many of the newest checkpoints a run keeps (``save.keep_checkpoints``; None: all).

    Examples:
      >>> keep_checkpoints(load_config()), keep_checkpoints(load_config(
      ...     overrides={"save.keep_checkpoints": None}))
      (3, None)
    """
    return config["save"].get("keep_checkpoints", KEEP_CHECKPOINTS)


def _set_rule(loss: dict, key: str, value: Any, path: str) -> None:
    """Lays a weight rule's object over the one ``loss`` holds (in place); null removes it."""
    if value is None:
        loss.pop(key, None)
        return
    defaults = _RULES[path]
    _check_object(path, value, defaults)
    rule = {**defaults, **loss.get(key, {}), **value}
    for name, given in rule.items():
        if name != "losses":
            rule[name] = _check_rule_number(f"{path}.{name}", given, defaults[name])
    if path.endswith("uncertainty_weighting"):
        rule["losses"] = _check_rule_losses(f"{path}.losses", rule["losses"])
    loss[key] = rule


def _check_rule_number(path: str, value: Any, default: Any) -> Any:
    """A weight rule's number: its default's type, finite, in the range the key takes."""
    value = _check_type(path, value, default)
    if path.endswith("start_step") and value < 0:
        _fail(path, value, "an int >= 0")
    if path.endswith("start_step") and value >= 2 ** 31:
        _fail(path, value, "an int < 2**31 (the manager counts steps in int32)")
    if path.endswith(("eps", "maximum", "learning_rate")) and not 0 < value < math.inf:
        _fail(path, value, "a finite number > 0")
    if path.endswith("scale") and not 0 <= value < math.inf:
        _fail(path, value, "a finite number >= 0")
    if path.endswith("init_log_variance") and not math.isfinite(value):
        _fail(path, value, "a finite number")
    return value


def _check_rule_losses(path: str, value: Any) -> list[str]:
    """A non-empty list of distinct G loss names."""
    if not isinstance(value, list) or not value or not all(v in G_LOSSES for v in value) \
            or len(set(value)) != len(value):
        _fail(path, value, f"a non-empty list of distinct G losses from {list(G_LOSSES)}")
    return list(value)


def _schedule_of(value: dict[str, Any]) -> Schedule:
    return Schedule(value.get("schedule", "linear"), value["start_epoch"], value["end_epoch"],
                    value["initial_value"], value["target_value"],
                    options=value.get("options", {}))


def _fail(path: str, value: Any, accepted: str) -> None:
    raise ValueError(f"config key {path!r} must be {accepted}, got {value!r}.")


def _check_values(config: dict[str, Any]) -> None:
    """Checks ranges and choices on the complete config."""
    _check_common_and_save(config)
    data, load = config["dataloader"], config["dataloader"]["load"]
    if data["num_workers"] < 0:
        _fail("dataloader.num_workers", data["num_workers"], "an int >= 0")
    if data["direction"] not in DIRECTIONS:
        _fail("dataloader.direction", data["direction"], f"one of {DIRECTIONS}")
    for path, value in (("dataloader.batch_size", data["batch_size"]),
                        ("dataloader.load.input_nc", load["input_nc"]),
                        ("dataloader.load.crop_size", load["crop_size"]),
                        ("dataloader.load.load_size", load["load_size"])):
        if value < 1:
            _fail(path, value, "an int >= 1")
    if load["input_nc"] not in (1, 3):
        _fail("dataloader.load.input_nc", load["input_nc"], "1 (grayscale) or 3 (RGB)")
    if load["load_size"] < load["crop_size"]:
        _fail("dataloader.load.load_size", load["load_size"],
              f">= dataloader.load.crop_size ({load['crop_size']})")
    check_augmentations(data["augmentations"])
    gen, disc = config["train"]["generator"], config["train"]["discriminator"]
    if gen["block_type"] not in BLOCK_TYPES:
        _fail("train.generator.block_type", gen["block_type"], f"one of {BLOCK_TYPES}")
    if gen["upsample_type"] not in UPSAMPLE_TYPES:
        _fail("train.generator.upsample_type", gen["upsample_type"], f"one of {UPSAMPLE_TYPES}")
    for path, value in (("train.generator.features", gen["features"]),
                        ("train.generator.n_downs", gen["n_downs"]),
                        ("train.discriminator.n_layers", disc["n_layers"]),
                        ("train.discriminator.base_channels", disc["base_channels"]),
                        ("train.discriminator.max_channels", disc["max_channels"])):
        if value < 1:
            _fail(path, value, "an int >= 1")
    side = 2 ** (gen["n_downs"] + 2)
    if gen["block_type"] == "ResidualUnetBlock" and load["crop_size"] != side:
        _fail("dataloader.load.crop_size", load["crop_size"],
              f"{side} for a ResidualUnetBlock generator with train.generator.n_downs="
              f"{gen['n_downs']} (the reference's residual U-Net takes only that size)")
    if load["crop_size"] % side:
        _fail("dataloader.load.crop_size", load["crop_size"],
              f"a multiple of {side} for train.generator.n_downs={gen['n_downs']}")
    for which, section in (("generator", gen), ("discriminator", disc)):
        lr, prefix = section["learning_rate"], f"train.{which}"
        for key in ("epochs", "epochs_decay"):
            if lr[key] < 0:
                _fail(f"{prefix}.learning_rate.{key}", lr[key], "an int >= 0")
        if lr["epochs"] + lr["epochs_decay"] < 1:
            _fail(f"{prefix}.learning_rate.epochs", lr["epochs"],
                  "such that epochs + epochs_decay >= 1 (the number of epochs trained)")
        for key in ("initial", "target"):
            if not 0 <= lr[key] < float("inf"):
                _fail(f"{prefix}.learning_rate.{key}", lr[key], "a finite number >= 0")
        if not 0 <= section["optimizer"]["beta1"] < 1:
            _fail(f"{prefix}.optimizer.beta1", section["optimizer"]["beta1"], "in [0, 1)")
    _check_rules(config["train"]["loss"])
    _check_visdom(config["visualizer"]["visdom"])


def _check_visdom(visdom: dict[str, Any]) -> None:
    """``visualizer.visdom``'s numbers, which the Visdom writer divides by and sends."""
    for key in ("update_frequency", "image_size"):
        if visdom[key] < 1:
            _fail(f"visualizer.visdom.{key}", visdom[key], "an int >= 1")
    if not 1 <= visdom["port"] <= 65535:
        _fail("visualizer.visdom.port", visdom["port"], "a port number in [1, 65535]")


def _check_common_and_save(config: dict[str, Any]) -> None:
    """The run's name, device and output cadences."""
    common, save = config["common"], config["save"]
    name = common["experiment_name"]
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        _fail("common.experiment_name", name, "a folder name (not empty, no '/' or '\\')")
    if common["experiment_version"] < 0:
        _fail("common.experiment_version", common["experiment_version"], "an int >= 0")
    if not _DEVICE.fullmatch(common["device"]):
        _fail("common.device", common["device"], "a device such as 'cpu', 'cuda' or 'cuda:1'")
    for key in ("model_save_rate", "example_save_rate"):
        if save[key] < 1:
            _fail(f"save.{key}", save[key], "an int >= 1")


def _check_rules(loss: dict[str, Any]) -> None:
    """Weight rules that cannot work with the losses' weights are refused."""
    balanced = loss.get("uncertainty_weighting", {}).get("losses", [])
    path = "train.loss.uncertainty_weighting.losses"
    if "adaptive_gan_weight" in loss and "G_GAN" in balanced:
        _fail(path, balanced, "without 'G_GAN' while train.loss.adaptive_gan_weight is on "
              "(it sets G_GAN's weight)")
    lambdas = dict(zip(G_LOSSES, ("lambda_gan", "lambda_l1", "lambda_l2", "lambda_sobel",
                                  "lambda_laplacian")))
    off = [name for name in balanced if loss[lambdas[name]] == 0]
    if off:
        _fail(path, balanced, f"losses whose lambda is not 0 ({off} weigh nothing: "
              "their log-variances would fall without end)")


def total_epochs(config: dict[str, Any]) -> int:
    """Epochs a run trains: the generator's ``epochs + epochs_decay`` (the reference's rule)."""
    lr = config["train"]["generator"]["learning_rate"]
    return lr["epochs"] + lr["epochs_decay"]


def loss_weights(config: dict[str, Any]) -> dict[str, float | Schedule]:
    """The pix2pix spec's lambdas: ``{'lambda_gan': 1.0, 'lambda_l1': Schedule(...), ...}``.

    Pass them on as ``LossManager().with_spec(pix2pix, 'extended', **loss_weights(c))``.
    """
    weights: dict[str, float | Schedule] = {}
    for name in LOSS_LAMBDAS:
        value = config["train"]["loss"][name]
        weights[name] = _schedule_of(value) if isinstance(value, dict) else float(value)
    return weights


def loss_rules(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The weight rules a config turns on: ``{'adaptive_gan_weight': {...},
    'uncertainty_weighting': {...}}``, each complete; absent when off.

    Examples:
      >>> loss_rules(load_config(overrides={"train.loss.adaptive_gan_weight": {"scale": 0.8}}))
      {'adaptive_gan_weight': {'start_step': 0, 'scale': 0.8, 'eps': 0.0001, 'maximum': 10000.0}}
    """
    loss = config["train"]["loss"]
    return {key: copy.deepcopy(loss[key]) for key in ("adaptive_gan_weight",
                                                     "uncertainty_weighting") if key in loss}


def learning_rate_schedule(config: dict[str, Any], which: str = "generator") -> Schedule:
    """The pix2pix learning-rate schedule of ``train.<which>.learning_rate``, per epoch.

    The reference builds ``Schedule(start_epoch=epochs, end_epoch=1 + epochs +
    epochs_decay, initial_value=initial, target_value=target)``, shifted by -1 and stepped
    once per epoch; with epochs counted from 0 that is constant ``initial`` through epoch
    ``epochs - 1``, then linear to ``target`` at epoch ``epochs + epochs_decay``::

        lr(e) = initial + clip((e - epochs + 1) / (epochs_decay + 1), 0, 1) * (target - initial)

    With ``train.separate_lr_schedules`` false, both models follow the generator's.

    Args:
      config: the inner config dict.
      which: ``'generator'`` or ``'discriminator'``.

    Raises:
      ValueError: another ``which``.

    Examples:
      >>> s = learning_rate_schedule(load_config())
      >>> [round(float(s(e)) / 2e-4, 4) for e in (0, 99, 100, 150, 200)]
      [1.0, 1.0, 0.9901, 0.495, 0.0]
    """
    if which not in ("generator", "discriminator"):
        raise ValueError(f"which must be 'generator' or 'discriminator', got {which!r}.")
    if not config["train"]["separate_lr_schedules"]:
        which = "generator"
    lr = config["train"][which]["learning_rate"]
    return Schedule("linear", start_epoch=lr["epochs"] - 1,
                    end_epoch=lr["epochs"] + lr["epochs_decay"], initial_value=lr["initial"],
                    target_value=lr["target"])
