"""``train``: a pix2pix run from a config into an experiment folder, resumable exactly.

Order of work, chosen so that bad input changes nothing and a crash loses nothing:

1. Check everything (arguments, data, the experiment folder, the checkpoint's config,
   the loss log) and build the initial state. Nothing is written yet.
2. Create the folder, write the config used and the log's header.
3. Compile the training step (one line says so; with ``compile_cache`` a second start
   loads its executable from disk, ``_step_cache``).
4. Per epoch: dispatch one step at a time through the compiled ``Pix2PixStep.step`` (or
   ``steps_per_dispatch`` steps through the scanned ``Pix2PixStep.steps``), batches
   prefetched to the device, flushing the manager's records into the log (and
   TensorBoard, Visdom: see ``_writers``) before its buffer fills; at the epoch's end
   flush, call ``on_epoch_end``, write the example image of random validation pairs
   and the loss graphs (every
   ``save.example_save_rate`` epochs), then save the checkpoint (every
   ``save.model_save_rate`` epochs, and after the last). The log is always at least as far as the newest checkpoint; on resume,
   records the log already holds are skipped (``LogWriter``), so SIGKILL at any moment
   neither loses nor duplicates a logged value.

Several processes (``jax.distributed``, see ``_distributed``) train as one: the batch
is sharded over all their devices, each loads its own rows of it, and only process 0
writes files other than checkpoints, once the processes have agreed on the folder.

With ``train.health`` set, the manager's GAN health checks run in the step and each
flush prints the events since the previous one (``echo``).
"""

from __future__ import annotations

from collections import deque
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec
import numpy as np
from PIL import Image
from tqdm import tqdm

from nectargan_jax.log import LossLog
from nectargan_jax.manager import LossManager, reporting
from nectargan_jax.scheduling import current_learning_rate
from nectargan_jax.train._augment import HostAugmentedPairs
from nectargan_jax.train._augment_config import augmentations_from_config
from nectargan_jax.train._checkpoint import Checkpoints, config_fingerprint, training_settings
from nectargan_jax.train._config import TrainConfig, check_config
from nectargan_jax.train._data import (PairedDataset, PairedImageFolder, SyntheticPairs,
                                       batches, prefetch)
from nectargan_jax.train._distributed import (check_agreement, check_batch_split,
                                              process_local, replicate, wait_for_all)
from nectargan_jax.train._experiment import Experiment, check_writable, choose_experiment
from nectargan_jax.train._notes import startup_notes
from nectargan_jax.train._plots import example_grid, plot_loss_log
from nectargan_jax.train._records import LogWriter
from nectargan_jax.train._step import Pix2PixStep, TrainState, build_training
from nectargan_jax.train._writers import (EpochMeans, RunWriter, TensorBoardWriter,
                                          VisdomWriter)

