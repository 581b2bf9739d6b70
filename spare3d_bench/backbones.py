"""Image backbones shared by every model in the project: VGG, ResNet and BagNet.

`make_backbone(name, in_channels, out_features)` returns a module mapping
(B, in_channels, H, W) float images to (B, out_features). Weights are random unless the
caller passes a local ImageNet checkpoint (nothing is downloaded at run time); its first
convolution is adapted to stacks of RGB or grey images (see `make_backbone`).
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Callable

import torch
from torch import nn

from .inputs import LUMA


def _vgg(depth: int) -> Callable[[int], nn.Module]:
    def build(out_features: int) -> nn.Module:
        from torchvision import models

        return getattr(models, f"vgg{depth}")(weights=None, num_classes=out_features)

    return build


def _resnet(depth: int) -> Callable[[int], nn.Module]:
    def build(out_features: int) -> nn.Module:
        from torchvision import models

        return getattr(models, f"resnet{depth}")(weights=None, num_classes=out_features)

    return build


class _BagBottleneck(nn.Module):
    """ResNet bottleneck whose middle convolution is 1x1 or an unpadded 3x3, so each
    output sees a bounded patch; the shortcut is cropped to the smaller output."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, kernel: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel, stride=stride, padding=0, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        skip = x if self.downsample is None else self.downsample(x)
        if skip.shape[-1] != y.shape[-1]:  # unpadded 3x3: keep the shortcut's top-left block
            skip = skip[..., : y.shape[-2], : y.shape[-1]]
        return self.relu(y + skip)


class BagNet(nn.Module):
    """BagNet (Brendel & Bethge, ICLR 2019): a ResNet-50 whose 3x3 convolutions are
    replaced by 1x1 ones except in the first `kernel3[i]` blocks of stage i, so every
    spatial output sees only a q x q patch (q = 33 for kernel3 = (1, 1, 1, 1)); class
    evidence is averaged over patches. A stem of a 1x1 and an unpadded 3x3 convolution,
    stage strides (2, 2, 2, 1), blocks (3, 4, 6, 3)."""

    def __init__(self, out_features: int, kernel3=(1, 1, 1, 1), blocks=(3, 4, 6, 3), strides=(2, 2, 2, 1)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 1, bias=False)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=0.001)
        self.relu = nn.ReLU(inplace=True)
        stages, inplanes = [], 64
        for i, (n, stride, k3) in enumerate(zip(blocks, strides, kernel3)):
            planes = 64 * 2**i
            layers = []
            for j in range(n):
                layers.append(_BagBottleneck(inplanes, planes, stride if j == 0 else 1, 3 if j < k3 else 1))
                inplanes = planes * _BagBottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(inplanes, out_features)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, out_features, h, w): the evidence of each image patch."""
        x = self.relu(self.bn1(self.conv2(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.einsum("bchw,oc->bohw", x, self.fc.weight) + self.fc.bias[:, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_logits(x).mean(dim=(2, 3))


BACKBONES: dict[str, Callable[[int], nn.Module]] = {
    "vgg13": _vgg(13),
    "vgg16": _vgg(16),
    "vgg19": _vgg(19),
    "resnet18": _resnet(18),
    "resnet50": _resnet(50),
    "bagnet33": lambda out_features: BagNet(out_features),
}


def _first_conv(model: nn.Module) -> tuple[nn.Module, str]:
    """The module owning the first convolution and that convolution's attribute name."""
    if hasattr(model, "features"):  # VGG: features[0]; MobileNet, EfficientNet: the stem, features[0][0]
        return (model.features, "0") if isinstance(model.features[0], nn.Conv2d) else (model.features[0], "0")
    return model, "conv1"  # ResNet, BagNet


def read_tensor_file(path: str | os.PathLike, what: str, mmap: bool = False):
    """torch.load with weights_only=True (tensors and plain values, never objects); `mmap`
    maps the tensors instead of reading them (for a look at a checkpoint's plain values).

    Any failure is the file's fault (missing, truncated, not a torch file, a pickle that
    would build objects: the restricted unpickler raises KeyError, UnpicklingError and
    others), so each becomes one ValueError line naming the file and `what` it should be.
    """
    try:
        with warnings.catch_warnings():  # torch's note on foreign pickle protocols: the error says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    except Exception as e:  # noqa: BLE001 - see the docstring
        text = " ".join(str(e).split())
        if isinstance(e, pickle.UnpicklingError):
            detail = text.partition("WeightsUnpickler error:")[2].partition(" Check the documentation")[0].rstrip(".").strip()
            reason = f"holds something other than tensors, refused ({detail or 'weights_only'})"
        else:
            reason = f"not a torch tensor file ({text[:160] or 'unreadable'})"
        raise ValueError(f"{path}: cannot read the {what}: {reason}") from None


