"""VGG-11 and the compact convolutional transformer, with optional turn-over dropout (TOD).

Registered in ``memrepro.models.MODELS`` (this module imports nothing from it, so there is no
cycle). A TOD model (``tod=True``; Kobayashi et al. 2020, LLJ Sec. 2.2 and App. B) has
``tod_widths`` (one entry per masked layer) and a bias-free classifier, and its ``forward(x,
masks)`` multiplies the output of each masked layer by ``masks[l]`` of shape (B, width_l), with
values in {0, 2} (``memrepro.papers.llj.tod.tod_masks``); ``masks=None`` is the full network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from memrepro.specs import not_allowed


def check_masks(model: nn.Module, masks: Sequence[torch.Tensor] | None) -> None:
    """Masks only for a TOD model, one per entry of its ``tod_widths``, each (..., width)."""
    if masks is None:
        return
    widths = getattr(model, "tod_widths", None)
    if widths is None:
        raise ValueError(f"masks: given to a {type(model).__name__} built without tod; allowed: "
                         "masks=None, or build the model with tod: true")
    got = [int(m.shape[-1]) for m in masks]
    if got != list(widths):
        raise ValueError(f"masks: widths {got} do not match the model's tod_widths {widths}")


def unit_mask(h: torch.Tensor, masks: Sequence[torch.Tensor] | None, i: int) -> torch.Tensor:
    """``h`` (..., B, d) times ``masks[i]`` ((..., B, d)); unchanged without masks."""
    return h if masks is None else h * masks[i]


def channel_mask(h: torch.Tensor, masks: Sequence[torch.Tensor] | None, i: int) -> torch.Tensor:
    """Spatial TOD (LLJ App. B): whole feature maps of ``h`` (B, C, H, W) zeroed or doubled."""
    return h if masks is None else h * masks[i][:, :, None, None]


# --- VGG-11 for 32x32 images, without batch norm (Simonyan & Zisserman 2015, config A) ------

VGG11_PLAN = (1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M")  # channels in units of width


class VGG(nn.Module):
    """3x3 convolutions (padding 1) + ReLU with 2x2 max-pools (``M``; a pool is skipped once
    the side is 1, so small stand-in images work), flattened into one linear classifier."""

    def __init__(self, plan: Sequence[int | str], width: int, in_channels: int, image_size: int,
                 num_classes: int, tod: bool = False):
        super().__init__()
        convs, pools, cin, side = [], [], in_channels, image_size
        for item in plan:
            if item == "M":
                if side > 1 and convs:
                    pools[-1], side = True, side // 2
                continue
            convs.append(nn.Conv2d(cin, int(item) * width, 3, padding=1))
            pools.append(False)
            cin = int(item) * width
        self.convs = nn.ModuleList(convs)
        self.pool_after = tuple(pools)
        self.fc = nn.Linear(cin * side * side, num_classes, bias=not tod)
        if tod:
            self.tod_widths = [c.out_channels for c in convs]
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor, masks: Sequence[torch.Tensor] | None = None):
        check_masks(self, masks)
        for i, conv in enumerate(self.convs):
            x = channel_mask(F.relu(conv(x)), masks, i)
            if self.pool_after[i]:
                x = F.max_pool2d(x, 2)
        return torch.flatten(x, 1)

    def forward(self, x: torch.Tensor, masks: Sequence[torch.Tensor] | None = None):
        return self.fc(self.features(x, masks))


def vgg11(width: int = 64, in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
          tod: bool = False) -> nn.Module:
    """CIFAR VGG-11 without batch norm (LLJ App. A): channels w, 2w, 4w, 4w, 8w x 4, one
    Linear(8w, classes) on 32x32 inputs (9,225,610 parameters at width 64). With ``tod``: a
    channel mask after every conv's ReLU (8 masked layers), classifier without bias."""
    if int(width) < 1:
        raise ValueError(not_allowed("model.width", width, "an int >= 1"))
    return VGG(VGG11_PLAN, int(width), in_channels, image_size, num_classes, tod)


# --- Compact convolutional transformer (Hassani et al. 2021) -------------------------------


class _SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention over tokens (B, N, D)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(
            2, 0, 3, 1, 4).unbind(0)  # each (B, heads, N, d_head)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, d))


