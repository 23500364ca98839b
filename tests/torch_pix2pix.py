"""A PyTorch twin of NectarGAN v0.2.3's pix2pix models (NCHW), for parity tests.

Written independently from the architecture described in ``nectargan_jax/models``'s
docstrings, with the reference's parameter names (``initial_down.conv.0.weight``,
``ups.3.residual.0.bias``, ``model.2.conv.0.weight``, ...), so that a state_dict moves
between the twin, the reference and ``nectargan_jax.models`` unchanged. It was checked
against the reference itself by ``fixtures/make_reference_fixtures.py`` (``check_twin``):
the same state_dict names, order and shapes, and the same outputs (largest difference
0.0, eval and train mode) for the five configs of the fixtures.
The training-step benchmark times the same architecture in PyTorch with it.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(norm: str | None, channels: int) -> nn.Module:
    if norm is None:
        return nn.Identity()
    return nn.InstanceNorm2d(channels) if norm == "instance" else nn.BatchNorm2d(channels)


def _activation(kind: str) -> nn.Module:
    return {"leaky": nn.LeakyReLU(0.2), "relu": nn.ReLU(), "tanh": nn.Tanh()}[kind]


class TorchBlock(nn.Module):
    """Main path ``conv`` (convolution(s), norm, activation), optional ``residual``, dropout."""

    def __init__(self, cin: int, cout: int, *, down: bool, upsample_type: str,
                 norm: str | None, activation: str, bias: bool, dropout: bool,
                 residual: bool):
        super().__init__()
        if down:
            layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=bias, padding_mode="reflect")]
        elif upsample_type == "Transposed":
            layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=bias)]
        else:
            layers = [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                      nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
        self.conv = nn.Sequential(*layers, _norm(norm, cout), _activation(activation))
        self.residual = None
        if residual and down:
            self.residual = nn.Sequential(nn.Conv2d(cin, cout, 1, 2), nn.ReLU())
        elif residual and cin != cout:
            self.residual = nn.Sequential(nn.ConvTranspose2d(cin, cout, 1, 2, output_padding=1),
                                          nn.ReLU())
        elif residual:
            self.residual = nn.Sequential(nn.Identity())
        self.dropout = nn.Dropout(0.5) if dropout else None

    def forward(self, x):
        y = self.conv(x)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.dropout(y) if self.dropout is not None else y


class TorchUnet(nn.Module):
    """The U-Net generator: ``cin`` -> ``cout`` channels, NCHW."""

    def __init__(self, cin: int, cout: int, features: int, n_downs: int,
                 block_type: str = "UnetBlock", upsample_type: str = "Transposed",
                 norm: str = "instance", n_dropout: int = 3):
        super().__init__()

        def block(i, o, *, down, norm=None, activation, bias=False, dropout=False):
            return TorchBlock(i, o, down=down, upsample_type=upsample_type, norm=norm,
                              activation=activation, bias=bias, dropout=dropout,
                              residual=block_type == "ResidualUnetBlock")

        chans = [features]
        for _ in range(n_downs):
            chans.append(min(2 * chans[-1], 8 * features))
        deep = chans[-1]
        self.initial_down = block(cin, features, down=True, activation="leaky", bias=True)
        self.downs = nn.ModuleList(block(chans[i], chans[i + 1], down=True, norm=norm,
                                         activation="leaky") for i in range(n_downs))
        self.bottleneck = block(deep, deep, down=True, activation="relu", bias=True)
        ups = [(deep, deep)] + [(2 * chans[i + 1], chans[i]) for i in reversed(range(n_downs))]
        self.ups = nn.ModuleList(block(i, o, down=False, norm=norm, activation="relu",
                                       dropout=k < n_dropout) for k, (i, o) in enumerate(ups))
        self.final_up = block(2 * features, cout, down=False, activation="tanh", bias=True)

    def forward(self, x):
        x = self.initial_down(x)
        skips = [x]
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[0](self.bottleneck(x))
        for up, skip in zip(self.ups[1:], reversed(skips[1:])):
            x = up(torch.cat([x, skip], 1))
        return self.final_up(torch.cat([x, skips[0]], 1))


class TorchPatchBlock(nn.Module):
    """4x4 reflect conv without bias, norm, LeakyReLU(0.2), as ``conv``."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cin, cout, 4, stride, 1, bias=False, padding_mode="reflect"),
            _norm(norm, cout), nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.conv(x)


class TorchPatchGAN(nn.Module):
    """The PatchGAN on an NCHW batch of ``cin`` channels (input and target concatenated)."""

    def __init__(self, cin: int, n_layers: int, base: int, maximum: int,
                 norm: str = "instance"):
        super().__init__()
        layers = [nn.Conv2d(cin, base, 4, 2, 1, padding_mode="reflect"), nn.LeakyReLU(0.2)]
        channels = base
        for i in range(1, n_layers):
            out = min(2 * channels, maximum)
            layers.append(TorchPatchBlock(channels, out, 1 if i == n_layers - 1 else 2, norm))
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, 1, 1, padding_mode="reflect"))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)
