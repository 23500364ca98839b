"""The models' parameters under the reference's PyTorch ``state_dict`` names and layouts.

NectarGAN v0.2.3 names its generator's weights by block and position in the block's
``nn.Sequential`` (``initial_down.conv.0.weight``, ``ups.1.conv.2.bias`` after a bilinear
up-sampling and its padding, ``downs.0.residual.0.weight`` for a residual shortcut) and
its discriminator's by position in one ``nn.Sequential`` (``model.0.weight``,
``model.2.conv.0.weight``, ...). Instance norm has no parameters or buffers, so these
are all its entries. Kernels are NCHW there: a convolution's is ``(out, in, kh, kw)``
(``(kh, kw, in, out)`` here), a transposed convolution's ``(in, out, kh, kw)`` (here
``(kh, kw, in, out)`` flipped in space, as Flax's ``ConvTranspose`` holds it).

No torch is needed: values are NumPy arrays (torch tensors are accepted as input).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flax import nnx
import jax.numpy as jnp
import numpy as np

from nectargan_jax.models._layers import ReflectConv
from nectargan_jax.models._layers import ZeroInterleave1x1
from nectargan_jax.models._patchgan import PatchGANDiscriminator
from nectargan_jax.models._unet import UnetGenerator

_SHOWN = 5  # differences listed per kind in a mismatch error


class StateDictMismatchError(ValueError):
    """A state_dict whose names or shapes are not those of the model it is loaded into."""


def torch_state_dict(model: UnetGenerator | PatchGANDiscriminator) -> dict[str, np.ndarray]:
    """The model's parameters as the reference's ``state_dict``: its names, its order,
    PyTorch's layouts (float32 NumPy arrays).

    Raises:
      TypeError: not one of the two models.
      ValueError: a model with BatchNorm (an extension the reference does not have).

    Examples:
      >>> g = UnetGenerator(3, 3, features=4, n_downs=3, rngs=nnx.Rngs(0))
      >>> sd = torch_state_dict(g)
      >>> list(sd)[:3]
      ['initial_down.conv.0.weight', 'initial_down.conv.0.bias', 'downs.0.conv.0.weight']
      >>> sd["ups.1.conv.0.weight"].shape  # ConvTranspose2d(64, 16, 4): (in, out, kh, kw)
      (64, 16, 4, 4)
    """
    return {name: np.array(_to_torch(np.asarray(param[...]), layout), dtype=np.float32)
            for name, param, layout in _entries(model)}


def load_torch_state_dict(model: UnetGenerator | PatchGANDiscriminator,
                          state_dict: Mapping[str, Any]) -> None:
    """Sets the model's parameters (in place) from a reference ``state_dict``.

    Every name and shape is checked before anything is set, so a state_dict of another
    config changes nothing.

    Args:
      model: a ``UnetGenerator`` or ``PatchGANDiscriminator`` with instance norm.
      state_dict: name -> array (NumPy arrays or torch tensors), as
        ``torch_state_dict`` gives or ``load_torch_checkpoint`` reads.

    Raises:
      StateDictMismatchError: names missing or unexpected, or shapes that differ (the
        first few of each are listed).
      TypeError, ValueError: as ``torch_state_dict``.
    """
    entries = _entries(model)
    values = {name: _numpy(value) for name, value in state_dict.items()}
    expected = {name: _torch_shape(param.shape, layout) for name, param, layout in entries}
    missing = [name for name in expected if name not in values]
    unexpected = [name for name in values if name not in expected]
    differ = [f"{name}: {tuple(values[name].shape)} given, {shape} expected"
              for name, shape in expected.items()
              if name in values and tuple(values[name].shape) != shape]
    if missing or unexpected or differ:
        parts = [f"{label} ({len(items)}): {', '.join(items[:_SHOWN])}"
                 + (", ..." if len(items) > _SHOWN else "")
                 for label, items in (("missing", missing), ("unexpected", unexpected),
                                      ("shapes differ", differ)) if items]
        raise StateDictMismatchError(
            f"the state_dict does not fit this {type(model).__name__} (was it saved from "
            f"another config?): {'; '.join(parts)}.")
    for name, param, layout in entries:
        param[...] = jnp.asarray(_from_torch(values[name], layout), dtype=param[...].dtype)


def _numpy(value: Any) -> np.ndarray:
    """A NumPy array of a torch tensor (on any device) or array-like."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _to_torch(value: np.ndarray, layout: str) -> np.ndarray:
    if layout == "conv":
        return value.transpose(3, 2, 0, 1)
    if layout == "transposed":
        return value[::-1, ::-1].transpose(2, 3, 0, 1)
    return value


