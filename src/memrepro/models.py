"""Model registry: the architectures the papers train.

``MODELS[name](in_channels=..., num_classes=..., **kwargs)`` builds a fresh network;
every constructor takes a width knob so smoke runs keep the architecture's shape at
a fraction of its cost. Parameter counts at full width are checked in the tests.
The MLP lives in ``memrepro.mlp``, VGG-11 and the CCT in ``memrepro.vision_models``; they are
registered (and importable) here.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from memrepro.mlp import MLP, NO_REG, check_regularizers, drop_noise, mlp
from memrepro.specs import not_allowed
from memrepro.vision_models import cct, vgg11

__all__ = ["MLP", "MODELS", "ar_cnn", "cct", "count_parameters", "get_model", "inception_lite",
           "mlp", "register_model", "resnet18", "resnet32", "resnet_cifar", "vgg11"]

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    MODELS[fn.__name__] = fn
    return fn


def get_model(name: str, **kwargs) -> nn.Module:
    if name not in MODELS:
        raise KeyError(f"model: unknown name {name!r}; known: {sorted(MODELS)}")
    return MODELS[name](**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- ResNets for CIFAR (He et al. 2016, Sec. 4.2) -------------------------------------


class _ShortcutA(nn.Module):
    """Parameter-free shortcut ("option A"): subsample by 2 and zero-pad the channels."""

    def __init__(self, out_channels: int, in_channels: int):
        super().__init__()
        self.pad = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::2, ::2]
        return F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, shortcut: str = "B"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            if shortcut == "A":
                self.shortcut = _ShortcutA(cout, cin)
            else:  # "B": 1x1 projection
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, blocks: list[int], widths: list[int], in_channels: int,
                 num_classes: int, shortcut: str):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths, strict=True)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, w, stride, shortcut))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register_model
def resnet_cifar(depth: int = 32, width: int = 16, in_channels: int = 3,
                 num_classes: int = 10) -> nn.Module:
    """ResNet-(6n+2) of He et al. 2016 for 32x32 inputs: 3 stages of n basic blocks with
    width, 2*width, 4*width channels and parameter-free (option A) shortcuts."""
    if (depth - 2) % 6:
        raise ValueError(f"model.depth: {depth} is not 6n+2 (allowed: 8, 14, 20, 32, 44, 56, ...)")
    n = (depth - 2) // 6
    return ResNet([n] * 3, [width, 2 * width, 4 * width], in_channels, num_classes, "A")


@register_model
def resnet32(width: int = 16, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """ResNet-32 (He et al. 2016, Table 6; 0.46M parameters at width 16)."""
    return resnet_cifar(32, width, in_channels, num_classes)


@register_model
def resnet18(width: int = 64, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """ResNet-18 in its common small-image form: 3x3 stem without max-pool, four stages of
    two basic blocks (width .. 8*width), 1x1 projection shortcuts (11.2M params at 64)."""
    widths = [width, 2 * width, 4 * width, 8 * width]
    return ResNet([2, 2, 2, 2], widths, in_channels, num_classes, "B")


# --- Small Inception of Zhang et al. 2017 ("Inception-Lite" in Patel & Sastry) ----------


class _ConvBN(nn.Module):
    """Conv -> BatchNorm with a learned shift but no learned scale -> ReLU.

    Zhang et al. built this in TF-slim, whose batch norm defaults to ``center=True,
    scale=False`` and whose conv drops its bias when normalised; with exactly that,
    the parameter count is their reported 1,649,402 (Table 1), which the tests check.
    """

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding=(k - 1) // 2 if stride == 1 else 0,
                              bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, affine=False)
        self.shift = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)) + self.shift.view(1, -1, 1, 1))


class _Inception(nn.Module):
    """Concatenation of a 1x1 and a 3x3 conv module (Zhang et al. 2017, Fig. 3)."""

    def __init__(self, cin: int, c1: int, c3: int):
        super().__init__()
        self.b1, self.b3 = _ConvBN(cin, c1, 1), _ConvBN(cin, c3, 3)
        self.out_channels = c1 + c3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x)], 1)


class _Downsample(nn.Module):
    """Concatenation of a stride-2 3x3 conv module and a 3x3 stride-2 max-pool."""

    def __init__(self, cin: int, c3: int):
        super().__init__()
        self.conv = _ConvBN(cin, c3, 3, stride=2)
        self.out_channels = c3 + cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), F.max_pool2d(x, 3, 2)], 1)


class InceptionLite(nn.Module):
    # (kind, channels) of Zhang et al.'s small Inception, before width scaling
    PLAN = [("I", 32, 32), ("I", 32, 48), ("D", 80), ("I", 112, 48), ("I", 96, 64),
            ("I", 80, 80), ("I", 48, 96), ("D", 96), ("I", 176, 160), ("I", 176, 160)]

    def __init__(self, in_channels: int, num_classes: int, width: float):
        super().__init__()

        def s(c: int) -> int:
            return max(1, round(c * width))

        layers: list[nn.Module] = [_ConvBN(in_channels, s(96), 3)]
        cin = s(96)
        for kind, *ch in self.PLAN:
            block = (_Inception(cin, s(ch[0]), s(ch[1])) if kind == "I"
                     else _Downsample(cin, s(ch[0])))
            layers.append(block)
            cin = block.out_channels
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.body(x), 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register_model
def inception_lite(width: float = 1.0, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    """Zhang et al. 2017's small Inception (1.65M parameters at width 1)."""
    return InceptionLite(in_channels, num_classes, width)


