"""Per-loss history recorded on the device, and the host sink that catches overflow.

Each registered loss owns one row of two fixed-shape buffers (weighted loss values and
the weights applied), written with ``.at[row, fill].set(...)`` inside the step. When a
row fills up, the step hands the full buffers to the host sink in one callback and
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
    """Device-side records of ``n`` losses (all fields are leaves).

    Attributes:
      losses: recorded weighted losses, ``shape=(n, capacity), dtype=float32``.
      weights: weights applied, ``shape=(n, capacity), dtype=float32``.
      fill: records made into each row since the last drain (more than ``capacity``
        only if records were dropped), ``shape=(n,), dtype=int32``.
      total: records ever made per loss, ``shape=(n,), dtype=int32``.
      latest_loss: last weighted loss per loss (NaN before the first),
        ``shape=(n,), dtype=float32``.
      latest_weight: last weight applied per loss, ``shape=(n,), dtype=float32``.
      maps: last weighted per-element loss map, for losses registered with
        ``keep_map=True``, keyed by name.
    """

    losses: jax.Array
    weights: jax.Array
    fill: jax.Array
    total: jax.Array
    latest_loss: jax.Array
    latest_weight: jax.Array
    maps: dict

    @classmethod
    def empty(cls, n: int, capacity: int, initial_weights: Sequence[ArrayLike]) -> History:
        """Fresh records for ``n`` losses whose weights start at ``initial_weights``."""
        weights = jnp.asarray(list(initial_weights), jnp.float32).reshape(n)
        return cls(
            losses=jnp.zeros((n, capacity), jnp.float32),
            weights=jnp.zeros((n, capacity), jnp.float32),
            fill=jnp.zeros((n,), jnp.int32),
            total=jnp.zeros((n,), jnp.int32),
            latest_loss=jnp.full((n,), jnp.nan, jnp.float32),
            latest_weight=weights,
            maps={},
        )

    def append_row(self, initial_weight: float) -> History:
        """The same records with one more (empty) row, for a newly registered loss."""
        extra = History.empty(1, self.losses.shape[-1], [initial_weight])
        joined = jax.tree.map(lambda a, b: jnp.concatenate([a, b]),
                              self.replace(maps={}), extra.replace(maps={}))
        return joined.replace(maps=dict(self.maps))

    def record(self, rows: Sequence[int], values: jax.Array, weights: jax.Array,
               keep_history: bool) -> History:
        """Writes one value and weight for each row in ``rows`` (static indices).

        Every write is elementwise (a static mask, and ``where`` against the fill
        position), so the whole record fuses into a couple of loops: XLA runs each
        scatter as a separate, slow operation. A full row takes no more values (they
        are dropped, and ``fill`` keeps counting them); ``spill_full_rows`` empties
        full rows before that can happen.
        """
        n = self.total.shape[-1]
        written = np.zeros(n, bool)
        written[list(rows)] = True
        values = _spread(rows, n, jax.lax.stop_gradient(values).astype(jnp.float32))
        weights = _spread(rows, n, jax.lax.stop_gradient(weights).astype(jnp.float32))
        updated = self.replace(
            total=self.total + written,
            latest_loss=jnp.where(written, values, self.latest_loss),
            latest_weight=jnp.where(written, weights, self.latest_weight),
        )
        if not keep_history:
            return updated
        column = jnp.arange(self.losses.shape[-1])[None, :]
        slot = written[:, None] & (column == self.fill[:, None])
        return updated.replace(
            losses=jnp.where(slot, values[..., None], self.losses),
            weights=jnp.where(slot, weights[..., None], self.weights),
            fill=self.fill + written,
        )


def _spread(rows: Sequence[int], n: int, values: jax.Array) -> jax.Array:
    """A length-``n`` vector with ``values[k]`` at ``rows[k]`` (0 elsewhere; static rows)."""
    if list(rows) == list(range(n)):
        return values
    position = {row: k for k, row in enumerate(rows)}
    zero = jnp.zeros((), values.dtype)
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
    capacity = history.losses.shape[-1]
    full = history.fill >= capacity

    def spill(h: History) -> History:
        shapes = jax.ShapeDtypeStruct(h.fill.shape[:-1], jnp.int32)
        ack = jax.pure_callback(sink.receive, shapes, h.losses, h.weights, h.fill, h.total,
                                h.fill >= capacity, vmap_method="expand_dims")
        fill = jnp.where(h.fill >= capacity, 0, h.fill) + ack[..., None]
        return h.replace(fill=fill)

    return jax.lax.cond(jnp.any(full), spill, lambda h: h, history)
