"""The pix2pix training step: one compiled update of D, then G, with recorded losses.

State is a plain pytree (``TrainState``): parameters, batch statistics and dropout RNG
state of both models (``nnx.split``), both optimizer states, the ``LossManager`` that
weights and records the G and D losses, and the step and epoch counters. Structure
(the models' graph definitions, the optimizers) lives in ``Pix2PixStep``, a frozen
object whose jitted methods take and return the state. A step makes no host transfer:
the epoch that drives the loss weights and the learning rate is device state.

The generator runs forward once per step (``jax.vjp``): its output feeds the D update
(as a constant) and the G update, whose gradient flows back through the saved vjp.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

from flax import nnx
import jax
import jax.numpy as jnp
import optax

from nectargan_jax import LossManager
from nectargan_jax.losses import pix2pix
from nectargan_jax.models import build_models
from nectargan_jax.scheduling import scheduled_optimizer
from nectargan_jax.train._config import learning_rate_schedule, loss_weights

Batch = tuple[jax.Array, jax.Array]

G_LOSSES = ("G_GAN", "G_L1", "G_L2", "G_SOBEL", "G_LAP")
D_LOSSES = ("D_real", "D_fake")


class TrainState(NamedTuple):
    """Everything a pix2pix run changes, as one pytree of arrays."""

    gen_params: nnx.State  # generator nnx.Param leaves
    gen_rest: nnx.State  # generator batch statistics and dropout RNG state
    disc_params: nnx.State  # discriminator nnx.Param leaves
    disc_rest: nnx.State  # discriminator batch statistics (and RNG state, if any)
    gen_opt: optax.OptState  # Adam state, learning rate in hyperparams
    disc_opt: optax.OptState
    manager: LossManager  # weights and records of G_* and D_* losses
    step: jax.Array  # shape=(), dtype=int32: optimizer steps taken
    epoch: jax.Array  # shape=(), dtype=int32: epoch of the next step, from 0


@dataclasses.dataclass(frozen=True, eq=False)
class Pix2PixStep:
    """The static half of training: graph definitions, optimizers, steps per epoch.

    Build it with :func:`build_training`. Its methods are jitted once per object.

    Attributes:
      gen_def, disc_def: ``nnx.GraphDef`` of the models in train mode.
      gen_tx, disc_tx: optax Adam with the scheduled learning rate.
      steps_per_epoch: optimizer steps per epoch (the learning rate steps per epoch).
    """

    gen_def: Any
    disc_def: Any
    gen_tx: optax.GradientTransformation
    disc_tx: optax.GradientTransformation
    steps_per_epoch: int

    def __post_init__(self):
        object.__setattr__(self, "step", jax.jit(self._step, donate_argnums=0))
        object.__setattr__(self, "steps", jax.jit(self._steps, donate_argnums=0))
        object.__setattr__(self, "generate", jax.jit(self._generate))

    # The functions behind the jitted attributes ``step``, ``steps`` and ``generate``.

    def _step(self, state: TrainState, batch: Batch) -> TrainState:
        """One optimizer step of D then G on ``batch = (inputs, targets)`` (NHWC)."""
        x, y = batch
        epoch = state.epoch

        def generator(params):
            model = nnx.merge(self.gen_def, params, state.gen_rest, copy=True)
            fake = model(x)
            return fake, nnx.split(model, nnx.Param, ...)[2]

        fake, pull_back, gen_rest = jax.vjp(generator, state.gen_params, has_aux=True)

        def d_objective(params, rest, manager):
            real_logits, rest = self._discriminate(params, rest, x, y)
            fake_logits, rest = self._discriminate(params, rest, x,
                                                   jax.lax.stop_gradient(fake))
            total, _, manager = manager.compute_many({
                "D_real": (real_logits, jnp.ones_like(real_logits)),
                "D_fake": (fake_logits, jnp.zeros_like(fake_logits)),
            }, epoch)
            # Isola et al. halve D's objective to slow D relative to G.
            return 0.5 * total, (rest, manager)

        d_grads, (disc_rest, manager) = jax.grad(d_objective, has_aux=True)(
            state.disc_params, state.disc_rest, state.manager)
        d_updates, disc_opt = self.disc_tx.update(d_grads, state.disc_opt, state.disc_params)
        disc_params = optax.apply_updates(state.disc_params, d_updates)

        def g_objective(fake, rest, manager):
            logits, rest = self._discriminate(disc_params, rest, x, fake)
            inputs = {name: (fake, y) for name in G_LOSSES}
            inputs["G_GAN"] = (logits, jnp.ones_like(logits))
            total, _, manager = manager.compute_many(inputs, epoch)
            return total, (rest, manager)

        d_fake, (disc_rest, manager) = jax.grad(g_objective, has_aux=True)(
            fake, disc_rest, manager)
        (g_grads,) = pull_back(d_fake)
        g_updates, gen_opt = self.gen_tx.update(g_grads, state.gen_opt, state.gen_params)
        gen_params = optax.apply_updates(state.gen_params, g_updates)
        step = state.step + 1
        return TrainState(gen_params, gen_rest, disc_params, disc_rest, gen_opt, disc_opt,
                          manager, step, step // self.steps_per_epoch)

    def _steps(self, state: TrainState, batches: Batch) -> TrainState:
        """``len(batches[0])`` steps in one dispatch (``lax.scan`` over the leading axis)."""
        state, _ = jax.lax.scan(lambda s, b: (self._step(s, b), None), state, batches)
        return state

    def _generate(self, state: TrainState, x: jax.Array) -> jax.Array:
        """The generator's output in eval mode (running statistics, no dropout)."""
        model = nnx.merge(self.gen_def, state.gen_params, state.gen_rest, copy=True)
        model.eval()
        return model(x)

    def _discriminate(self, params, rest, x, y):
        model = nnx.merge(self.disc_def, params, rest, copy=True)
        logits = model(jnp.concatenate([x, y], axis=-1))
        return logits, nnx.split(model, nnx.Param, ...)[2]