class _EncoderBlock(nn.Module):
    """Pre-norm transformer block; a TOD mask acts on the MLP's hidden units, every token of
    an example with the same mask."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), _SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        h = F.gelu(self.fc1(self.norm2(x)))
        if mask is not None:
            h = h * mask[:, None, :]
        return x + self.fc2(h)


class CCT(nn.Module):
    """Convolutional tokenizer -> learned positions -> encoder blocks -> LayerNorm ->
    sequence pooling (softmax-weighted mean of the tokens) -> linear classifier."""

    def __init__(self, layers: int, heads: int, mlp_ratio: float, dim: int, conv_layers: int,
                 kernel: int, in_channels: int, image_size: int, num_classes: int, tod: bool):
        super().__init__()
        channels = [in_channels] + [64] * (conv_layers - 1) + [dim]
        self.tokenizer = nn.ModuleList(
            nn.Conv2d(a, b, kernel, padding=kernel // 2, bias=False)
            for a, b in zip(channels, channels[1:], strict=False))
        side = image_size
        for _ in range(conv_layers):
            side = (side - 1) // 2 + 1  # max-pool 3, stride 2, padding 1
        hidden = int(dim * mlp_ratio)
        self.positions = nn.Parameter(torch.zeros(side * side, dim))
        self.blocks = nn.ModuleList(_EncoderBlock(dim, heads, hidden) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.pool = nn.Linear(dim, 1)
        self.fc = nn.Linear(dim, num_classes, bias=not tod)
        if tod:
            self.tod_widths = channels[1:] + [hidden] * layers
        self._init()

    def _init(self) -> None:
        nn.init.trunc_normal_(self.positions, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor, masks: Sequence[torch.Tensor] | None = None):
        check_masks(self, masks)
        for i, conv in enumerate(self.tokenizer):
            x = F.max_pool2d(channel_mask(F.relu(conv(x)), masks, i), 3, 2, 1)
        x = torch.flatten(x, 2).transpose(1, 2) + self.positions  # (B, N, D)
        n = len(self.tokenizer)
        for j, block in enumerate(self.blocks):
            x = block(x, None if masks is None else masks[n + j])
        x = self.norm(x)
        weights = torch.softmax(self.pool(x), dim=1)  # (B, N, 1)
        return (weights * x).sum(1)

    def forward(self, x: torch.Tensor, masks: Sequence[torch.Tensor] | None = None):
        return self.fc(self.features(x, masks))


def cct(layers: int = 2, heads: int = 2, mlp_ratio: float = 1, dim: int = 128,
        conv_layers: int = 2, kernel: int = 3, in_channels: int = 1, image_size: int = 28,
        num_classes: int = 10, tod: bool = False) -> nn.Module:
    """Compact convolutional transformer (Hassani et al. 2021), CCT-2/3x2 by default (LLJ Fig.
    9b): ``conv_layers`` x [conv kernel x kernel (stride 1, same padding, no bias), ReLU,
    max-pool 3/2/1] with 64 inner channels and ``dim`` last; ``layers`` pre-norm blocks (``heads``
    heads, qkv without bias, GELU MLP of dim * mlp_ratio units); no dropout or stochastic
    depth. With ``tod``: channel masks after each tokenizer ReLU, a hidden-unit mask in every
    block's MLP, classifier without bias."""
    for key, v, low in (("layers", layers, 0), ("heads", heads, 1), ("dim", dim, 1),
                        ("conv_layers", conv_layers, 1), ("kernel", kernel, 1)):
        if not isinstance(v, int) or v < low:
            raise ValueError(not_allowed(f"model.{key}", v, f"an int >= {low}"))
    if kernel % 2 == 0:
        raise ValueError(not_allowed("model.kernel", kernel, "an odd int"))
    if dim % heads:
        raise ValueError(f"model.dim: {dim} is not divisible by model.heads {heads}")
    if not mlp_ratio > 0 or int(dim * mlp_ratio) < 1:
        raise ValueError(not_allowed("model.mlp_ratio", mlp_ratio, "> 0 with dim * mlp_ratio >= 1"))
    return CCT(layers, heads, mlp_ratio, dim, conv_layers, kernel, in_channels, image_size,
               num_classes, tod)
