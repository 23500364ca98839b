"""Moving recorded losses from the manager into the loss log, exactly once each.

Every step records each loss once, so record ``i`` of every loss belongs to step ``i``.
The log may hold records the restored state does not know about: a run flushes the log
before it saves a checkpoint, and between checkpoints when the manager's buffer fills,
so a run killed after such a flush resumes from a state older than its log. The records
it computes again are the same numbers (training is deterministic); ``LogWriter`` skips
the ones the log already holds, so no value is lost or written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nectargan_jax import LossLog, LossManager


def logged_records(log: LossLog) -> int:
    """Records per loss in ``log`` (0 for a new log).

    Raises:
      ValueError: the losses hold different numbers of records (not a log this job
        wrote: each flush appends one record per loss and step).
    """
    if not log.path.exists():
        return 0
    functions = log.read()["LOSSMANAGER_LOG"]["loss_functions"]
    counts = {len(entry["loss"]) for entry in functions.values()}
    if len(counts) > 1:
        raise ValueError(f"the loss log {str(log.path)!r} holds different numbers of "
                         f"records per loss ({sorted(counts)}); it was not written by "
                         "this training job.")
    return counts.pop() if counts else 0


class LogWriter:
    """Flushes a manager into ``log``, skipping the records the log already holds.

    Each flush also hands every drained record to ``sinks`` (TensorBoard, Visdom, the
    epoch's metrics) as ``sink.write_records(first_step, records)``, after the log.

    Args:
      log: the experiment's loss log; None drains the manager without writing (the
        processes other than 0 of a multi-process run, whose process 0 writes it).
      first_step: the step of the first record the manager holds (the restored step).
      sinks: more destinations of the records.

    Raises:
      ValueError: the log holds fewer records than ``first_step`` (records were lost
        outside this job) or is inconsistent (see ``logged_records``).
    """

    def __init__(self, log: LossLog | None, first_step: int, sinks: Sequence[Any] = ()):
        self.log, self.sinks = log, tuple(sinks)
        self.logged = first_step if log is None else logged_records(log)
        self.next_step = first_step
        self.replayed = False
        if self.logged < first_step:
            raise ValueError(
                f"the loss log {str(log.path)!r} holds {self.logged} records per loss but "
                f"the checkpoint was saved after step {first_step}: records are missing.")

    def flush(self, manager: LossManager) -> LossManager:
        """Appends the manager's new records to the log and returns the emptied manager.

        Afterwards ``replayed`` says whether the log held every record of this flush
        already (steps recomputed after a resume): what else the run reports about those
        steps (GAN health events) was reported by the run that logged them.

        If the append raises, nothing is counted as written and the manager passed in
        still holds every record (a drain is a pure read), so a retry writes them all.
        """
        records, emptied = manager.drain()
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
        return emptied
