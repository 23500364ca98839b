"""Several training processes on JAX's multi-controller runtime (``jax.distributed``).

Every process runs the same ``train`` call; together they see the devices of all of
them. The command joins the runtime before any JAX work, from its flags
(``--coordinator HOST:PORT --num-processes N --process-id I``) or, with none of them,
from a cluster environment JAX detects (a SLURM step or an Open MPI job of several
tasks, a TPU pod's hosts): ``launch_from`` decides which, from the flags and the
environment alone. ``start`` joins: gloo collectives for CPU devices, and a watch that
ends this process with a line naming a peer that stopped (killed, crashed, or failed
with an error of its own), within the heartbeat timeout, instead of waiting in a
collective that will never complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import contextlib
import dataclasses
import os
import socket
import sys
import threading
import time
import zlib

import jax
import numpy as np

DEFAULT_INIT_TIMEOUT = 300
DEFAULT_HEARTBEAT_TIMEOUT = 100
# Seconds between two looks at which peers are alive.
_WATCH_INTERVAL = 0.5
# Exit status of a process whose peer stopped.
LOST_PEER_STATUS = 3
# Where the processes' watches keep their signs of life in the coordination service.
_KEYS = "nectargan_jax/watch/"
# The runtime's own heartbeat timeout (seconds; more if --heartbeat-timeout is longer):
# a backstop only. The watch reports a lost peer first, in words, and unlike the
# runtime it does not take a pause of the whole run (processes stopped by a job
# scheduler and continued) for a loss.
_RUNTIME_HEARTBEAT = 3600


@dataclasses.dataclass(frozen=True)
class Launch:
    """How this process joins a multi-process run.

    Attributes:
      coordinator: ``HOST:PORT`` of process 0's coordination service; None = the
        cluster environment's (``cluster``).
      num_processes: processes in the run (None: the cluster's).
      process_id: this process's index (None: the cluster's).
      cluster: the cluster environment detected (``'slurm'``, ``'openmpi'``,
        ``'tpu'``), or None when the flags say everything.
    """

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    cluster: str | None = None


def detect_cluster(environ: Mapping[str, str]) -> str | None:
    """The multi-process cluster environment ``environ`` describes, or None.

    A SLURM step of several tasks (``srun``: ``SLURM_NTASKS`` > 1 with the variables
    JAX reads), an Open MPI job of several ranks (``mpirun``), or a TPU pod slice of
    several hosts (``TPU_WORKER_HOSTNAMES`` lists more than one). One task, or a shell
    inside an allocation (``salloc`` without ``srun``), is a single process.
    """
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
             "SLURM_LOCALID")
    if all(key in environ for key in slurm) and _count(environ["SLURM_NTASKS"]) > 1:
        return "slurm"
    if "OMPI_MCA_orte_hnp_uri" in environ and \
            _count(environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return "openmpi"
    if len([h for h in environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1:
        return "tpu"
    return None


def _count(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def launch_from(coordinator: str | None, num_processes: int | None, process_id: int | None,
                environ: Mapping[str, str]) -> Launch | None:
    """The multi-process launch the command's flags and ``environ`` ask for (None: one
    process). A pure function: nothing is started.

    Raises:
      ValueError: the flags are incomplete (each of ``--coordinator``,
        ``--num-processes``, ``--process-id`` needs the others), ``--num-processes`` is
        below 1, ``--process-id`` out of range, or ``--coordinator`` not ``HOST:PORT``.
    """
    given = {"--coordinator": coordinator, "--num-processes": num_processes,
             "--process-id": process_id}
    if all(value is None for value in given.values()):
        cluster = detect_cluster(environ)
        return None if cluster is None else Launch(cluster=cluster)
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        named = ", ".join(f"{flag}={value}" for flag, value in given.items()
                          if value is not None)
        raise ValueError(f"{named} also needs {' and '.join(missing)}: a multi-process run "
                         "takes --coordinator HOST:PORT (process 0's address), "
                         "--num-processes N and --process-id I (0 to N-1) in every process.")
    if num_processes < 1:
        raise ValueError(f"--num-processes must be >= 1, got --num-processes={num_processes}.")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"--process-id={process_id} is out of range for --num-processes="
                         f"{num_processes}: give 0 to {num_processes - 1}.")
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--coordinator must be HOST:PORT (e.g. 10.0.0.1:1234, a port "
                         f"from 1 to 65535), got --coordinator={coordinator!r}.")
    return Launch(coordinator, num_processes, process_id)


@contextlib.contextmanager
def joined(launch: Launch | None, *, init_timeout: int = DEFAULT_INIT_TIMEOUT,
           heartbeat_timeout: int = DEFAULT_HEARTBEAT_TIMEOUT) -> Iterator[None]:
    """Joins the runtime as ``launch`` says (nothing for None) for the ``with`` block.

    CPU devices exchange data through gloo. A peer that stops makes this process print
    ``lost process <k> ...`` and exit with status ``LOST_PEER_STATUS``: at once when
    the peer left with an error (this block's exception is announced to the others),
    after ``heartbeat_timeout`` seconds without a sign of life when it was killed. A
    block that ends normally waits at a barrier for the others first.

    Raises:
      ConnectionError: the coordinator did not answer, or not every process joined,
        within ``init_timeout`` seconds.
    """
    if launch is None:
        yield
        return
    started = time.monotonic()
    if launch.coordinator is not None and launch.process_id != 0:
        _wait_for_coordinator(launch.coordinator, init_timeout)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    # A peer that stops is then not fatal to the runtime (which would abort this
    # process from one of its threads): the watch reports it and exits.
    jax.config.update("jax_enable_recoverability", True)
    try:
        left = max(1, round(init_timeout - (time.monotonic() - started)))
        jax.distributed.initialize(launch.coordinator, launch.num_processes,
                                   launch.process_id, initialization_timeout=left,
                                   heartbeat_timeout_seconds=max(_RUNTIME_HEARTBEAT,
                                                                 2 * heartbeat_timeout))
    except jax.errors.JaxRuntimeError as error:
        where = (f"--coordinator {launch.coordinator}" if launch.coordinator
                 else f"the {launch.cluster} cluster's coordinator")
        raise ConnectionError(
            f"{where}: the run did not start within --init-timeout {init_timeout} s (the "
            "coordinator is unreachable, or not every process of --num-processes "
            f"{launch.num_processes} joined): {str(error).splitlines()[0]}") from None
    watch = _PeerWatch(heartbeat_timeout)
    watch.start()
    try:
        yield
    except BaseException as error:
        watch.leave(f"{type(error).__name__}: {error}".splitlines()[0])
        raise
    else:
        # The watch still runs here: a peer lost before it arrives is reported.
        _client().wait_at_barrier("nectargan_jax/done", 1000 * max(_RUNTIME_HEARTBEAT,
                                                                   2 * heartbeat_timeout))
        watch.stop()
        _leave_in_order()
    finally:
        watch.stop()


def _leave_in_order() -> None:
    """Disconnects the other processes first, process 0 (which hosts the coordination
    service) last: a process still connected when the service goes away is aborted by
    the runtime."""
    me, everyone = jax.process_index(), list(range(jax.process_count()))
    if me != 0:
        jax.distributed.shutdown()
        return
    # Acts as a barrier of the live processes: returns once the others have left.
    while set(_client().get_live_nodes(everyone)) != {0}:
        time.sleep(_WATCH_INTERVAL)


def _wait_for_coordinator(coordinator: str, timeout: float) -> None:
    """Waits until ``coordinator`` accepts connections (the runtime would abort this
    process, not raise, when it cannot reach it).

    Raises:
      ConnectionError: it did not within ``timeout`` seconds.
    """
    host, _, port = coordinator.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
                return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"--coordinator {coordinator}: no coordinator answered within "
                    f"--init-timeout {timeout:g} s ({error}); start process 0 there, or "
                    "give its address.") from None
            time.sleep(0.25)


def _client():
    from jax._src import distributed  # the runtime's client has no public accessor

    return distributed.global_state.client


class _PeerWatch(threading.Thread):
    """Ends this process when a peer stops (see ``joined``).

    Each process's watch bumps a counter under ``_KEYS`` in the coordination service's
    key-value store every ``_WATCH_INTERVAL`` seconds and reads the others': a peer
    whose counter stands still for ``timeout`` seconds was lost (killed, or its host
    gone); one that left with an error said so under ``left/``. With the runtime's
    recoverability on, these are not fatal to the runtime itself, so this process can
    report them in its own words.
    """

    def __init__(self, timeout: int):
        super().__init__(name="nectargan-peer-watch", daemon=True)
        self._stopped = threading.Event()
        self._timeout = timeout
        self._me, self._count = jax.process_index(), jax.process_count()

    def run(self) -> None:
        client = _client()
        beat, seen, last = 0, {}, time.monotonic()
        while not self._stopped.wait(_WATCH_INTERVAL):
            beat += 1
            now = time.monotonic()
            # Time this thread did not run (its process starved of CPU) is not held
            # against the peers: their counters may have moved unseen.
            unseen = max(0.0, now - last - 4 * _WATCH_INTERVAL)
            seen = {peer: (value, since + unseen) for peer, (value, since) in seen.items()}
            last = now
            try:
                client.key_value_set(f"{_KEYS}beat/{self._me}", str(beat), allow_overwrite=True)
                entries = dict(client.key_value_dir_get(_KEYS))
            except Exception as error:  # the coordination service (process 0) is gone
                if not self._stopped.is_set():
                    self._lost(0, f"the coordinator stopped answering: "
                                  f"{str(error).splitlines()[0]}")
                return
            for peer in range(self._count):
                if peer == self._me:
                    continue
                left = entries.get(f"{_KEYS}left/{peer}")
                if left is not None:
                    self._lost(peer, f"it stopped with {left}")
                value = entries.get(f"{_KEYS}beat/{peer}")
                if peer not in seen or seen[peer][0] != value:
                    seen[peer] = (value, now)
                elif now - seen[peer][1] > self._timeout:
                    self._lost(peer, f"no sign of life for {self._timeout} s: killed, or its "
                                     "host is gone")

    def _lost(self, peer: int, why: str) -> None:
        if self._stopped.is_set():
            return
        print(f"nectargan-jax train: error: process {self._me} lost process {peer} of "
              f"{self._count} ({why}); stopping too. Start every process again with "
              "--resume to continue from the newest checkpoint.", file=sys.stderr, flush=True)
        os._exit(LOST_PEER_STATUS)

    def leave(self, reason: str) -> None:
        """Tells the other processes that this one stops (with ``reason``)."""
        self.stop()
        try:
            _client().key_value_set(f"{_KEYS}left/{self._me}", reason, allow_overwrite=True)
        except Exception:  # the coordinator is gone too: the peers notice by themselves
            pass

    def stop(self) -> None:
        self._stopped.set()


def check_batch_split(batch_size: int, devices: int, processes: int) -> None:
    """Checks that the global batch splits evenly over ``processes`` x ``devices``.

    Raises:
      ValueError: it does not (the message names ``dataloader.batch_size``).
    """
    total = devices * processes
    if batch_size % total == 0:
        return
    over = (f"devices={devices}" if processes == 1 else
            f"the {total} devices of all processes ({processes} processes x devices="
            f"{devices})")
    raise ValueError(f"dataloader.batch_size={batch_size} must be a multiple of {over} "
                     "(each device takes an equal share).")


def check_agreement(values: Mapping[str, int | str]) -> None:
    """Checks that every process of the run holds the same ``values`` (also a barrier:
    it returns once all processes have called it).

    Raises:
      ValueError: a value differs between processes (the message names it, and for a
        number the value of each process).
    """
    from jax.experimental import multihost_utils

    # int32 (JAX's default integers): strings by their CRC, numbers modulo 2**31.
    numbers = [(v if isinstance(v, int) else zlib.crc32(v.encode())) % 2**31
               for v in values.values()]
    every = np.asarray(multihost_utils.process_allgather(np.asarray(numbers, np.int32)))
    for column, (name, value) in enumerate(values.items()):
        seen = every[:, column]
        if (seen != seen[0]).any():
            which = (", ".join(f"process {k}: {int(v)}" for k, v in enumerate(seen))
                     if isinstance(value, int) else f"this process's: {value}")
            raise ValueError(f"the processes of the run differ in {name} ({which}); start "
                             "every process with the same config and flags.")


def process_local(tree):
    """A replicated pytree of global arrays as this process's copy on its first device,
    for work process 0 does alone (example images) with no other process taking part."""
    return jax.tree.map(lambda a: a.addressable_data(0), tree)


def replicate(tree, sharding: jax.sharding.Sharding):
    """``tree`` (this process's arrays, the same in every process) as global arrays
    replicated over ``sharding``'s devices, which may span processes (where
    ``jax.device_put`` only reaches this process's own)."""
    devices = sorted(sharding.addressable_devices, key=lambda d: d.id)
    return jax.tree.map(lambda a: jax.make_array_from_single_device_arrays(
        a.shape, sharding, [jax.device_put(a, d) for d in devices]), tree)


def wait_for_all(name: str) -> None:
    """Waits until every process of a multi-process run has called ``wait_for_all(name)``
    (returns at once in a single process).

    A barrier of the coordination service, which waits as long as it must (a watch
    still reports a lost peer), where gloo gives up after 30 s: called before the
    processes' first collective and where process 0 alone works a while (example
    images, graphs), so that slow work there is no failure.
    """
    if jax.process_count() > 1:
        _client().wait_at_barrier(f"nectargan_jax/{name}", 1000 * _RUNTIME_HEARTBEAT)
