"""Per-loss history recorded on the device: ``History.init`` and ``History.record``.

Each registered loss owns one row of a fixed-shape buffer of (weighted loss, weight
applied) pairs, written inside the step. The buffer never changes shape and holds no
host object: the host drains it (``reporting.drain``) before it fills. Values recorded
into a full row are dropped, but counted, so the drain reports them instead of losing
them silently.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from nectargan_jax._checks import saturating_add
from nectargan_jax._pytree import pytree_dataclass


@pytree_dataclass
class History:
    """Device-side records of ``n`` losses, packed into three leaves (a jitted step
    pays for every leaf it takes in and hands back), read through named views.

    Attributes:
      records: ``shape=(n, capacity, 2), dtype=float32``: per loss, the recorded
        weighted losses (``losses``, ``[..., 0]``) and the weights applied
        (``weights``, ``[..., 1]``).
      counts: ``shape=(n, 2), dtype=int32``: ``fill``, records made into each row since
        the last drain (more than ``capacity`` when records were dropped), and
        ``total``, records ever made per loss; both saturate at ``2**31 - 1``.
      latest: ``shape=(n, 2), dtype=float32``: ``latest_loss``, the last weighted loss
        (NaN before the first), and ``latest_weight``, the last weight applied.
      maps: one item per loss: the latest weighted per-element map (zeros before the
        first record) for a loss registered with ``keep_map``, else None.
    """

    records: jax.Array
    counts: jax.Array
    latest: jax.Array
    maps: tuple

    losses = property(lambda self: self.records[..., 0], doc="Recorded weighted losses.")
    weights = property(lambda self: self.records[..., 1], doc="Recorded weights applied.")
    fill = property(lambda self: self.counts[..., 0], doc="Records since the last drain.")
    total = property(lambda self: self.counts[..., 1], doc="Records ever made.")
    latest_loss = property(lambda self: self.latest[..., 0], doc="Last weighted loss.")
    latest_weight = property(lambda self: self.latest[..., 1], doc="Last weight applied.")

    @property
    def capacity(self) -> int:
        """Records a row holds."""
        return self.records.shape[-2]

    @classmethod
    def init(cls, capacity: int, initial_weights: Sequence[ArrayLike],
             map_shapes: Sequence[tuple[int, ...] | None]) -> History:
        """Empty records for losses whose weights start at ``initial_weights``.

        Args:
          capacity: records per loss between two drains.
          initial_weights: one scalar per loss (reported before its first record).
          map_shapes: per loss, the shape of the map to keep, or None.
        """
        n = len(map_shapes)
        weights = jnp.asarray(np.asarray(initial_weights, np.float32).reshape(n))
        return cls(
            records=jnp.zeros((n, capacity, 2), jnp.float32),
            counts=jnp.zeros((n, 2), jnp.int32),
            latest=jnp.stack([jnp.full((n,), jnp.nan, jnp.float32), weights], axis=-1),
            maps=tuple(None if s is None else jnp.zeros(s, jnp.float32) for s in map_shapes),
        )

    def emptied(self) -> History:
        """The same history with every row drained (``fill`` set to 0)."""
        return self.replace(counts=self.counts.at[..., 0].set(0))

    def record(self, rows: Sequence[int], values: jax.Array, weights: jax.Array,
               maps: dict[int, jax.Array], keep_history: bool) -> History:
        """Writes one value and weight for each row in ``rows`` (static indices).

        The counters and latest values are elementwise updates under a static mask
        (they fuse); the records take one scatter of the new (value, weight) pairs,
        in place when the manager is donated, so a step costs the same whatever the
        capacity. A full row takes no more values: they are dropped, and ``fill`` keeps
        counting them so that the drain reports the overflow. Nothing here is
        differentiated.

        Args:
          rows: the rows written, in increasing order.
          values, weights: one per row, in the order of ``rows``.
          maps: new per-element maps by row (rows kept with ``keep_map`` only).
          keep_history: False keeps only the latest values (nothing is recorded).
        """
        n = self.counts.shape[-2]
        written = np.zeros((n, 1), np.int32)
        written[list(rows)] = 1
        pairs = jax.lax.stop_gradient(
            jnp.stack([values, weights], axis=-1).astype(jnp.float32))
        latest = jnp.where(written.astype(bool), _spread(rows, n, pairs), self.latest)
        new_maps = tuple(jax.lax.stop_gradient(maps[i]).astype(jnp.float32) if i in maps
                         else old for i, old in enumerate(self.maps))
        if not keep_history:
            return self.replace(counts=saturating_add(self.counts,
                                                      written * np.array([[0, 1]], np.int32)),
                                latest=latest, maps=new_maps)
        index = np.asarray(rows)
        # A full row's slot is out of bounds: 'drop' leaves the row as it is.
        records = self.records.at[index, self.fill[index]].set(
            pairs, mode="drop", unique_indices=True, indices_are_sorted=True)
        return self.replace(
            records=records,
            counts=saturating_add(self.counts, written),
            latest=latest,
            maps=new_maps,
        )


def _spread(rows: Sequence[int], n: int, values: jax.Array) -> jax.Array:
    """``n`` rows with ``values[k]`` at row ``rows[k]`` (0 elsewhere; static rows)."""
    if list(rows) == list(range(n)):
        return values
    position = {row: k for k, row in enumerate(rows)}
    zero = jnp.zeros(values.shape[1:], values.dtype)
    return jnp.stack([values[position[i]] if i in position else zero for i in range(n)])