def _from_torch(value: np.ndarray, layout: str) -> np.ndarray:
    if layout == "conv":
        return value.transpose(2, 3, 1, 0)
    if layout == "transposed":
        return value.transpose(2, 3, 0, 1)[::-1, ::-1]
    return value


def _torch_shape(shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    if layout == "conv":
        return (shape[3], shape[2], shape[0], shape[1])
    if layout == "transposed":
        return (shape[2], shape[3], shape[0], shape[1])
    return tuple(shape)


def _layer(name: str, layer: nnx.Module, layout: str) -> list[tuple[str, nnx.Param, str]]:
    """A convolution's kernel and bias (if any) under ``name.weight`` and ``name.bias``."""
    entries = [(f"{name}.weight", layer.kernel, layout)]
    if layer.bias is not None:
        entries.append((f"{name}.bias", layer.bias, "vector"))
    return entries


def _check_norm(norm: nnx.Module | None, where: str) -> None:
    if isinstance(norm, nnx.BatchNorm):
        raise ValueError(f"{where} uses BatchNorm (the extension train.generator.norm='batch'); "
                         "the reference's models have instance norm only, so only those convert.")


def _entries(model: Any) -> list[tuple[str, nnx.Param, str]]:
    """``(torch name, parameter, layout)`` of every parameter, in the reference's order."""
    if isinstance(model, UnetGenerator):
        return _unet_entries(model)
    if isinstance(model, PatchGANDiscriminator):
        return _patchgan_entries(model)
    raise TypeError("expected a UnetGenerator or a PatchGANDiscriminator, got "
                    f"{type(model).__name__}.")


def _unet_entries(g: UnetGenerator) -> list[tuple[str, nnx.Param, str]]:
    blocks = ([("initial_down", g.initial_down)]
              + [(f"downs.{i}", block) for i, block in enumerate(g.downs)]
              + [("bottleneck", g.bottleneck)]
              + [(f"ups.{i}", block) for i, block in enumerate(g.ups)]
              + [("final_up", g.final_up)])
    entries = []
    for prefix, block in blocks:
        _check_norm(block.norm, f"the generator's block {prefix}")
        if isinstance(block.conv, ReflectConv):  # down: Conv2d first in the Sequential
            entries += _layer(f"{prefix}.conv.0", block.conv.conv, "conv")
        elif block.conv.upsample_type == "Transposed":  # ConvTranspose2d first
            entries += _layer(f"{prefix}.conv.0", block.conv.conv, "transposed")
        else:  # Upsample, ReflectionPad2d, then the Conv2d
            entries += _layer(f"{prefix}.conv.2", block.conv.conv.conv, "conv")
        if block.shortcut is not None:
            layout = "transposed" if isinstance(block.shortcut, ZeroInterleave1x1) else "conv"
            entries += _layer(f"{prefix}.residual.0", block.shortcut, layout)
    return entries


def _patchgan_entries(d: PatchGANDiscriminator) -> list[tuple[str, nnx.Param, str]]:
    entries = _layer("model.0", d.first.conv, "conv")  # model.1 is the LeakyReLU
    for k, block in enumerate(d.blocks):
        _check_norm(block.norm, f"the discriminator's block {k}")
        entries += _layer(f"model.{2 + k}.conv.0", block.conv.conv, "conv")
    return entries + _layer(f"model.{2 + len(d.blocks)}", d.last.conv, "conv")
