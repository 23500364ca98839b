"""NumPy versions of the reference's loss formulas (REFERENCE.md), written independently
of interop, in float64, for the interop tests to compare against."""

from __future__ import annotations

import numpy as np

SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=np.float64)
LAPLACE = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)


def correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3x3 cross-correlation of a 2-D image with zero padding 1, by loops."""
    padded = np.pad(image, 1)
    out = np.zeros_like(image)
    for i in range(image.shape[0]):
        for j in range(image.shape[1]):
            out[i, j] = np.sum(padded[i:i + 3, j:j + 3] * kernel)
    return out


def sobel_magnitude(batch: np.ndarray) -> np.ndarray:
    """``sqrt(gx^2 + gy^2 + 1e-6)`` of each image's channel mean, ``(N, H, W)``."""
    return np.stack([np.sqrt(correlate(g, SOBEL_X) ** 2 + correlate(g, SOBEL_Y) ** 2 + 1e-6)
                     for g in np.asarray(batch, np.float64).mean(axis=1)])


def laplacian_response(batch: np.ndarray) -> np.ndarray:
    """The Laplacian of each image's channel mean, ``(N, H, W)``."""
    return np.stack([correlate(g, LAPLACE) for g in np.asarray(batch, np.float64).mean(axis=1)])


def sobel_loss(fake: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute difference of the Sobel magnitudes."""
    return float(np.abs(sobel_magnitude(fake) - sobel_magnitude(real)).mean())


def laplacian_loss(fake: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute difference of the Laplacian responses."""
    return float(np.abs(laplacian_response(fake) - laplacian_response(real)).mean())


def l1_loss(x: np.ndarray, y: np.ndarray) -> float:
    """Mean absolute difference."""
    return float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).mean())


def mse_loss(x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared difference."""
    return float(((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2).mean())


def bce_with_logits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean of ``-(t log sigmoid(z) + (1 - t) log(1 - sigmoid(z)))``."""
    z, t = np.asarray(logits, np.float64), np.asarray(targets, np.float64)
    p = 1.0 / (1.0 + np.exp(-z))
    return float((-(t * np.log(p) + (1 - t) * np.log(1 - p))).mean())
