"""Console strings in the reference's formats, built from concrete host values."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def rounded(value: np.ndarray, precision: int) -> float | np.ndarray:
    """``round(value, precision)``: a Python float for a scalar, an array for a batch."""
    value = np.asarray(value, dtype=np.float64)
    return round(float(value), precision) if value.ndim == 0 else np.round(value, precision)


def format_losses(epoch: int, iters: int, values: Mapping[str, float]) -> str:
    """``"(epoch: {e}, iters: {i}) Loss: {name}: {value} {name}: {value} ..."``."""
    pairs = " ".join(f"{name}: {value}" for name, value in values.items())
    return f"(epoch: {epoch}, iters: {iters}) Loss: {pairs}"


def format_weights(weights: Mapping[str, float]) -> str:
    """``"Loss weights: {name}: {weight} ..."``."""
    pairs = " ".join(f"{name}: {weight}" for name, weight in weights.items())
    return f"Loss weights: {pairs}"


def emit(text: str, capture: bool) -> str | None:
    """Returns ``text`` when ``capture`` is set, else prints it."""
    if capture:
        return text
    print(text)
    return None
