"""The reference's extra loss modules: Sobel, Laplacian and VGG19 perceptual losses.

All are called ``module(fake, real)`` (keywords too) on images ``(N, C, H, W)`` of the
same shape and return a scalar. Sobel and Laplacian work on the grayscale image (the mean
over channels) with 3x3 cross-correlations, zero padding 1; their kernels are buffers
with the reference's names, so the reference's ``state_dict`` loads.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

_SOBEL_EPS = 1e-6
_SOBEL_KERNELS = ([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
                  [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
_LAPLACIAN_KERNEL = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]

VGG19_WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
VGG19_WEIGHTS_URL = "https://download.pytorch.org/models/" + VGG19_WEIGHTS_FILE
VGG19_WEIGHTS_ENV = "NECTARGAN_VGG19_WEIGHTS"
# torchvision's vgg19().features up to index 15: (in, out) for a conv + ReLU, "M" for a
# 2x2 max-pool. The perceptual loss uses the slices [0:4], [4:9] and [9:16].
_VGG19_FEATURES = ((3, 64), (64, 64), "M", (64, 128), (128, 128), "M",
                   (128, 256), (256, 256), (256, 256))
_VGG_SLICES = ((0, 4), (4, 9), (9, 16))


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    return images.mean(dim=1, keepdim=True)


def _check_images(module: str, fake: torch.Tensor, real: torch.Tensor) -> None:
    """Raises unless ``fake`` and ``real`` are 4-D ``(N, C, H, W)`` tensors of one shape."""
    for name, images in (("fake", fake), ("real", real)):
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"{module}: {name} must be a torch.Tensor, got {type(images).__name__}.")
        if images.dim() != 4:
            raise ValueError(f"{module}: {name} must be a 4-D (N, C, H, W) tensor, got shape "
                             f"{tuple(images.shape)}.")
    if fake.shape != real.shape:
        raise ValueError(
            f"{module}: fake and real must have the same shape, got {tuple(fake.shape)} and "
            f"{tuple(real.shape)}.")


class Sobel(nn.Module):
    """Mean absolute difference of the Sobel gradient magnitudes of two images.

    ``M(x) = sqrt((g(x) * Kx)^2 + (g(x) * Ky)^2 + 1e-6)`` with ``g`` the channel mean,
    ``Kx = [[1,0,-1],[2,0,-2],[1,0,-1]]``, ``Ky = [[1,2,1],[0,0,0],[-1,-2,-1]]``;
    ``loss = mean(|M(fake) - M(real)|)``. The kernels are the buffers ``sobel_x`` and
    ``sobel_y``, each ``(1, 1, 3, 3)``.

    Examples:
        >>> import torch
        >>> x = torch.zeros(1, 3, 8, 8)
        >>> float(Sobel()(x, x))
        0.0
    """

    def __init__(self) -> None:
        super().__init__()
        kernel_x, kernel_y = (torch.tensor(k)[None, None] for k in _SOBEL_KERNELS)
        self.register_buffer("sobel_x", kernel_x)
        self.register_buffer("sobel_y", kernel_y)

    def magnitude(self, images: torch.Tensor) -> torch.Tensor:
        """The gradient magnitude map ``M``, shape ``(N, 1, H, W)``."""
        gray = _grayscale(images)
        kernels = torch.cat((self.sobel_x, self.sobel_y)).to(gray.dtype)
        g = F.conv2d(gray, kernels, padding=1)
        return torch.sqrt(g[:, 0:1] ** 2 + g[:, 1:2] ** 2 + _SOBEL_EPS)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The loss between the images ``fake`` and ``real``.

        Raises:
            ValueError: the images are not 4-D or differ in shape.
        """
        _check_images("Sobel", fake, real)
        return (self.magnitude(fake) - self.magnitude(real)).abs().mean()


class Laplacian(nn.Module):
    """Mean absolute difference of the Laplacian responses of two images.

    ``L(x) = g(x) * [[0,1,0],[1,-4,1],[0,1,0]]`` with ``g`` the channel mean;
    ``loss = mean(|L(fake) - L(real)|)``. The kernel is the buffer ``kernel``,
    ``(1, 1, 3, 3)``.

    Examples:
        >>> import torch
        >>> x = torch.zeros(1, 3, 8, 8)
        >>> float(Laplacian()(x, x))
        0.0
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("kernel", torch.tensor(_LAPLACIAN_KERNEL)[None, None])

    def response(self, images: torch.Tensor) -> torch.Tensor:
        """The Laplacian response map ``L``, shape ``(N, 1, H, W)``."""
        gray = _grayscale(images)
        return F.conv2d(gray, self.kernel.to(gray.dtype), padding=1)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The loss between the images ``fake`` and ``real``.

        Raises:
            ValueError: the images are not 4-D or differ in shape.
        """
        _check_images("Laplacian", fake, real)
        return (self.response(fake) - self.response(real)).abs().mean()


def vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features[:16]``, written out (same layers, same indices)."""
    layers: list[nn.Module] = []
    for spec in _VGG19_FEATURES:
        if spec == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(spec[0], spec[1], kernel_size=3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def hub_weights_path() -> Path:
    """Where torchvision keeps the VGG19 ImageNet weights: ``<torch hub dir>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_WEIGHTS_FILE


def _missing_weights_message(detail: str) -> str:
    return (f"VGGPerceptual needs torchvision's pretrained VGG19 weights (IMAGENET1K_V1, the "
            f"file {VGG19_WEIGHTS_FILE} from {VGG19_WEIGHTS_URL}); nothing is downloaded. "
            f"Put that file at {os.fspath(hub_weights_path())} (where torchvision keeps it), "
            f"or set the environment variable {VGG19_WEIGHTS_ENV} to its path, or pass "
            f"VGGPerceptual(weights_path=...). {detail}")


def find_vgg19_weights(weights_path: str | os.PathLike | None = None) -> Path:
    """The VGG19 weights file: ``weights_path``, else ``$NECTARGAN_VGG19_WEIGHTS``, else
    torchvision's copy (``hub_weights_path()``).

    Args:
        weights_path: an explicit path, or None to look in the other two places.

    Returns:
        The path of an existing file.

    Raises:
        FileNotFoundError: the chosen place holds no file; the message says where to put it.
        TypeError: ``weights_path`` is neither a path nor None.
    """
    if weights_path is not None and not isinstance(weights_path, (str, os.PathLike)):
        raise TypeError(f"weights_path must be a path (str or os.PathLike) or None, got "
                        f"{type(weights_path).__name__}: {weights_path!r}.")
    if weights_path is not None:
        path, source = Path(weights_path), "weights_path"
    elif os.environ.get(VGG19_WEIGHTS_ENV):
        path, source = Path(os.environ[VGG19_WEIGHTS_ENV]), f"${VGG19_WEIGHTS_ENV}"
    else:
        path, source = hub_weights_path(), "torchvision's checkpoint folder"
    if not path.is_file():
        raise FileNotFoundError(_missing_weights_message(
            f"No file at {os.fspath(path)!r} ({source})."))
    return path


def _load_features_state(path: Path) -> dict[str, torch.Tensor]:
    """The ``features.*`` entries of a VGG19 state dict file, keyed ``'0.weight'``, ...

    A full torchvision state dict (``features.N.*`` and ``classifier.*``) and a
    features-only one (``N.*``) are both accepted.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k.removeprefix("features."): v for k, v in state.items()
            if not k.startswith("classifier.")}


class VGGPerceptual(nn.Module):
    """Perceptual loss: L1 between VGG19 features of two images, summed over 3 slices.

    The features are torchvision's ``vgg19().features`` slices ``[0:4]``, ``[4:9]`` and
    ``[9:16]`` (frozen, in eval mode), each weighted 1.0; the inputs are not normalised.
    ``loss = sum_k layer_weights[k] * L1(f_k(fake), f_k(real))`` where ``f_k`` runs the
    slices up to ``k``. The ImageNet weights (IMAGENET1K_V1, ``vgg19-dcbb9e9d.pth``) are
    read from ``weights_path``, else from the file named by the environment variable
    ``NECTARGAN_VGG19_WEIGHTS``, else from torchvision's checkpoint folder
    (``torch.hub.get_dir()/checkpoints``, where torchvision saved them if it ever
    downloaded them); nothing is downloaded.

    Args:
        weights_path: the path of torchvision's VGG19 state dict, or None to look in the
            other two places.

    Attributes:
        blocks: the three slices (``nn.ModuleList``), with torchvision's layer indices.
        layer_weights: the weight of each slice's L1 term.
        L1: the ``nn.L1Loss`` applied to each slice's features.

    Raises:
        FileNotFoundError: no weights file; the message says where to put one.
        ValueError: the file lacks VGG19 feature weights.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        super().__init__()
        path = find_vgg19_weights(weights_path)
        features = vgg19_features()
        state = _load_features_state(path)
        expected = features.state_dict().keys()
        missing = sorted(k for k in expected if k not in state)
        if missing:
            raise ValueError(_missing_weights_message(
                f"The file {os.fspath(path)!r} lacks the VGG19 feature weights "
                f"{['features.' + k for k in missing]}."))
        features.load_state_dict({k: state[k] for k in expected})
        features.requires_grad_(False)
        self.blocks = nn.ModuleList(features[a:b] for a, b in _VGG_SLICES)
        self.layer_weights = [1.0] * len(_VGG_SLICES)
        self.L1 = nn.L1Loss()
        self.eval()

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The perceptual loss between the images ``fake`` and ``real``.

        Raises:
            ValueError: the images are not 4-D or differ in shape.
        """
        _check_images("VGGPerceptual", fake, real)
        loss = fake.new_zeros(())
        for block, weight in zip(self.blocks, self.layer_weights):
            fake, real = block(fake), block(real)
            loss = loss + weight * self.L1(fake, real)
        return loss
