"""A weight rule bound to the losses it weighs: what the objective holds per rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nectargan_jax._pytree import owned, pytree_dataclass, static_field
from nectargan_jax.weighting import Rule, as_rule


@pytree_dataclass
class BoundRule:
    """A rule bound to the losses it weighs (the names are static).

    Attributes:
      names: the weighed losses, in the order of the rule's vectors.
      rule: the rule, its state shaped for ``len(names)``.
    """

    names: tuple[str, ...] = static_field()
    rule: Rule = None

    @classmethod
    def build(cls, rule: Any, names: Sequence[str]) -> BoundRule:
        """Validates ``names`` and binds ``rule`` (a rule, schedule or number) to them; the
        bound rule owns its buffers (donating the manager never deletes a caller's)."""
        if isinstance(names, str) or not isinstance(names, (tuple, list)) or not names \
                or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a non-empty sequence of loss names, got {names!r}.")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {list(names)!r}.")
        names = tuple(names)
        return owned(cls(names, as_rule(rule).bind(names)))
