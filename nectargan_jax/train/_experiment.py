"""The experiment folder: where a run writes, found or chosen before anything is written.

``<output_directory>/<experiment_name>_v<version>/`` holds ``loss_log.json``,
``loss_graphs.png``, ``examples/epoch_<e>.png``, ``checkpoints/<e>/`` and the config
used (``train<k>_config.json``, one per start, as the reference's ``export_config``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
import re
import tempfile

from nectargan_jax import _files as files
from nectargan_jax.train._config import TrainConfig
from nectargan_jax.log import LOG_NAME

DEFAULT_OUTPUT_DIRECTORY = "experiments"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Paths of one experiment folder."""

    dir: Path

    @property
    def log(self) -> Path:
        return self.dir / LOG_NAME

    @property
    def graphs(self) -> Path:
        return self.dir / "loss_graphs.png"

    @property
    def examples(self) -> Path:
        return self.dir / "examples"

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    def example(self, epoch: int) -> Path:
        """The example image written after ``epoch`` (counted from 1)."""
        return self.examples / f"epoch_{epoch:04d}.png"

    def export_config(self, config: TrainConfig) -> Path:
        """Writes ``config.to_json()`` to ``train<k>_config.json``, k = 1 + earlier ones."""
        k = 1 + len(list(self.dir.glob("*config.json")))
        path = self.dir / f"train{k}_config.json"
        _write_atomic(path, config.to_json())
        return path


def _write_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path``, then renames it over ``path``."""
    tmp, _ = files.write_temp(path, lambda stream: stream.write(text))
    files.replace(tmp, path)


def _versions(root: Path, name: str) -> list[int]:
    if not root.is_dir():
        return []
    pattern = re.compile(re.escape(name) + r"_v(\d+)")
    return sorted(int(m.group(1)) for p in root.iterdir()
                  if p.is_dir() and (m := pattern.fullmatch(p.name)))


def choose_experiment(config: TrainConfig, resume: bool) -> Experiment:
    """The folder a run writes to, checked to be writable; nothing is created.

    A new run takes ``experiment_version``, or with ``save.auto_increment_version`` the
    first free version from it. A resumed run takes the newest existing version (or
    exactly ``experiment_version`` without auto-increment).

    Raises:
      FileExistsError: a new run's folder exists and auto-increment is off.
      FileNotFoundError: nothing to resume.
      NotADirectoryError, PermissionError: the output folder cannot be written.
    """
    common = config.common
    root = Path(common.output_directory or DEFAULT_OUTPUT_DIRECTORY)
    name, version = common.experiment_name, common.experiment_version
    auto = config.save.auto_increment_version
    existing = _versions(root, name)
    if resume:
        candidates = [v for v in existing if v >= version] if auto else \
            [v for v in existing if v == version]
        if not candidates:
            raise FileNotFoundError(
                f"nothing to resume: no experiment folder {name}_v{version}"
                f"{' or later' if auto else ''} in {str(root)!r}.")
        folder = root / f"{name}_v{candidates[-1]}"
    else:
        if auto:
            while version in existing:
                version += 1
        folder = root / f"{name}_v{version}"
        if folder.exists():
            raise FileExistsError(
                f"the experiment folder {str(folder)!r} exists; resume it (--resume), or "
                "set common.experiment_version or save.auto_increment_version.")
    check_writable(folder)
    return Experiment(folder)


def check_writable(folder: Path) -> None:
    """Checks that ``folder`` can be created (or written if it exists), leaving no trace.

    Raises:
      NotADirectoryError: a path component is a file.
      PermissionError: the nearest existing folder cannot be written.
    """
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(f"cannot create the experiment folder {str(folder)!r}: "
                                 f"{str(probe)!r} is a file.")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as error:
        raise PermissionError(f"cannot write the experiment folder {str(folder)!r}: "
                              f"{str(probe)!r} is not writable ({error}).") from error