# --- Arpit et al. 2017's small AlexNet-style CNN (their footnote 2) -------------------------
# Its Sec. 5 regularizers (where they act, how they draw): memrepro.mlp, shared with the MLP.


class ArpitCNN(nn.Module):
    """Crop(2,2) -> [Conv(width,5,5) -> BN -> ReLU -> MaxPool(3,3)] x 2 -> Dense(384) -> BN ->
    ReLU -> Dense(192) -> BN -> ReLU -> Dense(K), as listed in Arpit et al. 2017, footnote 2.

    The footnote gives no padding or pooling stride; Keras's defaults are taken (valid
    convolutions, pooling stride = pool size), which turn 32x32 CIFAR images into 28 -> 24 ->
    8 -> 4 -> 1 pixels and give 1,170,386 parameters at width 200 (checked in the tests).
    ``padding="same"`` keeps small stand-in images (16x16) from shrinking to nothing.
    Sec. 5 regularizers (see ``ar_cnn``): the input ones act right after the crop (a fixed
    slice, so the same as noising the whole input, without draws for discarded pixels); the
    hidden ones after each conv block's max-pool and after each dense hidden layer's ReLU.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int, width: int,
                 dense: tuple[int, int], padding: str, reg: dict[str, float] | None = None):
        super().__init__()
        self.reg = dict(reg or NO_REG)  # plain floats: no parameters, buffers or state_dict keys
        if padding not in ("valid", "same"):
            raise ValueError(not_allowed("model.padding", padding, "valid, same"))
        pad = 2 if padding == "same" else 0
        self.conv1 = nn.Conv2d(in_channels, width, 5, padding=pad)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 5, padding=pad)
        self.bn2 = nn.BatchNorm2d(width)
        side = image_size - 4  # Crop(2, 2)
        for _ in range(2):
            side = (side - 4 + 2 * pad) // 3
        if side < 1:
            raise ValueError(f"model: {image_size}x{image_size} inputs shrink to nothing in "
                             "ArpitCNN; use padding: same or larger images")
        self.fc1 = nn.Linear(width * side * side, dense[0])
        self.bn3 = nn.BatchNorm1d(dense[0])
        self.fc2 = nn.Linear(dense[0], dense[1])
        self.bn4 = nn.BatchNorm1d(dense[1])
        self.fc = nn.Linear(dense[1], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        r, t = self.reg, self.training

        def hid(h: torch.Tensor) -> torch.Tensor:  # Sec. 5: dropout / noise on hidden units
            return drop_noise(h, r["dropout"], r["hidden_noise"], t)

        x = drop_noise(x[..., 2:-2, 2:-2], r["input_dropout"], r["input_noise"], t)
        x = hid(F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3))
        x = hid(F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 3))
        x = hid(F.relu(self.bn3(self.fc1(torch.flatten(x, 1)))))
        return hid(F.relu(self.bn4(self.fc2(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


@register_model
def ar_cnn(width: int = 200, dense: list[int] | None = None, padding: str = "valid",
           in_channels: int = 3, image_size: int = 32, num_classes: int = 10,
           dropout: float = 0.0, input_dropout: float = 0.0, input_noise: float = 0.0,
           hidden_noise: float = 0.0) -> nn.Module:
    """The small AlexNet-style CNN of Arpit et al. 2017 (footnote 2) for CIFAR-10.

    Regularizers of their Sec. 5, all off at 0 (then the model is exactly the plain one):
    ``input_dropout`` (rate) and ``input_noise`` (Gaussian std, in units of the data's
    per-channel std) act on the normalised, cropped input; ``dropout`` (rate) and
    ``hidden_noise`` (std) act after both conv blocks' max-pools and both dense hidden ReLUs.
    Inverted dropout, then additive noise from torch's global RNG, in training mode only.
    Rates must lie in [0, 1), stds must be finite and >= 0."""
    reg = check_regularizers(dropout=dropout, input_dropout=input_dropout,
                              input_noise=input_noise, hidden_noise=hidden_noise)
    d = tuple(dense or (384, 192))
    return ArpitCNN(in_channels, num_classes, image_size, width, (d[0], d[1]), padding, reg)


# --- The MLP (memrepro.mlp), VGG-11 and the compact transformer (memrepro.vision_models) ------

register_model(mlp)
register_model(vgg11)
register_model(cct)