def build_training(config: dict, *, steps_per_epoch: int, seed: int = 0,
                   capacity: int = 1024) -> tuple[Pix2PixStep, TrainState]:
    """The step functions and the initial state of a pix2pix run.

    Args:
      config: a validated config (``load_config``).
      steps_per_epoch: optimizer steps in one epoch (a positive int).
      seed: seeds the models' parameters and dropout.
      capacity: records the manager holds per loss between two drains.

    Returns:
      ``(step_functions, state)``; ``state.step`` and ``state.epoch`` are 0.

    Raises:
      ValueError: ``steps_per_epoch`` or ``capacity`` is not a positive int, or
        ``train.loss.lambda_vgg`` is not 0 (the job ships no VGG19 weights).
    """
    weights = loss_weights(config)
    if weights.pop("lambda_vgg") != 0.0:
        raise ValueError("train.loss.lambda_vgg must be 0: the training job has no VGG19 "
                         f"weights to compute G_VGG, got {config['train']['loss']['lambda_vgg']!r}.")
    for name, value in (("steps_per_epoch", steps_per_epoch), ("capacity", capacity)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {name}={value!r}.")
    train = config["train"]
    disc_lr = "discriminator" if train["separate_lr_schedules"] else "generator"
    gen_tx = _adam(learning_rate_schedule(config, "generator"), steps_per_epoch,
                   train["generator"]["optimizer"]["beta1"])
    disc_tx = _adam(learning_rate_schedule(config, disc_lr), steps_per_epoch,
                    train["discriminator"]["optimizer"]["beta1"])

    def split_models(keys):
        gen, disc = build_models(config, nnx.Rngs(params=keys[0], dropout=keys[1]))
        gen.train()
        disc.train()
        return nnx.split(gen, nnx.Param, ...), nnx.split(disc, nnx.Param, ...)

    def initial_arrays(keys):
        (_, gen_params, gen_rest), (_, disc_params, disc_rest) = split_models(keys)
        return (gen_params, gen_rest, disc_params, disc_rest,
                gen_tx.init(gen_params), disc_tx.init(disc_params))

    # One compiled initialisation: eager Flax init compiles every layer's ops one by one.
    # Parameters are drawn with the 'rbg' generator, whose program XLA compiles several
    # times faster than threefry's; dropout keeps threefry, which gives the same bits
    # however the batch is sharded.
    keys = (jax.random.key(seed, impl="rbg"), jax.random.key(seed))
    (gen_def, _, _), (disc_def, _, _) = nnx.eval_shape(lambda: split_models(keys))
    manager = LossManager(capacity=capacity).with_spec(pix2pix, "extended", **weights)
    state = TrainState(*jax.jit(initial_arrays)(keys), manager,
                       jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    return Pix2PixStep(gen_def, disc_def, gen_tx, disc_tx, steps_per_epoch), state


def _adam(schedule, steps_per_epoch: int, beta1: float) -> optax.GradientTransformation:
    return scheduled_optimizer(optax.adam, schedule,
                               steps_per_epoch=steps_per_epoch, b1=float(beta1))
