"""The adaptive GAN weight of VQGAN (taming-transformers): a ratio of gradient norms."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nectargan_jax._pytree import static_field
from nectargan_jax._checks import positive_leaf
from nectargan_jax.weighting._grads import grad_norm
from nectargan_jax.weighting._rule import Applied, Context, Rule, applied


class AdaptiveLastLayer(Rule):
    """``clip(||grads[reference]|| / (||grads[<loss>]|| + eps), 0, maximum)``, gradient
    stopped. Build it with :func:`adaptive_last_layer`.

    Attributes:
      eps: added to the loss's own gradient norm (a leaf).
      maximum: the upper clamp (a leaf).
      reference: the key of the reference gradient in ``grads`` (static).
    """

    eps: jax.Array
    maximum: jax.Array
    reference: str = static_field()

    def bind(self, names: tuple[str, ...]) -> AdaptiveLastLayer:
        if len(names) != 1:
            raise ValueError(f"adaptive_last_layer weighs one loss (register(..., weight="
                             f"adaptive_last_layer(...))), got {len(names)} losses: "
                             f"{list(names)}.")
        if names[0] == self.reference:
            raise ValueError(f"adaptive_last_layer(reference={self.reference!r}) is bound to "
                             f"the loss {names[0]!r} itself: the reference must be another "
                             "gradient (e.g. the reconstruction loss's).")
        return self

    def gradients(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The reference gradient and the loss's own (``grads[name]``)."""
        return (self.reference, names[0])

    def __call__(self, ctx: Context) -> Applied:
        rule = "adaptive_last_layer"
        own = grad_norm(ctx.grads, ctx.names[0], rule)
        ratio = grad_norm(ctx.grads, self.reference, rule) / (own + self.eps)
        weight = jax.lax.stop_gradient(jnp.clip(ratio, 0.0, self.maximum))
        return applied(weight, self, 1, clamped=(ratio <= 0) | (ratio >= self.maximum))


def adaptive_last_layer(reference: str = "reference", *, eps: float = 1e-4,
                        maximum: float = 1e4) -> AdaptiveLastLayer:
    """The adaptive weight of a GAN loss (Esser, Rombach, Ommer 2021, "Taming
    Transformers for High-Resolution Image Synthesis", eq. 7).

    Bound to one loss (``register(name, fn, weight=adaptive_last_layer(...))``), its
    weight is::

        w = clip(||grads[reference]|| / (||grads[name]|| + eps), 0, maximum)

    with the gradients of the reference (reconstruction) loss and of this loss taken at
    the generator's last layer, and ``||.||`` the L2 norm over all of a pytree's leaves.
    The weight carries no gradient (taming's ``.detach()``), and is reported clamped
    when it reaches 0 or ``maximum``. The defaults are taming-transformers'
    ``VQLPIPSWithDiscriminator.calculate_adaptive_weight`` (``1e-4``, clamp to
    ``[0, 1e4]``; the paper writes ``delta = 1e-6`` and no clamp). Its full recipe, ``d_weight * discriminator_weight *
    adopt_weight(disc_factor, global_step, threshold=disc_start)``, is::

        gate(disc_start) * adaptive_last_layer('nll') * discriminator_weight

    where the step is the manager's count of calls with this loss (from 0).

    Pass the two gradients to every call: ``compute_many(..., grads={'nll': g_nll,
    name: g_gan})``, e.g. ``grads=layer_grads(fn, last_layer, ...)``.

    Args:
      reference: the key of the reference gradient in ``grads``; any key other than
        the loss's own name (it need not be a registered loss: taming's NLL is a sum of
        several).
      eps: added to this loss's gradient norm, > 0.
      maximum: the upper clamp, > 0.

    Raises:
      TypeError: ``reference`` is not a string; ``eps`` or ``maximum`` is not a real
        number.
      ValueError: an empty ``reference``; ``eps <= 0`` or ``maximum <= 0``; at binding,
        not exactly one loss, or the loss's own name as the reference.
      KeyError: at a call, a gradient missing from ``grads``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax.weighting import Context, adaptive_last_layer
      >>> rule = adaptive_last_layer('nll').bind(('gan',))
      >>> grads = {'nll': jnp.array([3.0, 4.0]), 'gan': jnp.array([0.5])}
      >>> out = rule(Context(0, jnp.int32(0), jnp.ones(1), grads, ('gan',)))
      >>> round(float(out.weight[0]), 3)
      9.998
    """
    if not isinstance(reference, str):
        raise TypeError(f"reference must be a string (a key of grads), got "
                        f"{type(reference).__name__}: {reference!r}.")
    if not reference:
        raise ValueError("reference must be a non-empty string (a key of grads), got ''.")
    return AdaptiveLastLayer(positive_leaf("eps", eps), positive_leaf("maximum", maximum),
                             reference)

