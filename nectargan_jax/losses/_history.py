"""Per-loss history recorded on the device, and the host sink that catches overflow.

Each registered loss owns one row of a fixed-shape buffer of (weighted loss, weight
applied) pairs, written with ``.at[row, fill].set(...)`` inside the step. When a row
fills up, the step hands the full buffer to the host sink in one callback and
starts the row over: a ``lax.cond`` makes that happen once per ``capacity`` records,
never per step. ``drain`` returns the sink's chunks followed by what is still on the
device, in order, so no value is ever lost however many steps run between two drains
(also inside one ``lax.scan``).
"""

from __future__ import annotations

from collections.abc import Sequence
import threading

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

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
        the last drain (more than ``capacity`` only if records were dropped), and
        ``total``, records ever made per loss.
      latest: ``shape=(n, 2), dtype=float32``: ``latest_loss``, the last weighted loss
        (NaN before the first), and ``latest_weight``, the last weight applied.
      maps: last weighted per-element loss map, for losses registered with
        ``keep_map=True``, keyed by name.
    """

    records: jax.Array
    counts: jax.Array
    latest: jax.Array
    maps: dict

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
    def empty(cls, n: int, capacity: int, initial_weights: Sequence[ArrayLike]) -> History:
        """Fresh records for ``n`` losses whose weights start at ``initial_weights``."""
        weights = jnp.asarray(list(initial_weights), jnp.float32).reshape(n)
        return cls(
            records=jnp.zeros((n, capacity, 2), jnp.float32),
            counts=jnp.zeros((n, 2), jnp.int32),
            latest=jnp.stack([jnp.full((n,), jnp.nan, jnp.float32), weights], axis=-1),
            maps={},
        )

    def append_row(self, initial_weight: float) -> History:
        """The same records with one more (empty) row, for a newly registered loss."""
        extra = History.empty(1, self.capacity, [initial_weight])
        joined = jax.tree.map(lambda a, b: jnp.concatenate([a, b]),
                              self.replace(maps={}), extra.replace(maps={}))
        return joined.replace(maps=dict(self.maps))

    def with_fill(self, fill: jax.Array) -> History:
        """The same records with ``fill`` replaced (e.g. emptied by a drain)."""
        return self.replace(counts=self.counts.at[..., 0].set(fill))

    def record(self, rows: Sequence[int], values: jax.Array, weights: jax.Array,
               keep_history: bool) -> History:
        """Writes one value and weight for each row in ``rows`` (static indices).

        The counters and latest values are elementwise updates under a static mask
        (they fuse); the records take one scatter of the new (value, weight) pairs,
        in place when the manager is donated, so a step costs the same whatever the
        capacity. A full row takes no more values (they are dropped, and ``fill`` keeps
        counting them); ``spill_full_rows`` empties full rows before that can happen.
        """
        n = self.counts.shape[-2]
        written = np.zeros((n, 1), bool)
        written[list(rows)] = True
        pairs = jnp.stack([jax.lax.stop_gradient(values), jax.lax.stop_gradient(weights)],
                          axis=-1).astype(jnp.float32)
        latest = jnp.where(written, _spread(rows, n, pairs), self.latest)
        if not keep_history:
            return self.replace(counts=self.counts + written * np.array([[0, 1]]),
                                latest=latest)
        index = jnp.asarray(rows, jnp.int32)
        return self.replace(
            records=self.records.at[index, self.fill[index]].set(pairs, mode="drop"),
            counts=self.counts + written,
            latest=latest,
        )


def _spread(rows: Sequence[int], n: int, values: jax.Array) -> jax.Array:
    """``n`` rows with ``values[k]`` at row ``rows[k]`` (0 elsewhere; static rows)."""
    if list(rows) == list(range(n)):
        return values
    position = {row: k for k, row in enumerate(rows)}
    zero = jnp.zeros(values.shape[1:], values.dtype)
    return jnp.stack([values[position[i]] if i in position else zero for i in range(n)])


class HistorySink:
    """Host-side store for rows spilled from the device when they fill up.

    Chunks are keyed by (batch index, row, first record number), so a replayed step
    overwrites its own chunk instead of duplicating it, and order never depends on
    callback order. One sink belongs to one manager lineage (it is static aux data,
    hashed by identity).
    """

    def __init__(self):
        self._chunks: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def receive(self, losses, weights, fill, total, full) -> np.ndarray:
        """Callback target: stores every full row (any leading batch axes)."""
        losses, weights = np.asarray(losses), np.asarray(weights)
        fill, total, full = np.asarray(fill), np.asarray(total), np.asarray(full)
        with self._lock:
            for index in np.ndindex(full.shape):
                if full[index]:
                    n = int(fill[index])
                    start = int(total[index]) - n
                    key = (index[:-1], index[-1], start)
                    self._chunks[key] = (losses[index][:n].copy(), weights[index][:n].copy())
        return np.zeros(fill.shape[:-1], np.int32)

    def take(self, batch_index: tuple, row: int, before: int) -> list[tuple[int, np.ndarray,
                                                                            np.ndarray]]:
        """Removes and returns the chunks of ``row`` that start before record ``before``."""
        with self._lock:
            keys = sorted(k for k in self._chunks
                          if k[0] == batch_index and k[1] == row and k[2] < before)
            return [(k[2], *self._chunks.pop(k)) for k in keys]

    def __len__(self) -> int:
        return len(self._chunks)


def spill_full_rows(history: History, sink: HistorySink) -> History:
    """Sends rows that reached capacity to ``sink`` and empties them (inside the step).

    The callback runs only on the steps where some row is full.
    """
    capacity = history.capacity

    def spill(h: History) -> History:
        full = h.fill >= capacity
        shapes = jax.ShapeDtypeStruct(h.fill.shape[:-1], jnp.int32)
        ack = jax.pure_callback(sink.receive, shapes, h.losses, h.weights, h.fill, h.total,
                                full, vmap_method="expand_dims")
        return h.with_fill(jnp.where(full, 0, h.fill) + ack[..., None])

    return jax.lax.cond(jnp.any(history.fill >= capacity), spill, lambda h: h, history)
