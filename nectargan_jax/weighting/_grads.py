"""Gradients for the rules that read them: computing them at a layer, reading their norms.

The gradient rules (``adaptive_last_layer``, ``grad_norm_balance``, ``gradnorm``) read
``{key: gradient pytree}`` from ``compute_many(..., grads=...)``. :func:`layer_grads`
computes such a mapping: the gradient of each of several named losses with respect to
one layer's parameters, from one forward pass and one backward pass (vjp) per loss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp


def layer_grads(fn: Callable[..., Mapping[str, jax.Array]], layer: Any,
                *args: Any) -> dict[str, Any]:
    """The gradient of each loss ``fn`` returns with respect to ``layer``.

    ``fn(layer, *args)`` returns ``{name: scalar loss}``; the result is ``{name:
    d loss / d layer}``, each a pytree shaped like ``layer``. ``fn`` runs once
    (``jax.vjp``), then one backward pass per loss. The gradients are returned with
    their own gradient stopped: the rules treat them as constants (taming-transformers
    detaches its adaptive weight, GradNorm stops its targets), so differentiating the
    training loss never differentiates through them.

    Cheapest use: split the model at the layer, so that ``fn`` runs only that layer
    and the losses on the features the rest of the model computed (the backward passes
    then stop at the layer instead of running through the whole network).

    Args:
      fn: ``(layer, *args) -> {name: scalar loss}`` written with jnp.
      layer: the parameters to differentiate with respect to (any pytree of float
        arrays), e.g. the kernel of a generator's last convolution.
      *args: the other inputs of ``fn`` (not differentiated).

    Returns:
      ``{name: gradient pytree}``, ready for ``compute_many(..., grads=...)``.

    Raises:
      TypeError: ``fn`` is not callable or does not return a mapping of real scalars
        keyed by strings.
      ValueError: a returned loss is not a scalar.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import layer_grads
      >>> def losses(w, h):
      ...     out = h @ w
      ...     return {'rec': jnp.sum(out ** 2), 'gan': -jnp.sum(out)}
      >>> g = layer_grads(losses, jnp.ones((2, 1)), jnp.array([[1.0, 2.0]]))
      >>> g['rec'].ravel().tolist(), g['gan'].ravel().tolist()
      ([6.0, 12.0], [-1.0, -2.0])
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable as fn(layer, *args) -> {{name: scalar loss}}, "
                        f"got {type(fn).__name__}: {fn!r}.")
    losses, pullback = jax.vjp(lambda params: _checked(fn(params, *args)), layer)
    grads = {}
    for key in losses:
        cotangent = {name: (jnp.ones_like if name == key else jnp.zeros_like)(value)
                     for name, value in losses.items()}
        (grads[key],) = pullback(cotangent)
    return jax.lax.stop_gradient(grads)


def _checked(losses: Any) -> dict[str, jax.Array]:
    """``fn``'s losses as a plain dict, checked to be named real scalars."""
    if not isinstance(losses, Mapping) or not all(isinstance(k, str) for k in losses):
        raise TypeError("fn must return a mapping {name: scalar loss} keyed by strings, got "
                        f"{type(losses).__name__}: {losses!r}.")
    for name, value in losses.items():
        if not hasattr(value, "dtype") or not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"fn's loss {name!r} must be a real floating scalar, got "
                            f"{type(value).__name__}: {value!r}.")
        if value.shape != ():
            raise ValueError(f"fn's loss {name!r} must be a scalar, got shape {value.shape} "
                             "(reduce it, e.g. with jnp.mean).")
    return dict(losses)


def global_norm(tree: Any) -> jax.Array:
    """The L2 norm of all the leaves of ``tree`` together (float32, gradient stopped)."""
    leaves = jax.tree.leaves(jax.lax.stop_gradient(tree))
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in leaves))


def grad_norm(grads: Mapping[str, Any], key: str, rule: str) -> jax.Array:
    """``global_norm(grads[key])``.

    Raises:
      KeyError: ``key`` is not in ``grads`` (the message names the rule, the key and the
        keys given).
      ValueError: ``grads[key]`` holds no array.
    """
    if key not in grads:
        raise KeyError(f"{rule} reads the gradient grads[{key!r}], but compute_many got "
                       f"grads with keys {sorted(grads)}; pass grads={{{key!r}: ...}} (e.g. "
                       "from layer_grads).")
    if not jax.tree.leaves(grads[key]):
        raise ValueError(f"{rule}: grads[{key!r}] holds no array, got {grads[key]!r}.")
    return global_norm(grads[key])


def grad_norms(grads: Mapping[str, Any], keys: tuple[str, ...], rule: str) -> jax.Array:
    """``shape=(len(keys),)``: the norm of each ``grads[key]`` (see :func:`grad_norm`)."""
    return jnp.stack([grad_norm(grads, key, rule) for key in keys])