SYNTHETIC_PAIRS = 64
_MAX_CAPACITY = 512
_POSTFIX_SECONDS = 1.0
# Dispatches the host may run ahead of the device (each holds its batch).
_IN_FLIGHT = 2


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a finished ``train`` call leaves behind.

    Attributes:
      experiment: the experiment folder's paths.
      state: the final ``TrainState`` (on the device).
      step_fns: the ``Pix2PixStep`` that trained it (``generate`` runs the generator).
      epochs: epochs completed.
    """

    experiment: Experiment
    state: TrainState
    step_fns: Pix2PixStep
    epochs: int


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {name}={value!r}.")
    return value


def make_dataset(config: TrainConfig, *, seed: int, synthetic_pairs: int = SYNTHETIC_PAIRS,
                 split: str = "train") -> PairedDataset:
    """The dataset a config names: ``dataroot/<split>`` images, or with an empty
    ``dataloader.dataroot`` the embedded ``SyntheticPairs`` task (any split).

    The train split is resized to ``load_size`` and cropped (its other augmentations
    run in the step, or here with compression on: ``HostAugmentedPairs``); other splits
    are resized to ``crop_size``, as the reference's validation data.

    Raises:
      FileNotFoundError, ValueError: see ``PairedImageFolder``.
    """
    data, load = config.dataloader, config.dataloader.load
    if not data.dataroot:
        dataset = SyntheticPairs(synthetic_pairs, load.crop_size,
                                 seed if split == "train" else seed + 1,
                                 channels=load.input_nc)
    else:
        dataset = PairedImageFolder(data.dataroot, split, data.direction,
                                    load_size=load.load_size, crop_size=load.crop_size,
                                    flip_chance=0.0, channels=load.input_nc,
                                    train=split == "train")
    augmentations = augmentations_from_config(data.augmentations)
    if split == "train" and augmentations.on_host:
        return HostAugmentedPairs(dataset, augmentations)
    return dataset


def _example_source(config: TrainConfig, *, seed: int, synthetic_pairs: int) -> PairedDataset:
    """Where example pairs come from: the val split, else the train split, both resized
    to ``crop_size`` and not augmented (the reference's validation data).

    Raises:
      ValueError: a val split that exists but cannot be read (see ``PairedImageFolder``),
        or ``save.num_examples`` below 1 or above its pairs while ``save.save_examples``
        is on.
    """
    try:
        source = make_dataset(config, seed=seed, synthetic_pairs=synthetic_pairs,
                              split="val")
    except FileNotFoundError:
        data, load = config.dataloader, config.dataloader.load
        source = PairedImageFolder(data.dataroot, "train", data.direction,
                                   load_size=load.load_size, crop_size=load.crop_size,
                                   flip_chance=0.0, channels=load.input_nc, train=False)
    save = config.save
    if save.save_examples and save.num_examples < 1:
        raise ValueError(f"save.num_examples must be an int >= 1 while save.save_examples is "
                         f"on, got {save.num_examples}.")
    if save.save_examples and save.num_examples > len(source):
        raise ValueError(f"save.num_examples={save.num_examples} but the example images' "
                         f"split holds {len(source)} pairs; give at most {len(source)}.")
    return source


def example_pairs(source: PairedDataset, count: int, *, seed: int, epoch: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct random pairs of ``source`` for the example images after ``epoch``.

    As the reference's trainer picks ``save.num_examples`` random validation pairs at each
    save, drawn here from ``(seed, epoch)`` so a resumed run shows the same ones.
    """
    draw = np.random.default_rng(np.random.SeedSequence((seed, epoch), spawn_key=(1,)))
    pairs = [source.load(int(i), draw) for i in draw.choice(len(source), count,
                                                            replace=False)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _chunks(it: Iterator[tuple[np.ndarray, np.ndarray]], size: int
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Stacks ``size`` consecutive batches (the last chunk may be shorter)."""
    group: list[tuple[np.ndarray, np.ndarray]] = []
    for pair in it:
        group.append(pair)
        if len(group) == size:
            yield np.stack([g[0] for g in group]), np.stack([g[1] for g in group])
            group = []
    if group:
        yield np.stack([g[0] for g in group]), np.stack([g[1] for g in group])


def _postfix(state: TrainState) -> str:
    """The progress bar's text: latest losses with their weights, and the learning rate."""
    losses = reporting.loss_values(state.manager, precision=3)
    weights = reporting.loss_weights(state.manager, precision=3)
    parts = [f"{name}={value:.3g}(x{weights[name]:g})" for name, value in losses.items()
             if weights[name] != 0]
    lr = float(current_learning_rate(state.gen_opt))
    return " ".join(parts + [f"lr={lr:.2e}"])


def train(config: TrainConfig, *, epochs: int | None = None, resume: bool = False,
          devices: int = 1, steps_per_dispatch: int = 1, seed: int = 0,
          synthetic_pairs: int = SYNTHETIC_PAIRS, log_every: int | None = None,
          progress: bool = True, compile_cache: str | os.PathLike | None = None,
          echo: Callable[[str], None] = print,
          on_epoch_end: Callable[[int, TrainState, dict[str, float]], object] | None = None
          ) -> TrainResult:
    """Trains pix2pix as ``config`` says, into an experiment folder.

    Args:
      config: the run's config (``load_config``).
      epochs: epochs the run ends after (counting resumed ones); None = the config's
        ``epochs + epochs_decay``.
      resume: continue the newest experiment folder from its newest checkpoint. With
        ``train.load.continue_train`` true (and ``resume`` false) the run continues from
        the checkpoint of epoch ``train.load.load_epoch``, as the reference's trainer
        does; the epochs after it are trained again (deterministically: the log keeps
        its records, and their checkpoints are replaced by identical ones).
      devices: local devices the batch is sharded over (data parallel; the state and
        the LossManager are replicated). In a multi-process run (``jax.distributed``
        initialized: ``_distributed``) each process gives ``devices`` of its own, every
        process loads only its share of each global batch, and process 0 alone writes
        the log, the config, examples and graphs (all save the checkpoints together).
        ``dataloader.batch_size`` must divide evenly over all processes' devices.
      steps_per_dispatch: steps per compiled call: 1 dispatches ``Pix2PixStep.step``
        once per step (the fastest path on a CPU); more run that many steps in one
        ``lax.scan`` (``Pix2PixStep.steps``), which saves per-call overhead where a
        step is short next to it (small models on a GPU).
      seed: seeds the models, the data order and the synthetic task.
      synthetic_pairs: pairs per epoch of the embedded task (empty ``dataroot``).
      log_every: steps between two writes of the loss log (rounded up to whole
        dispatches); None = once per epoch, or every 512 steps if epochs are longer.
      progress: show a tqdm progress bar.
      compile_cache: a folder where the compiled training step is kept, so that a
        second start or a resume with the same settings loads it instead of compiling
        (the command passes ``--compile-cache``'s folder, where JAX keeps the other
        compiled functions); None keeps nothing. Runs on one device only.
      echo: where the final summary, the GAN health reports (``train.health``) and the
        notes on settings the run follows differently from how they read (``_notes``:
        the device JAX runs on, epochs at a learning rate of 0) go.
      on_epoch_end: called after each epoch as ``on_epoch_end(epoch, state, metrics)``,
        once its losses are logged and before its checkpoint is saved: ``epoch`` the
        epochs completed (from 1), ``state`` the ``TrainState`` (donated to the next
        step: ``jax.device_get`` what you keep), ``metrics`` the mean of each loss over
        the epoch's steps (``{'G_GAN': ..., 'D_fake': ...}``, as logged), the learning
        rates (``'lr_generator'``, ``'lr_discriminator'``) and the epoch's wall time
        (``'seconds'``). Returning ``False`` stops the run after this epoch, which is
        then saved as a last epoch is (examples, loss graphs, checkpoint); an exception
        it raises ends the run at once (resume from the newest checkpoint).

    Returns:
      A ``TrainResult``. Resuming a run that has trained ``epochs`` already writes
      nothing: it says so (``echo``) and returns the restored state.

    Raises:
      TypeError: ``config`` is not a ``TrainConfig``.
      ValueError: bad arguments or data, or a checkpoint written with another config
        (``CheckpointMismatchError``); FileNotFoundError: missing data or nothing to
        resume; FileExistsError, NotADirectoryError, PermissionError: the experiment
        folder. All are raised before anything is written.
    """
    load = check_config(config).train.load
    epochs = config.total_epochs if epochs is None else _positive_int("epochs", epochs)
    devices = _positive_int("devices", devices)
    steps_per_dispatch = _positive_int("steps_per_dispatch", steps_per_dispatch)
    synthetic_pairs = _positive_int("synthetic_pairs", synthetic_pairs)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got seed={seed!r}.")
    if log_every is not None:
        log_every = _positive_int("log_every", log_every)
    if devices > jax.local_device_count():
        raise ValueError(f"devices={devices} but only {jax.local_device_count()} local "
                         f"devices are available: {jax.local_devices()}.")
    batch_size = config.dataloader.batch_size
    processes, primary = jax.process_count(), jax.process_index() == 0
    check_batch_split(batch_size, devices, processes)
    if not primary:
        echo, progress = _silent, False
    dataset = make_dataset(config, seed=seed, synthetic_pairs=synthetic_pairs)
    if batch_size > len(dataset):
        raise ValueError(f"dataloader.batch_size={batch_size} is larger than the dataset "
                         f"({len(dataset)} pairs).")
    example_source = _example_source(config, seed=seed, synthetic_pairs=synthetic_pairs)
    steps_per_epoch = len(dataset) // batch_size
    experiment = choose_experiment(config, resume or load.continue_train)
    fingerprint, settings = config_fingerprint(config), training_settings(config)
    checkpoints = Checkpoints(experiment.checkpoints,
                              max_to_keep=config.save.keep_checkpoints)
    start = checkpoints.latest_epoch() if resume else None
    if not resume and load.continue_train:
        start = load.load_epoch
        if start not in checkpoints.epochs():
            raise FileNotFoundError(
                f"train.load.load_epoch={start} but {str(experiment.checkpoints)!r} holds "
                f"checkpoints of epochs {checkpoints.epochs()}; choose one of them, or "
                "resume from the newest with --resume.")
    if start is not None:
        checkpoints.check(start, fingerprint, settings)
        if epochs < start:
            raise ValueError(f"epochs={epochs} but the experiment {str(experiment.dir)!r} "
                             f"has already trained {start} epochs; give more epochs.")
    capacity = max(steps_per_dispatch, log_every or min(steps_per_epoch, _MAX_CAPACITY))
    step_fns, state = build_training(config, steps_per_epoch=steps_per_epoch, seed=seed,
                                     capacity=capacity)
    batch_sharding, rows = None, None
    if devices * processes > 1:
        mesh = Mesh(np.asarray([d for p in range(processes)
                                for d in jax.local_devices(process_index=p)[:devices]]),
                    ("data",))
        state = replicate(state, NamedSharding(mesh, PartitionSpec()))
        batch_sharding = NamedSharding(mesh, PartitionSpec(
            *([] if steps_per_dispatch == 1 else [None]), "data"))
        # The mesh lists each process's devices together: process p holds rows
        # [p * share, (p + 1) * share) of every global batch, and loads only those.
        share = batch_size // processes
        rows = slice(jax.process_index() * share, (jax.process_index() + 1) * share)
    else:
        # Committed to the device, as a restored checkpoint's state is: a fresh run and
        # a resumed one in the same process share one compiled step.
        state = jax.device_put(state, jax.local_devices()[0])
    if start is not None:
        state = checkpoints.restore(start, state, fingerprint, settings)
        if start == epochs:
            checkpoints.close()
            echo(f"The experiment {experiment.dir.resolve()} has trained {start} of {epochs} "
                 f"epochs: nothing to do (give more epochs, e.g. --epochs {epochs + 1}, to "
                 "train on).")
            return TrainResult(experiment, state, step_fns, epochs)
    if processes > 1:
        wait_for_all("checked")
        check_agreement({"devices": devices, "steps_per_dispatch": steps_per_dispatch,
                         "seed": seed, "epochs": epochs, "synthetic_pairs": synthetic_pairs,
                         "the resumed epoch": -1 if start is None else start,
                         "the training settings": fingerprint,
                         "the experiment folder": str(experiment.dir.resolve())})
    for note in startup_notes(config, epochs, jax.devices()[0]):
        echo(note)
    # Process 0 alone writes the log, the config, examples and graphs; every process
    # takes part in computing and in saving checkpoints.
    log = LossLog(experiment.dir, device=jax.devices()[0].platform,
                  dataroot=config.dataloader.dataroot) if primary else None
    live = _live_writers(config, steps_per_epoch) if primary else ()
    means = EpochMeans()
    writer = LogWriter(log, first_step=int(state.step), sinks=(*live, means))

    config_path = None
    if primary:
        experiment.dir.mkdir(parents=True, exist_ok=True)
        experiment.examples.mkdir(exist_ok=True)
        config_path = experiment.export_config(config)
        if not log.path.exists():
            log.export_base_log()

    save = config.save
    first = 0 if start is None else start
    if first < epochs:
        side, channels = config.dataloader.load.crop_size, config.dataloader.load.input_nc
        compiled = _compile(step_fns, state, (batch_size, side, side, channels),
                            steps_per_dispatch, batch_sharding, compile_cache, echo)
        wait_for_all("compiled")
    for epoch in range(first, epochs):
        started = time.monotonic()
        state = _run_epoch(step_fns, compiled, state, writer, dataset, epoch=epoch,
                           epochs=epochs, batch_size=batch_size, seed=seed, capacity=capacity,
                           steps_per_dispatch=steps_per_dispatch,
                           steps_per_epoch=steps_per_epoch, sharding=batch_sharding,
                           rows=rows, progress=progress, echo=echo)
        state = state._replace(manager=_flush(writer, state.manager, echo))
        done = epoch + 1
        metrics = {**means.take(), **_learning_rates(state),
                   "seconds": time.monotonic() - started}
        stop = on_epoch_end is not None and on_epoch_end(done, state, metrics) is False
        last = done == epochs or stop
        if primary and (done % save.example_save_rate == 0 or last):
            if save.save_examples:
                x, y = example_pairs(example_source, save.num_examples, seed=seed,
                                     epoch=done)
                here = state if processes == 1 else process_local(state)
                grid = example_grid(x, np.asarray(step_fns.generate(here, x)), y)
                Image.fromarray(grid).save(experiment.example(done))
                for live_writer in live:
                    live_writer.write_examples(done, int(state.step), grid)
            plot_loss_log(experiment.log, experiment.graphs, steps_per_epoch)
        wait_for_all(f"epoch {done}")
        if save.save_model and (done % save.model_save_rate == 0 or last):
            checkpoints.save(done, state, fingerprint, settings)
        if stop:
            epochs = done
            break
    if primary:
        log.close()
        for live_writer in live:
            live_writer.close()
        echo(_summary(experiment, config_path, epochs, int(state.step),
                      _checkpoint_listing(checkpoints, save.keep_checkpoints)))
    checkpoints.close()
    return TrainResult(experiment, state, step_fns, epochs)


def _compile(step_fns: Pix2PixStep, state: TrainState, batch_shape: tuple[int, ...],
             steps_per_dispatch: int, sharding, cache: str | os.PathLike | None,
             echo: Callable[[str], None]) -> jax.stages.Compiled:
    """The function ``_run_epoch`` dispatches for full batches (chunks), compiled or
    loaded from ``cache``, saying so. A last, shorter chunk of ``steps`` compiles once
    more when an epoch's steps are not a multiple of ``steps_per_dispatch``."""
    if steps_per_dispatch > 1:
        batch_shape = (steps_per_dispatch, *batch_shape)
    spec = jax.ShapeDtypeStruct(batch_shape, jnp.float32, sharding=sharding)
    echo("compiling the training step ...")
    start = time.monotonic()
    compiled = step_fns.compile(state, (spec, spec), scan=steps_per_dispatch > 1,
                                cache=None if cache is None else Path(cache), echo=echo)
    echo(f"compiled the training step in {time.monotonic() - start:.1f} s")
    return compiled


def _silent(_: str) -> None:
    """What processes other than 0 echo: nothing (process 0 reports for the run)."""


def _learning_rates(state: TrainState) -> dict[str, float]:
    """The learning rates of the latest update."""
    return {"lr_generator": float(current_learning_rate(state.gen_opt)),
            "lr_discriminator": float(current_learning_rate(state.disc_opt))}


def _live_writers(config: TrainConfig, steps_per_epoch: int) -> tuple[RunWriter, ...]:
    """TensorBoard and Visdom writers as ``visualizer`` asks (checked, nothing written).

    Raises:
      ValueError: a writer's package is not installed; ConnectionError: no Visdom server;
      NotADirectoryError, PermissionError: the TensorBoard folder cannot be written.
    """
    writers: list[RunWriter] = []
    board = config.visualizer.tensorboard
    if board:
        check_writable(Path(board))
        schedules = {which: config.train.learning_rate_schedule(which)
                     for which in ("generator", "discriminator")}
        writers.append(TensorBoardWriter(board, lambda step: {
            which: float(s(step // steps_per_epoch)) for which, s in schedules.items()}))
    if config.visualizer.visdom.enable:
        writers.append(VisdomWriter(config.visualizer.visdom, steps_per_epoch))
    return tuple(writers)


def _run_epoch(step_fns: Pix2PixStep, compiled: jax.stages.Compiled, state: TrainState,
               writer: LogWriter, dataset: PairedDataset, *, epoch: int, epochs: int, batch_size: int,
               seed: int, capacity: int, steps_per_dispatch: int, steps_per_epoch: int,
               sharding, rows: slice | None, progress: bool, echo: Callable[[str], None]
               ) -> TrainState:
    """One epoch: batches prefetched to the device, one step per call of ``compiled``
    (``Pix2PixStep.step``, or chunks of ``steps_per_dispatch`` per call of the scanned
    ``Pix2PixStep.steps``, a last shorter chunk through ``steps`` itself), the
    manager flushed into the log before its buffer fills; the bar counts finished steps."""
    pending = 0
    shown = 0.0
    single = steps_per_dispatch == 1
    source = batches(dataset, batch_size, seed=seed, epoch=epoch, rows=rows)
    if not single:
        source = _chunks(source, steps_per_dispatch)
    in_flight: deque[tuple[jax.Array, int]] = deque()
    with tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", unit="step",
              disable=not progress, leave=True) as bar:
        for xs, ys in prefetch(source, size=2, sharding=sharding):
            count = 1 if single else xs.shape[0]
            if pending + count > capacity:
                state = state._replace(manager=_flush(writer, state.manager, echo))
                pending = 0
            full = single or count == steps_per_dispatch
            state = (compiled if full else step_fns.steps)(state, (xs, ys))
            pending += count
            # A copy of the step counter: the state itself is donated to the next call.
            in_flight.append((state.step.copy(), count))
            _count_finished(in_flight, bar, _IN_FLIGHT)
            if progress and time.monotonic() - shown > _POSTFIX_SECONDS:
                bar.set_postfix_str(_postfix(state), refresh=False)
                shown = time.monotonic()
        _count_finished(in_flight, bar, 0)
        if progress:
            bar.set_postfix_str(_postfix(state), refresh=False)
    return state


def _count_finished(in_flight: deque, bar: tqdm, keep: int) -> None:
    """Moves the bar by the dispatches that have finished, oldest first, waiting for the
    oldest while more than ``keep`` are in flight."""
    while in_flight and (len(in_flight) > keep or in_flight[0][0].is_ready()):
        marker, count = in_flight.popleft()
        marker.block_until_ready()
        bar.update(count)


def _listing(folder: Path) -> str:
    """The PNG files in ``folder``, sorted (the first and last when there are many)."""
    names = sorted(p.name for p in folder.glob("*.png"))
    if len(names) > 3:
        names = [names[0], "...", names[-1]]
    return ", ".join(names) or "(none yet)"


def _flush(writer: LogWriter, manager: LossManager, echo: Callable[[str], None]
           ) -> LossManager:
    """Writes the manager's new records to the log, then echoes its GAN health events
    (a failed write keeps both in the manager). The events of steps the log held already
    (recomputed after a resume) are dropped like their records: flushes follow the
    epoch, the buffer's capacity and the steps per dispatch, so a run resumed with those
    unchanged flushes where the run it resumes did, and a window holds recomputed steps
    only or none (one holding both is reported whole)."""
    def on_health(report) -> None:
        if not writer.replayed:
            echo(str(report))

    return manager.flush(writer, on_health=on_health)


def _checkpoint_listing(checkpoints: Checkpoints, keep: int | None) -> str:
    """``epochs [5, 8]: 2.1 MB each, the newest 3 kept`` (a range when sizes differ)."""
    epochs = checkpoints.epochs()
    text = f"epochs {epochs}"
    if epochs:
        sizes = sorted({f"{checkpoints.size(epoch) / 1e6:.1f}" for epoch in epochs},
                       key=float)
        text += f": {sizes[0] if len(sizes) == 1 else sizes[0] + '-' + sizes[-1]} MB each"
    return text + (", all kept" if keep is None else f", the newest {keep} kept")


def _summary(experiment: Experiment, config_path: Path, epochs: int, steps: int,
             saved: str) -> str:
    folder = experiment.dir.resolve()
    return "\n".join([
        f"Trained {epochs} epochs ({steps} steps). Everything is in {folder}:",
        f"  loss log     {experiment.log.name}",
        f"  loss graphs  {experiment.graphs.name}",
        f"  examples     {experiment.examples.name}/ {_listing(experiment.examples)} "
        "(input | output | target)",
        f"  checkpoints  {experiment.checkpoints.name}/<epoch> ({saved})",
        f"  config used  {config_path.name}",
    ])
