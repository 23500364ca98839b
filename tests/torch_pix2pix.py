"""The pix2pix models written independently in plain PyTorch (NCHW), and weight porting.

Written from the layout in ``nectargan_jax/models`` docstrings (and the reference's
PyTorch layers), so tests can check the Flax models against it and the training-step
benchmark can time the same architecture in PyTorch. ``copy_unet`` and
``copy_patchgan`` copy every parameter (and BatchNorm running statistics) across.
"""

from __future__ import annotations

import numpy as np
import torch
from flax import nnx
from torch import nn

from nectargan_jax.models._layers import TransposedConv4x4
from nectargan_jax.models._layers import ZeroInterleave1x1


def _norm(norm: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.InstanceNorm2d(channels)


def _up(cin: int, cout: int, upsample_type: str, bias: bool) -> nn.Module:
    if upsample_type == "Transposed":
        return nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         nn.Conv2d(cin, cout, 3, 1, 1, bias=bias, padding_mode="reflect"))


class TorchDown(nn.Module):
    def __init__(self, cin: int, cout: int, norm: str, residual: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 4, 2, 1, bias=False, padding_mode="reflect")
        self.norm = _norm(norm, cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, 2) if residual else None

    def forward(self, x):
        y = nn.functional.leaky_relu(self.norm(self.conv(x)), 0.2)
        return y + torch.relu(self.shortcut(x)) if self.shortcut is not None else y


class TorchUp(nn.Module):
    def __init__(self, cin: int, cout: int, upsample_type: str, norm: str, dropout: bool,
                 residual: bool):
        super().__init__()
        self.up = _up(cin, cout, upsample_type, bias=False)
        self.norm = _norm(norm, cout)
        self.shortcut = (nn.ConvTranspose2d(cin, cout, 1, 2, output_padding=1)
                         if residual else None)
        self.dropout = nn.Dropout(0.5) if dropout else None

    def forward(self, x):
        y = torch.relu(self.norm(self.up(x)))
        if self.shortcut is not None:
            y = y + torch.relu(self.shortcut(x))
        return self.dropout(y) if self.dropout is not None else y


class TorchUnet(nn.Module):
    def __init__(self, cin: int, cout: int, features: int, n_downs: int,
                 block_type: str = "UnetBlock", upsample_type: str = "Transposed",
                 norm: str = "batch", n_dropout: int = 3):
        super().__init__()
        residual = block_type == "ResidualUnetBlock"
        self.initial_down = nn.Conv2d(cin, features, 4, 2, 1, padding_mode="reflect")
        chans = [features]
        for _ in range(n_downs):
            chans.append(min(2 * chans[-1], 8 * features))
        self.downs = nn.ModuleList(TorchDown(chans[i], chans[i + 1], norm, residual)
                                   for i in range(n_downs))
        self.bottleneck = nn.Conv2d(chans[-1], chans[-1], 3, 1, 1, padding_mode="reflect")
        self.ups = nn.ModuleList(
            TorchUp(2 * chans[i + 1], chans[i], upsample_type, norm, k < n_dropout, residual)
            for k, i in enumerate(reversed(range(n_downs))))
        self.final_up = _up(2 * features, cout, upsample_type, bias=True)

    def forward(self, x):
        x = nn.functional.leaky_relu(self.initial_down(x), 0.2)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = torch.relu(self.bottleneck(x))
        for up, skip in zip(self.ups, reversed(skips[1:])):
            x = up(torch.cat([x, skip], 1))
        return torch.tanh(self.final_up(torch.cat([x, skips[0]], 1)))


class TorchPatchGAN(nn.Module):
    def __init__(self, cin: int, n_layers: int, base: int, maximum: int, norm: str = "batch"):
        super().__init__()
        layers = [nn.Conv2d(cin, base, 4, 2, 1, padding_mode="reflect"), nn.LeakyReLU(0.2)]
        channels = base
        for i in range(1, n_layers):
            out = min(2 * channels, maximum)
            layers += [nn.Conv2d(channels, out, 4, 1 if i == n_layers - 1 else 2, 1, bias=False,
                                 padding_mode="reflect"), _norm(norm, out), nn.LeakyReLU(0.2)]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1, padding_mode="reflect"))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))


def _conv(flax_conv: nnx.Module, torch_conv: nn.Module) -> None:
    """Flax ``(kh, kw, in, out)`` -> PyTorch ``(out, in, kh, kw)``; a transposed convolution
    (Flax's ``ConvTranspose`` convention) holds PyTorch's ``(in, out, kh, kw)`` kernel flipped
    in space."""
    kernel = np.asarray(flax_conv.kernel[...])
    if isinstance(flax_conv, (nnx.ConvTranspose, TransposedConv4x4, ZeroInterleave1x1)):
        assert isinstance(torch_conv, nn.ConvTranspose2d)
        weight = kernel[::-1, ::-1].transpose(2, 3, 0, 1)
    else:
        assert type(torch_conv) is nn.Conv2d
        weight = kernel.transpose(3, 2, 0, 1)
    assert tuple(torch_conv.weight.shape) == weight.shape
    torch_conv.weight.copy_(_tensor(weight))
    assert (getattr(flax_conv, "bias", None) is None) == (torch_conv.bias is None)
    if flax_conv.bias is not None:
        torch_conv.bias.copy_(_tensor(flax_conv.bias[...]))


def _norm_params(flax_norm: nnx.Module, torch_norm: nn.Module) -> None:
    if isinstance(flax_norm, nnx.BatchNorm):
        torch_norm.weight.copy_(_tensor(flax_norm.scale[...]))
        torch_norm.bias.copy_(_tensor(flax_norm.bias[...]))
        torch_norm.running_mean.copy_(_tensor(flax_norm.mean[...]))
        torch_norm.running_var.copy_(_tensor(flax_norm.var[...]))


def _upconv(flax_up: nnx.Module, torch_up: nn.Module) -> None:
    if flax_up.upsample_type == "Transposed":
        _conv(flax_up.conv, torch_up)
    else:
        _conv(flax_up.conv.conv, torch_up[1])


def copy_unet(flax_model: nnx.Module, torch_model: TorchUnet) -> None:
    """Copies a ``UnetGenerator``'s parameters and BatchNorm statistics into ``TorchUnet``."""
    with torch.no_grad():
        _conv(flax_model.initial_down.conv, torch_model.initial_down)
        for fd, td in zip(flax_model.downs, torch_model.downs, strict=True):
            _conv(fd.conv.conv, td.conv)
            _norm_params(fd.norm, td.norm)
            if fd.shortcut is not None:
                _conv(fd.shortcut, td.shortcut)
        _conv(flax_model.bottleneck.conv, torch_model.bottleneck)
        for fu, tu in zip(flax_model.ups, torch_model.ups, strict=True):
            _upconv(fu.up, tu.up)
            _norm_params(fu.norm, tu.norm)
            if fu.shortcut is not None:
                _conv(fu.shortcut, tu.shortcut)
        _upconv(flax_model.final_up, torch_model.final_up)


def copy_patchgan(flax_model: nnx.Module, torch_model: TorchPatchGAN) -> None:
    """Copies a ``PatchGANDiscriminator``'s parameters into ``TorchPatchGAN``."""
    layers = list(torch_model.model)
    with torch.no_grad():
        _conv(flax_model.first.conv, layers[0])
        for k, block in enumerate(flax_model.blocks):
            _conv(block.conv.conv, layers[2 + 3 * k])
            _norm_params(block.norm, layers[3 + 3 * k])
        _conv(flax_model.last.conv, layers[-1])
