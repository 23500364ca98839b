"""Moving recorded losses from the manager into the loss log, exactly once each.

Every step records each loss once, so record ``i`` of every loss belongs to step ``i``.
The log may hold records the restored state does not know about: a run flushes the log
before it saves a checkpoint, and between checkpoints when the manager's buffer fills,
so a run killed after such a flush resumes from a state older than its log. The records
it computes again are the same numbers (training is deterministic); ``LogWriter``, the
sink the manager flushes into, skips the ones the log already holds, so no value is
lost or written twice. It knows the log only as a sink: ``append(records)`` and
``count()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nectargan_jax.manager import Sink


def logged_records(log: Any) -> int:
    """Records per loss in ``log`` (0 for a new log), from its ``count()``.

    Raises:
      ValueError: the losses hold different numbers of records (not a log this job
        wrote: each flush appends one record per loss and step).
    """
    counts = log.count()
    if len(set(counts.values())) > 1:
        raise ValueError(f"the loss log {log!r} holds different numbers of records per "
                         f"loss ({sorted(set(counts.values()))}); it was not written by "
                         "this training job.")
    return next(iter(counts.values()), 0)


class LogWriter:
    """A sink wrapping the experiment's log: appends the records of the steps the log
    does not hold yet, then hands every record to ``sinks`` (TensorBoard, Visdom, the
    epoch's metrics) as ``sink.write_records(first_step, records)``.

    Args:
      log: the experiment's loss log (a sink with ``append`` and ``count``); None drains
        the manager without writing (the processes other than 0 of a multi-process run,
        whose process 0 writes it).
      first_step: the step of the first record the manager holds (the restored step).
      sinks: more destinations of the records.

    Raises:
      ValueError: the log holds fewer records than ``first_step`` (records were lost
        outside this job) or is inconsistent (see ``logged_records``).
    """

    def __init__(self, log: Sink | None, first_step: int, sinks: Sequence[Any] = ()):
        self.log, self.sinks = log, tuple(sinks)
        self.logged = first_step if log is None else logged_records(log)
        self.next_step = first_step
        self.replayed = False
        if self.logged < first_step:
            raise ValueError(
                f"the loss log {log!r} holds {self.logged} records per loss but the "
                f"checkpoint was saved after step {first_step}: records are missing.")

    def append(self, records: Mapping[str, Any]) -> None:
        """Appends the records of steps the log does not hold yet (``manager.flush``
        calls it with what it drained).

        Afterwards ``replayed`` says whether the log held every record of this append
        already (steps recomputed after a resume): what else the run reports about those
        steps (GAN health events) was reported by the run that logged them.

        If the log's append raises, nothing is counted as written and the manager that
        was flushed still holds every record (a drain is a pure read), so a retry
        writes them all.
        """
        count = len(next(iter(records.values()))[0]) if records else 0
        skip = min(count, self.logged - self.next_step)
        if count > skip and self.log is not None:
            self.log.append({name: (losses[skip:], weights[skip:])
                             for name, (losses, weights) in records.items()})
        self.replayed = count > 0 and skip == count
        first = self.next_step
        self.next_step += count
        self.logged = max(self.logged, self.next_step)
        for sink in self.sinks:
            sink.write_records(first, records)