def make_backbone(
    name: str, in_channels: int, out_features: int, weights: str | os.PathLike | dict | None = None,
    image_channels: int = 3,
) -> nn.Module:
    """Backbone `name` with `in_channels` inputs (images of `image_channels` each, stacked)
    and `out_features` outputs.

    `weights`: optional local torchvision/BagNet ImageNet state dict (loaded with
    weights_only=True). The classifier's last layer is left at random init. The first
    convolution sees each stacked image through the pretrained filters, averaged over the
    images so activations keep their scale (`first_conv_weight`: RGB filters, or a grey
    run's filters, for grey or RGB images).
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r} (use {', '.join(BACKBONES)})")
    if image_channels not in (1, 3) or in_channels % image_channels:
        raise ValueError(f"{in_channels} input channels are not a stack of {image_channels}-channel images")
    model = BACKBONES[name](out_features)
    owner, attr = _first_conv(model)
    old: nn.Conv2d = getattr(owner, attr)
    if weights is not None:
        _load_pretrained(model, weights)
        old = getattr(owner, attr)
    if in_channels != old.in_channels or (weights is not None and image_channels != old.in_channels):
        setattr(owner, attr, _stacked_conv(old, in_channels, image_channels, pretrained=weights is not None))
    return model


def first_conv_weight(weight: torch.Tensor, image_channels: int, images: int = 1) -> torch.Tensor:
    """A pretrained first convolution's weight (O, 1 or 3, k, k) for a stack of `images`
    images of `image_channels` channels each: (O, images * image_channels, k, k).

    Each image sees the pretrained filters, averaged over the images so activations keep
    their scale. Between grey and RGB the filters keep what they compute: RGB filters give
    a grey image (R = G = B) their sum; a grey filter gives an RGB image its luma's
    share per channel (the BT.601 weights `inputs` makes grey drawings with, which add up
    to one), so it answers an RGB drawing exactly as it answered that drawing in grey."""
    own = weight.shape[1]
    if own == image_channels:
        per_image = weight
    elif own == 3 and image_channels == 1:
        per_image = weight.sum(1, keepdim=True)
    elif own == 1 and image_channels == 3:
        per_image = weight * weight.new_tensor(LUMA).view(1, 3, 1, 1)
    else:
        raise ValueError(f"a first convolution of {own} input channels cannot read {image_channels}-channel images")
    return per_image.repeat(1, images, 1, 1) / images


def _stacked_conv(old: nn.Conv2d, in_channels: int, image_channels: int, pretrained: bool) -> nn.Conv2d:
    """`old`'s shape with `in_channels` inputs: random, or (`pretrained`) its weights
    spread over the stacked images by `first_conv_weight`."""
    new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=old.bias is not None)
    if pretrained:
        with torch.no_grad():
            new.weight.copy_(first_conv_weight(old.weight, image_channels, in_channels // image_channels))
            if old.bias is not None:
                new.bias.copy_(old.bias)
    return new


def _load_pretrained(model: nn.Module, path: str | os.PathLike | dict, what: str = "this backbone") -> None:
    """Load an ImageNet state dict (a file, or a dict already read: a pretrained run's
    encoder), skipping the final classifier (its size differs). A first convolution
    trained on grey drawings (one input channel) replaces the model's RGB one. `what`
    names the network in the error when the weights are another's."""
    state = path if isinstance(path, dict) else read_tensor_file(path, "pretrained weights")
    if isinstance(path, dict):
        path = "the pretrained encoder"
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not weights for {what} (a {type(state).__name__}, not a state dict)")
    owner, attr = _first_conv(model)
    conv: nn.Conv2d = getattr(owner, attr)
    key = next(n for n, m in model.named_modules() if m is conv) + ".weight"
    theirs = state.get(key)
    if isinstance(theirs, torch.Tensor) and theirs.dim() == 4 and theirs.shape[1] != conv.in_channels:
        setattr(owner, attr, nn.Conv2d(theirs.shape[1], conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                       bias=conv.bias is not None))
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in usable and not k.startswith(("fc.", "classifier.6."))]
    if missing:
        raise ValueError(f"{path}: not weights for {what} ({len(missing)} tensors missing, e.g. {missing[0]})")
    model.load_state_dict(usable, strict=False)


#: torchvision's VGG configurations by depth (channel counts and 'M' for max-pooling).
_VGG_CFG = {13: "B", 16: "D", 19: "E"}


