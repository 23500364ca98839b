"""The reference's extra loss modules: Sobel, Laplacian and VGG19 perceptual losses.

All take images ``(N, C, H, W)`` and return a scalar. Sobel and Laplacian work on the
grayscale image (the mean over channels) with 3x3 cross-correlations, zero padding 1.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn import functional as F

_SOBEL_EPS = 1e-6
_SOBEL_KERNELS = ([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
                  [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
_LAPLACIAN_KERNEL = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]

VGG19_WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
VGG19_WEIGHTS_URL = "https://download.pytorch.org/models/" + VGG19_WEIGHTS_FILE
# torchvision's vgg19().features up to index 15: (in, out) for a conv + ReLU, "M" for a
# 2x2 max-pool. The perceptual loss uses the slices [0:4], [4:9] and [9:16].
_VGG19_FEATURES = ((3, 64), (64, 64), "M", (64, 128), (128, 128), "M",
                   (128, 256), (256, 256), (256, 256))
_VGG_SLICES = ((0, 4), (4, 9), (9, 16))


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    return images.mean(dim=1, keepdim=True)


class Sobel(nn.Module):
    """Mean absolute difference of the Sobel gradient magnitudes of two images.

    ``M(x) = sqrt((g(x) * Kx)^2 + (g(x) * Ky)^2 + 1e-6)`` with ``g`` the channel mean,
    ``Kx = [[1,0,-1],[2,0,-2],[1,0,-1]]``, ``Ky = [[1,2,1],[0,0,0],[-1,-2,-1]]``;
    ``loss = mean(|M(x) - M(y)|)``.

    Examples:
        >>> import torch
        >>> x = torch.zeros(1, 3, 8, 8)
        >>> float(Sobel()(x, x))
        0.0
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer(
            "kernels", torch.tensor(_SOBEL_KERNELS).unsqueeze(1), persistent=False)

    def magnitude(self, images: torch.Tensor) -> torch.Tensor:
        """The gradient magnitude map ``M``, shape ``(N, 1, H, W)``."""
        gray = _grayscale(images)
        g = F.conv2d(gray, self.kernels.to(gray.dtype), padding=1)
        return torch.sqrt(g[:, 0:1] ** 2 + g[:, 1:2] ** 2 + _SOBEL_EPS)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss between images ``x`` and ``y``."""
        return (self.magnitude(x) - self.magnitude(y)).abs().mean()


class Laplacian(nn.Module):
    """Mean absolute difference of the Laplacian responses of two images.

    ``L(x) = g(x) * [[0,1,0],[1,-4,1],[0,1,0]]`` with ``g`` the channel mean;
    ``loss = mean(|L(x) - L(y)|)``.

    Examples:
        >>> import torch
        >>> x = torch.zeros(1, 3, 8, 8)
        >>> float(Laplacian()(x, x))
        0.0
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer(
            "kernel", torch.tensor(_LAPLACIAN_KERNEL)[None, None], persistent=False)

    def response(self, images: torch.Tensor) -> torch.Tensor:
        """The Laplacian response map ``L``, shape ``(N, 1, H, W)``."""
        gray = _grayscale(images)
        return F.conv2d(gray, self.kernel.to(gray.dtype), padding=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss between images ``x`` and ``y``."""
        return (self.response(x) - self.response(y)).abs().mean()


def vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features[:16]``, written out (same layers, same indices)."""
    layers: list[nn.Module] = []
    for spec in _VGG19_FEATURES:
        if spec == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(spec[0], spec[1], kernel_size=3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def _missing_weights_message(detail: str) -> str:
    return (f"VGGPerceptual needs torchvision's pretrained VGG19 weights (IMAGENET1K_V1, the "
            f"file {VGG19_WEIGHTS_FILE} from {VGG19_WEIGHTS_URL}); nothing is downloaded. "
            "Save that file and pass its path (config key train.loss.vgg_weights). "
            f"{detail}")


def _load_features_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The ``features.*`` entries of a VGG19 state dict file, keyed ``'0.weight'``, ...

    A full torchvision state dict (``features.N.*`` and ``classifier.*``) and a
    features-only one (``N.*``) are both accepted.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(_missing_weights_message(f"No file at {os.fspath(path)!r}."))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k.removeprefix("features."): v for k, v in state.items()
            if not k.startswith("classifier.")}


class VGGPerceptual(nn.Module):
    """Perceptual loss: L1 between VGG19 features of two images, summed over 3 slices.

    The features are torchvision's ``vgg19().features`` slices ``[0:4]``, ``[4:9]`` and
    ``[9:16]`` (frozen, in eval mode), each weighted 1.0; the inputs are not normalised.
    ``loss = sum_k l1(f_k(fake), f_k(real))`` where ``f_k`` runs the slices up to ``k``.

    Args:
        weights_path: the path of torchvision's VGG19 IMAGENET1K_V1 state dict
            (``vgg19-dcbb9e9d.pth``); nothing is downloaded.

    Raises:
        ValueError: ``weights_path`` is None, or the file lacks VGG19 feature weights.
        FileNotFoundError: no file at ``weights_path``.
    """

    def __init__(self, weights_path: str | os.PathLike | None) -> None:
        super().__init__()
        if weights_path is None:
            raise ValueError(_missing_weights_message("No path was given."))
        features = vgg19_features()
        state = _load_features_state(weights_path)
        expected = features.state_dict().keys()
        missing = sorted(k for k in expected if k not in state)
        if missing:
            raise ValueError(_missing_weights_message(
                f"The file {os.fspath(weights_path)!r} lacks the VGG19 feature weights "
                f"{['features.' + k for k in missing]}."))
        features.load_state_dict({k: state[k] for k in expected})
        features.requires_grad_(False)
        self.slices = nn.ModuleList(features[a:b] for a, b in _VGG_SLICES)
        self.layer_weights = (1.0,) * len(_VGG_SLICES)
        self.eval()

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The perceptual loss between ``fake`` and ``real`` images."""
        loss = fake.new_zeros(())
        for block, weight in zip(self.slices, self.layer_weights):
            fake, real = block(fake), block(real)
            loss = loss + weight * F.l1_loss(fake, real)
        return loss
