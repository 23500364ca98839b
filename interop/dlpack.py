"""Tensors across torch and JAX through DLPack, without a copy on the same device.

The result shares memory with the input wherever DLPack allows it (same device,
dtype JAX supports). A dtype JAX does not enable (float64 without ``jax_enable_x64``)
is converted, which copies. Because the memory is shared, writing to the torch side of
a shared buffer changes the JAX array too (JAX assumes its arrays never change): do not
write to a tensor made by ``to_torch`` while its JAX array is still in use.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import torch


def to_jax(tensor: torch.Tensor) -> jax.Array:
    """A JAX array viewing ``tensor``'s memory (detached: gradients do not cross).

    Args:
        tensor: a torch tensor, on the CPU or a device JAX also sees.

    Returns:
        The JAX array, on the same device.

    Raises:
        TypeError: ``tensor`` is not a torch tensor.

    Examples:
        >>> import torch
        >>> to_jax(torch.arange(3.0)).tolist()
        [0.0, 1.0, 2.0]
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"to_jax takes a torch.Tensor, got {type(tensor).__name__}.")
    return jax.dlpack.from_dlpack(tensor.detach())


def to_torch(array: ArrayLike) -> torch.Tensor:
    """A torch tensor viewing a JAX array's memory.

    Args:
        array: a JAX array (other array-likes are first made JAX arrays, which copies).

    Returns:
        The tensor, on the same device.

    Raises:
        TypeError: ``array`` is not an array of numbers (a string, None...).

    Examples:
        >>> import jax.numpy as jnp
        >>> to_torch(jnp.arange(3.0)).tolist()
        [0.0, 1.0, 2.0]
    """
    try:
        array = jnp.asarray(array)
    except (TypeError, ValueError):
        raise TypeError(f"to_torch takes a JAX array (or an array-like of numbers), got "
                        f"{type(array).__name__}: {array!r}.") from None
    return torch.from_dlpack(array)