class Encoder(nn.Module):
    """A backbone's convolutional trunk as a feature extractor: (B, C, H, W) floats ->
    (B, out_features). `stages` are the modules whose outputs the attention maps show
    (VGG: each max-pooling; ResNet and BagNet: layer1..layer4)."""

    def __init__(self, trunk: nn.Module, stages: list[nn.Module], pool: nn.Module, out_features: int) -> None:
        super().__init__()
        self.trunk, self.pool, self.out_features = trunk, pool, out_features
        self._stages = stages  # not registered twice: they live inside `trunk`

    @property
    def stages(self) -> list[nn.Module]:
        return self._stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.trunk(x)).flatten(1)


class _ResNetTrunk(nn.Module):
    """A torchvision ResNet without its pooling and classifier."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))


def make_encoder(
    name: str,
    in_channels: int,
    image_channels: int = 3,
    width: float = 1.0,
    pool: bool = True,
    size: int | None = None,
    weights: str | os.PathLike | None = None,
) -> Encoder:
    """The trunk of backbone `name` for stacks of `in_channels` (images of `image_channels`).

    VGG: the convolutions (channel counts times `width`: 0.75, 0.875, 1 and 2 give the
    2022 paper's 384, 448, 512 and 1024 last-stage channels), then, if `pool`, adaptive
    average pooling to 6 x 6 (the grid VGG leaves at 200 px, whatever the input side),
    else the map as it is (its size follows the input: `size` is needed). ResNet: the
    trunk, then global average pooling if `pool`, else the flattened map. `weights`: a
    local ImageNet state dict (width 1 only), its first convolution adapted as in
    `make_backbone`."""
    if not 0.25 <= width <= 4:
        raise ValueError(f"width multiplier must be from 0.25 to 4, got {width}")
    if not pool and size is None:
        raise ValueError("an encoder without adaptive pooling needs the input size")
    if name.startswith("vgg"):
        depth = int(name[3:])
        if weights is not None:  # loaded by name into the whole torchvision model, then its trunk
            if width != 1.0:
                raise ValueError(f"ImageNet weights fit width 1 only, not {width}")
            trunk = make_backbone(name, in_channels, 1, weights, image_channels).features
        else:  # the trunk alone: the classifier (100M weights for VGG-16) would be dropped anyway
            from torchvision.models.vgg import cfgs, make_layers

            cfg = [v if v == "M" else max(1, round(v * width)) for v in cfgs[_VGG_CFG[depth]]]
            trunk = make_layers(cfg)
            trunk[0] = nn.Conv2d(in_channels, trunk[0].out_channels, 3, padding=1)
            for m in trunk:  # torchvision's VGG initialisation
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
        stages = [m for m in trunk if isinstance(m, nn.MaxPool2d)]
        head: nn.Module = nn.AdaptiveAvgPool2d(6) if pool else nn.Identity()
    elif name.startswith("resnet"):
        if width != 1.0:
            raise ValueError(f"the width multiplier is for VGG encoders, not {name}")
        trunk = _ResNetTrunk(make_backbone(name, in_channels, 1, weights, image_channels))
        stages = [trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4]
        head = nn.AdaptiveAvgPool2d(1) if pool else nn.Identity()
    else:
        raise ValueError(f"encoders are VGG or ResNet ({', '.join(b for b in BACKBONES if b != 'bagnet33')}), not {name!r}")
    side = size or 64
    with torch.no_grad():  # the feature count, from a dry run at the input size
        probe = head(trunk.eval()(torch.zeros(1, in_channels, side, side))).flatten(1).shape[1]
    trunk.train()
    return Encoder(trunk, stages, head, probe)


#: Backbones a per-drawing feature encoder (self-supervised pretraining) can be built on,
#: with their feature counts: the task models' ResNets, and the small students of DisCo.
FEATURE_BACKBONES = {"resnet18": 512, "resnet50": 2048, "mobilenet_v3_large": 960, "efficientnet_b0": 1280}


def make_feature_encoder(name: str, channels: int = 3, weights: str | os.PathLike | dict | None = None) -> nn.Module:
    """A torchvision network without its classifier: (B, channels, H, W) -> (B, features),
    `FEATURE_BACKBONES[name]` features, globally pooled. Its state dict keeps torchvision's
    names (the classifier left out), so that it initialises a task model's backbones as an
    ImageNet file would (`make_backbone(..., weights=state)`)."""
    if name not in FEATURE_BACKBONES:
        raise ValueError(f"unknown feature encoder {name!r} (use {', '.join(FEATURE_BACKBONES)})")
    from torchvision import models

    net = getattr(models, name)(weights=None)
    if name.startswith("resnet"):
        net.fc = nn.Identity()
    else:  # MobileNet-v3, EfficientNet
        net.classifier = nn.Identity()
    if weights is not None:
        _load_pretrained(net, weights, name)
    owner, attr = _first_conv(net)
    first = getattr(owner, attr)
    if channels != first.in_channels:
        setattr(owner, attr, _stacked_conv(first, channels, channels, pretrained=weights is not None))
    return net
