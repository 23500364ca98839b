"""The pix2pix training step: one compiled update of D, then G, with recorded losses.

State is a plain pytree (``TrainState``): parameters and the rest of both models' state
(``nnx.split``: the generator's dropout RNG state, and batch statistics with the
BatchNorm extension, as plain nested dicts of arrays: an ``nnx.State``'s Variables are
flattened in Python on every call, several ms per step), both optimizer states, the
``LossManager`` that weights and records the G and D losses, and the step and epoch
counters. Structure (the models' graph definitions, the optimizer settings) lives in
``Pix2PixStep``, a hashable frozen object whose compiled methods take and return the
state. A step makes no host transfer: the epoch that drives the loss weights and the
learning rate is device state.

The batch first goes through the config's data augmentations (``_augment``), drawn from
a key in the state folded with the step count, so a resumed run draws the same.

The generator runs forward once per step (``jax.vjp``): its output feeds the D update
(as a constant) and the G update, whose gradient flows back through the saved vjp.

Weight rules from the config (``train.loss.adaptive_gan_weight``,
``train.loss.uncertainty_weighting``) live in the manager, and the step computes the
gradients they declare (``LossManager.gradients``), at the generator's last layer's
kernel: ``grads[name]`` for a G loss is its unweighted gradient, ``grads['nll']`` that
of the NLL (the other weighted G losses, the adaptive GAN weight's reference). They are
pulled back from the generator's output through the saved vjp, keeping only that kernel
(XLA drops the rest of those backward passes), and G_GAN's pull-back through D is
reused for the update: no second forward of either model. The rules' trainable leaves
(uncertainty weighting's log-variances) are trained with an Adam of their own whose
state is in ``TrainState``.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, NamedTuple

from flax import nnx
import jax
import jax.numpy as jnp
import optax

from nectargan_jax import LossManager
from nectargan_jax.losses import pix2pix
from nectargan_jax.models import build_models
from nectargan_jax.scheduling import Schedule, scheduled_optimizer
from nectargan_jax.train._augment import Augmentations, augment_batch, step_key
from nectargan_jax.train._augment_config import augmentations_from_config
from nectargan_jax.train._config import TrainConfig, TrainingConfig, check_config
from nectargan_jax.train._config_loss import G_LOSSES
from nectargan_jax.train._step_cache import compile_step

Batch = tuple[jax.Array, jax.Array]

D_LOSSES = ("D_real", "D_fake")


class TrainState(NamedTuple):
    """Everything a pix2pix run changes, as one pytree of arrays."""

    gen_params: dict  # generator nnx.Param values (a pure dict, as nnx.to_pure_dict gives)
    gen_rest: dict  # generator dropout RNG state (and batch statistics, norm 'batch')
    disc_params: dict  # discriminator nnx.Param values
    disc_rest: dict  # empty: the discriminator's instance norm keeps no state
    gen_opt: optax.OptState  # Adam state, learning rate in hyperparams
    disc_opt: optax.OptState
    manager: LossManager  # weights and records of G_* and D_* losses
    step: jax.Array  # shape=(), dtype=int32: optimizer steps taken
    epoch: jax.Array  # shape=(), dtype=int32: epoch of the next step, from 0
    rule_opt: optax.OptState = ()  # Adam state of the rules' trainable leaves, if any
    augment_key: jax.Array = ()  # shape=(2,), dtype=uint32: the augmentations' key data


@dataclasses.dataclass(frozen=True)
class Pix2PixStep:
    """The static half of training: graph definitions, optimizer settings, steps per epoch.

    Build it with :func:`build_training`. It is hashable and compares by value, so two
    runs built from the same config share one compiled step, one compiled ``lax.scan``
    per length and one compiled ``generate``.

    Attributes:
      gen_def, disc_def: ``nnx.GraphDef`` of the models in train mode.
      gen_lr, disc_lr: the learning-rate schedules, as ``(kind, start_epoch,
        end_epoch, initial_value, target_value, options)``.
      gen_beta1, disc_beta1: Adam's ``b1``.
      steps_per_epoch: optimizer steps per epoch (the learning rate steps per epoch).
      rule_learning_rate: Adam's learning rate for the rules' trainable leaves
        (uncertainty weighting's log-variances); None when no rule has any.
      augmentations: the data augmentations the step applies to each batch first
        (drawing from ``state.augment_key`` and the step); None when none runs here.
    """

    gen_def: Any
    disc_def: Any
    gen_lr: tuple
    disc_lr: tuple
    gen_beta1: float
    disc_beta1: float
    steps_per_epoch: int
    rule_learning_rate: float | None = None
    augmentations: Augmentations | None = None

    def __post_init__(self):
        # jit hashes its static argument on every call; the graph definitions take ~1 ms.
        fields = tuple(getattr(self, f.name) for f in dataclasses.fields(self))
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash

    @property
    def gen_tx(self) -> optax.GradientTransformation:
        """The generator's Adam, its learning rate following ``gen_lr``."""
        return _adam(self.gen_lr, self.steps_per_epoch, self.gen_beta1)

    @property
    def disc_tx(self) -> optax.GradientTransformation:
        """The discriminator's Adam, its learning rate following ``disc_lr``."""
        return _adam(self.disc_lr, self.steps_per_epoch, self.disc_beta1)

    @property
    def rule_tx(self) -> optax.GradientTransformation:
        """The Adam of the rules' trainable leaves (``rule_learning_rate``)."""
        return optax.adam(self.rule_learning_rate)

    def step(self, state: TrainState, batch: Batch) -> TrainState:
        """One step, compiled (``state`` is donated: use the returned one)."""
        return _jitted_step(self, state, batch)

    def steps(self, state: TrainState, batches: Batch) -> TrainState:
        """``len(batches[0])`` steps in one compiled call (``state`` is donated)."""
        return _jitted_steps(self, state, batches)

    def compile(self, state: TrainState, batch: Batch, *, scan: bool = False,
                cache: Path | None = None, echo: Callable[[str], None] = print
                ) -> jax.stages.Compiled:
        """``step`` (with ``scan``: ``steps``) compiled for arguments shaped like these
        (arrays or ``jax.ShapeDtypeStruct``s), called as ``compiled(state, batch)``.

        Without ``cache`` this fills the in-memory cache ``step`` reads too, so its first
        call with such arguments runs without compiling. With ``cache`` (a folder), the
        executable is loaded from there when a start with the same settings kept it, and
        kept there otherwise (``_step_cache``; ``echo`` says when that fails).
        """
        return compile_step(_jitted_steps if scan else _jitted_step, self, state, batch,
                            cache, echo)

    def generate(self, state: TrainState, x: jax.Array) -> jax.Array:
        """The generator's output for ``x`` in eval mode, compiled."""
        return _jitted_generate(self, state, x)

    # The functions compiled behind ``step``, ``steps`` and ``generate``.

    def _step(self, state: TrainState, batch: Batch) -> TrainState:
        """One optimizer step of D then G on ``batch = (inputs, targets)`` (NHWC)."""
        x, y = batch
        if self.augmentations is not None:
            x, y = augment_batch(self.augmentations, state.augment_key, state.step, x, y)
        epoch = state.epoch

        def generator(params):
            model = nnx.merge(self.gen_def, params, state.gen_rest, copy=True)
            fake = model(x)
            return fake, _rest(model)

        fake, pull_back, gen_rest = jax.vjp(generator, state.gen_params, has_aux=True)

        def d_objective(params, rest, manager):
            real_logits, rest = self._discriminate(params, rest, x, y)
            fake_logits, rest = self._discriminate(params, rest, x,
                                                   jax.lax.stop_gradient(fake))
            out, manager = manager.compute_many({
                "D_real": (real_logits, jnp.ones_like(real_logits)),
                "D_fake": (fake_logits, jnp.zeros_like(fake_logits)),
            }, epoch)
            # Isola et al. halve D's objective to slow D relative to G.
            return 0.5 * out.total, (rest, manager)

        d_grads, (disc_rest, manager) = jax.grad(d_objective, has_aux=True)(
            state.disc_params, state.disc_rest, state.manager)
        d_updates, disc_opt = self.disc_tx.update(d_grads, state.disc_opt, state.disc_params)
        disc_params = optax.apply_updates(state.disc_params, d_updates)

        logits, d_pull_back, disc_rest = jax.vjp(
            lambda f: self._discriminate(disc_params, disc_rest, x, f), fake, has_aux=True)
        grads, gan_at_fake = self._last_layer_grads(manager, fake, y, logits, d_pull_back,
                                                    pull_back, epoch)

        def g_objective(fake, logits, rule_params):
            inputs = {name: (fake, y) for name in G_LOSSES}
            inputs["G_GAN"] = (logits, jnp.ones_like(logits))
            out, updated = manager.with_weight_params(rule_params).compute_many(
                inputs, epoch, grads)
            return out.total, (updated, out.weights["G_GAN"])

        (d_fake, d_logits, d_rules), (manager, gan_weight) = jax.grad(
            g_objective, argnums=(0, 1, 2), has_aux=True)(fake, logits, manager.weight_params())
        if gan_at_fake is not None:
            # d_logits is G_GAN's weight times the gradient of the unweighted loss: its
            # pull-back through D is that weight times the one already taken.
            d_fake = d_fake + gan_weight * gan_at_fake
        else:
            d_fake = d_fake + d_pull_back(d_logits)[0]
        (g_grads,) = pull_back(d_fake)
        g_updates, gen_opt = self.gen_tx.update(g_grads, state.gen_opt, state.gen_params)
        gen_params = optax.apply_updates(state.gen_params, g_updates)
        rule_opt = state.rule_opt
        if self.rule_learning_rate is not None:
            rule_params = manager.weight_params()
            rule_updates, rule_opt = self.rule_tx.update(d_rules, rule_opt, rule_params)
            manager = manager.with_weight_params(optax.apply_updates(rule_params, rule_updates))
        step = state.step + 1
        return TrainState(gen_params, gen_rest, disc_params, disc_rest, gen_opt, disc_opt,
                          manager, step, step // self.steps_per_epoch, rule_opt,
                          state.augment_key)

    def _steps(self, state: TrainState, batches: Batch) -> TrainState:
        """``len(batches[0])`` steps in one dispatch (``lax.scan`` over the leading axis)."""
        state, _ = jax.lax.scan(lambda s, b: (self._step(s, b), None), state, batches)
        return state

    def _generate(self, state: TrainState, x: jax.Array) -> jax.Array:
        """The generator's output in eval mode (no dropout; running statistics if BatchNorm)."""
        model = nnx.merge(self.gen_def, state.gen_params, state.gen_rest, copy=True)
        model.eval()
        return model(x)

    def _last_layer_grads(self, manager, fake, y, logits, d_pull_back, pull_back, epoch):
        """The gradients the manager's rules declare (``manager.gradients()``), at the
        generator's last layer's kernel.

        Returns:
          ``(grads, gan_at_fake)``: ``grads`` holds, under its name, the kernel gradient
          of each unweighted G loss a rule reads and, as ``'nll'``, that of the other G
          losses weighted as in this step (None when no rule reads any); ``gan_at_fake``
          is the unweighted G_GAN loss's gradient at the generator's output, if it was
          taken, else None.

        Raises:
          ValueError: a rule reads a gradient the step does not make.
        """
        keys = manager.gradients()
        unknown = sorted(set(keys) - {*G_LOSSES, "nll"})
        if unknown:
            raise ValueError(f"the manager's weight rules read the gradients {unknown}, but "
                             f"the training step makes only those of the G losses "
                             f"{list(G_LOSSES)} and 'nll' (the G losses but G_GAN).")
        at_fake = {}
        for name in keys:
            if name == "nll":
                def nll(fake):
                    inputs = {loss: (fake, y) for loss in G_LOSSES if loss != "G_GAN"}
                    return manager.evaluate(inputs, epoch).total

                at_fake[name] = jax.grad(nll)(fake)
                continue
            loss = manager.entries[manager.index(name)].function
            if name == "G_GAN":
                (at_fake[name],) = d_pull_back(
                    jax.grad(lambda l, fn=loss: fn(l, jnp.ones_like(l)))(logits))
            else:
                at_fake[name] = jax.grad(lambda f, fn=loss: fn(f, y))(fake)
        if not at_fake:
            return None, None
        return ({key: _last_layer_kernel(pull_back, value) for key, value in at_fake.items()},
                at_fake.get("G_GAN"))

    def _discriminate(self, params, rest, x, y):
        model = nnx.merge(self.disc_def, params, rest, copy=True)
        logits = model(jnp.concatenate([x, y], axis=-1))
        return logits, _rest(model)


def build_training(config: TrainConfig, *, steps_per_epoch: int, seed: int = 0,
                   capacity: int = 1024) -> tuple[Pix2PixStep, TrainState]:
    """The step functions and the initial state of a pix2pix run.

    Args:
      config: the run's config (``load_config``); with ``train.health`` the manager
        runs its GAN health checks.
      steps_per_epoch: optimizer steps in one epoch (a positive int).
      seed: seeds the models' parameters, dropout and the data augmentations.
      capacity: records the manager holds per loss between two drains.

    Returns:
      ``(step_functions, state)``; ``state.step`` and ``state.epoch`` are 0.

    Raises:
      TypeError: ``config`` is not a ``TrainConfig``.
      ValueError: ``steps_per_epoch`` or ``capacity`` is not a positive int, or
        ``train.loss.lambda_vgg`` is not 0 (the job ships no VGG19 weights).
    """
    loss = check_config(config).train.loss
    if loss.lambda_vgg != 0.0:
        raise ValueError("train.loss.lambda_vgg must be 0: the training job has no VGG19 "
                         f"weights to compute G_VGG, got {loss.lambda_vgg!r}.")
    for name, value in (("steps_per_epoch", steps_per_epoch), ("capacity", capacity)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {name}={value!r}.")
    train = config.train
    gen_lr = _schedule_spec(train.learning_rate_schedule("generator"))
    disc_lr = _schedule_spec(train.learning_rate_schedule("discriminator"))
    gen_beta1 = float(train.generator.optimizer.beta1)
    disc_beta1 = float(train.discriminator.optimizer.beta1)

    # Parameters are drawn with the 'rbg' generator, whose program XLA compiles several
    # times faster than threefry's; dropout keeps threefry, which gives the same bits
    # however the batch is sharded.
    keys = (jax.random.key(seed, impl="rbg"), jax.random.key(seed))
    models = _model_config(config)
    (gen_def, _, _), (disc_def, _, _) = nnx.eval_shape(lambda: _split_models(models, keys))
    augmentations = augmentations_from_config(config.dataloader.augmentations)
    balanced = loss.uncertainty_weighting
    step_fns = Pix2PixStep(
        gen_def, disc_def, gen_lr, disc_lr, gen_beta1, disc_beta1, steps_per_epoch,
        rule_learning_rate=None if balanced is None else balanced.learning_rate,
        augmentations=None if augmentations.empty or augmentations.on_host else augmentations)
    manager = _manager(train, capacity)
    gen_params, gen_rest, disc_params, disc_rest = _initial_models(models, keys)
    rule_opt = (() if step_fns.rule_learning_rate is None
                else step_fns.rule_tx.init(manager.weight_params()))
    state = TrainState(gen_params, gen_rest, disc_params, disc_rest,
                       *_initial_optimizers(step_fns, gen_params, disc_params), manager,
                       jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), rule_opt,
                       step_key(seed))
    return step_fns, state


def _last_layer_kernel(pull_back, at_output: jax.Array) -> jax.Array:
    """The gradient of the generator's last layer's kernel (``final_up``'s convolution:
    the transposed conv, or the 3x3 conv after the bilinear upsampling) for a gradient
    ``at_output`` at its output; the rest of the pull-back is unused and compiled away."""
    (grads,) = pull_back(at_output)
    layer = grads["final_up"]["conv"]
    while "kernel" not in layer:
        layer = layer["conv"]
    return layer["kernel"]


def _manager(train: TrainingConfig, capacity: int) -> LossManager:
    """The pix2pix 'extended' losses with the config's lambdas, weight rules and health
    checks."""
    weights = train.loss.weights()
    del weights["lambda_vgg"]  # 0: no G_VGG (``build_training``)
    manager = LossManager(capacity=capacity).with_spec(pix2pix, "extended", **weights)
    for rule, names in train.loss.rules():
        manager = manager.with_rule(rule, list(names))
    return manager if train.health is None else manager.replace(health=train.health.checks())


def _model_config(config: TrainConfig) -> str:
    """The config keys ``build_models`` reads, as JSON: a hashable key for one compiled
    init."""
    gen, disc = config.train.generator, config.train.discriminator
    return json.dumps({
        "dataloader": {"load": {"input_nc": config.dataloader.load.input_nc}},
        "train": {
            "generator": {"features": gen.features, "n_downs": gen.n_downs,
                          "block_type": gen.block_type, "upsample_type": gen.upsample_type,
                          "norm": gen.norm, "conv_impl": gen.conv_impl},
            "discriminator": {"n_layers": disc.n_layers, "base_channels": disc.base_channels,
                              "max_channels": disc.max_channels},
        },
    }, sort_keys=True)


def _split_models(config_json: str, keys: tuple[jax.Array, jax.Array]):
    """Both models of a config (as JSON) in train mode, split into (def, params, rest)."""
    rngs = nnx.Rngs(params=keys[0], dropout=keys[1])
    gen, disc = build_models(json.loads(config_json), rngs)
    gen.train()
    disc.train()
    return _split(gen), _split(disc)


def _split(model: nnx.Module) -> tuple[Any, dict, dict]:
    """``(graphdef, params, rest)`` of ``model``, the two states as plain nested dicts."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(rest)


def _rest(model: nnx.Module) -> dict:
    """The non-parameter state of ``model`` (batch statistics, RNG counts), a plain dict."""
    return nnx.to_pure_dict(nnx.split(model, nnx.Param, ...)[2])


def initial_models(config: TrainConfig, seed: int = 0) -> tuple[nnx.Module, nnx.Module]:
    """The generator and discriminator a config describes, initialised as
    ``build_training`` initialises them for ``seed`` (one compiled call per model
    config, shared with it), in train mode."""
    keys = (jax.random.key(seed, impl="rbg"), jax.random.key(seed))
    models = _model_config(config)
    (gen_def, _, _), (disc_def, _, _) = nnx.eval_shape(lambda: _split_models(models, keys))
    gen_params, gen_rest, disc_params, disc_rest = _initial_models(models, keys)
    return nnx.merge(gen_def, gen_params, gen_rest), nnx.merge(disc_def, disc_params, disc_rest)


@functools.partial(jax.jit, static_argnums=0)
def _initial_models(config_json: str, keys):
    """Parameters, batch statistics and RNG state of both models, in one compiled call
    (eager Flax initialisation compiles every layer's ops one by one)."""
    (_, gen_params, gen_rest), (_, disc_params, disc_rest) = _split_models(config_json, keys)
    return gen_params, gen_rest, disc_params, disc_rest


@functools.partial(jax.jit, static_argnums=0)
def _initial_optimizers(step_fns: Pix2PixStep, gen_params, disc_params):
    return step_fns.gen_tx.init(gen_params), step_fns.disc_tx.init(disc_params)


def _schedule_spec(schedule: Schedule) -> tuple:
    """A Schedule as hashable static data: ``(kind, start, end, initial, target, options)``."""
    return (schedule.schedule, float(schedule.start_epoch), float(schedule.end_epoch),
            float(schedule.initial_value), float(schedule.target_value), schedule.options)


def _adam(lr: tuple, steps_per_epoch: int, beta1: float) -> optax.GradientTransformation:
    kind, start, end, initial, target, options = lr
    return scheduled_optimizer(optax.adam, Schedule(kind, start, end, initial, target,
                                                    options=options),
                               steps_per_epoch=steps_per_epoch, b1=beta1)


_jitted_step = jax.jit(Pix2PixStep._step, static_argnums=0, donate_argnums=1)
_jitted_steps = jax.jit(Pix2PixStep._steps, static_argnums=0, donate_argnums=1)
_jitted_generate = jax.jit(Pix2PixStep._generate, static_argnums=0)
