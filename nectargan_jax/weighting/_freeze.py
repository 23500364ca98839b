"""Freezing a rule: recorded weights replayed as a schedule of the step."""

from __future__ import annotations

from collections.abc import Sequence

from jax.typing import ArrayLike
import numpy as np

from nectargan_jax._checks import increasing_knots
from nectargan_jax.scheduling import PiecewiseLinear
from nectargan_jax.weighting._rule import OfStep


def freeze(weights: Sequence[float] | ArrayLike,
           steps: Sequence[float] | ArrayLike | None = None) -> OfStep:
    """A rule that replays recorded weights, so a rerun reproduces them without the rule.

    The weights are a piecewise-linear schedule of the step (``OfStep``): at step
    ``steps[i]`` the weight is exactly ``weights[i]``, linear between recorded steps,
    constant before the first and after the last. A recorded weight is the whole weight
    applied to the loss (its schedule times its rules), so register the frozen rule as
    the loss's whole weight.

    Args:
      weights: the recorded weights of one loss, in record order: ``drain()``'s
        ``records[name][1]``, or a ``LossLog``'s ``records()[name][1]``.
      steps: the step of each weight (strictly increasing); None for one record per
        step from step 0 (what the manager records).

    Returns:
      A rule for ``LossManager.register(..., weight=...)``.

    Raises:
      ValueError: no weights, lengths that differ, steps not strictly increasing, or
        non-finite numbers.
      TypeError: non-numbers (bools included).

    Examples:
      >>> import jax.numpy as jnp
      >>> from nectargan_jax import LossManager
      >>> lm = LossManager().register('G_GAN', lambda x, y: jnp.mean(x),
      ...                             weight=freeze([0.0, 0.5, 0.25]))
      >>> for step in range(4):
      ...     _, lm = lm.compute('G_GAN', jnp.ones(2), jnp.ones(2))
      >>> lm.drain()[0]['G_GAN'][1].tolist()
      [0.0, 0.5, 0.25, 0.25]
    """
    if steps is None:
        steps = np.arange(len(weights) if isinstance(weights, (list, tuple))
                          else np.size(weights), dtype=float)
    return OfStep(PiecewiseLinear(*increasing_knots(steps, weights, "freeze",
                                                    ("steps", "weights"))))
