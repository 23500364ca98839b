"""The reference's checkpoint files (``epoch<e>_net<G|D>.pth.tar``), read and written.

The reference's trainer saves ``torch.save({'state_dict': model.state_dict(),
'optimizer': optimizer.state_dict()}, path)`` per network; its tester and ONNX
converter read ``'state_dict'``, its trainer (continuing a run) ``'optimizer'`` too.
torch is needed here only, and imported only when a file is read or written.
"""

from __future__ import annotations

from collections.abc import Mapping
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from nectargan_jax import _files as files

TORCH_MISSING = ("reading or writing the reference's PyTorch checkpoints needs torch, which "
                 "is not installed: pip install 'nectargan_jax[torch]' (for the CPU-only "
                 "build, first: pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu).")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(TORCH_MISSING) from None
    return torch


def checkpoint_name(epoch: int, net: str) -> str:
    """The reference's file name: ``epoch<epoch>_net<net>.pth.tar`` (net ``'G'`` or ``'D'``)."""
    return f"epoch{epoch}_net{net}.pth.tar"


def load_torch_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``state_dict`` of a reference checkpoint (or of a file holding a bare state_dict).

    Read with ``torch.load(..., weights_only=True)``: tensors and plain containers only.

    Returns:
      name -> NumPy array, in the file's order.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not a PyTorch checkpoint, or no state_dict in it.
      ImportError: torch is not installed (the message says how to install it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no PyTorch checkpoint at {str(path)!r}.")
    torch = _torch()
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file it cannot read
        raise ValueError(f"{str(path)!r} is not a readable PyTorch checkpoint: {error}") from None
    state = data.get("state_dict", data) if isinstance(data, dict) else None
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} holds no state_dict (expected {{'state_dict': "
                         "{name: tensor}, ...}, as the reference's trainer saves, or "
                         "{name: tensor}).")
    return {name: value.detach().cpu().numpy() for name, value in state.items()}


def save_torch_checkpoint(path: str | os.PathLike, state_dict: Mapping[str, np.ndarray], *,
                          learning_rate: float, beta1: float) -> Path:
    """Writes ``{'state_dict': ..., 'optimizer': ...}`` as the reference's trainer does.

    The optimizer entry is the state_dict of a fresh ``torch.optim.Adam(lr=learning_rate,
    betas=(beta1, 0.999))`` over the parameters (no moments yet), which the reference's
    trainer loads when it continues a run. The file is written atomically.

    Returns:
      ``path``.

    Raises:
      ImportError: torch is not installed.
    """
    torch = _torch()
    path = Path(path)
    tensors = {name: torch.from_numpy(np.array(value, dtype=np.float32))
               for name, value in state_dict.items()}
    adam = torch.optim.Adam([torch.nn.Parameter(t.clone()) for t in tensors.values()],
                            lr=learning_rate, betas=(beta1, 0.999))
    buffer = io.BytesIO()
    torch.save({"state_dict": tensors, "optimizer": adam.state_dict()}, buffer)
    return files.write_bytes_atomic(path, buffer.getvalue())
