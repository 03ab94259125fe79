"""Classifiers to explain: building, loading and saving them, offline only.

``load_classifier`` builds any torchvision classification architecture (or ICE Lab's own
small ResNet for the synthetic dataset) and fills it with random weights, torchvision
weights already in the local torch hub cache, or a local checkpoint. It never touches the
network. The returned model is in eval mode and carries its preprocessing in
``model.icelab_meta`` (see :func:`classifier_meta`). :func:`save_checkpoint` writes a
model in the checkpoint format of :mod:`explainers.ice.checkpoints`.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn
from torchvision import transforms
from torchvision.models import WeightsEnum
from torchvision.models.resnet import BasicBlock, ResNet

from .checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    _atomic_torch_save,
    _checked_checkpoint,
    _torch_load,
    is_icelab_checkpoint,
    library_versions,
)
from .devices import resolve_device

DEFAULT_ARCH = "icelab_resnet"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


class WeightsNotAvailableError(FileNotFoundError):
    """Torchvision weights were asked for but their file is not in the local hub cache."""


class IcelabResNet(ResNet):
    """A torchvision ResNet sized for small images (the synthetic dataset, 96 px).

    Same top-level structure as torchvision's ResNet (``conv1 bn1 relu maxpool layer1..4
    avgpool fc``) and the same ``forward``, so code that finds the GAP + linear head
    after ``layer4`` treats it like ResNet-50. Differences, all to keep concept maps
    large on small inputs at a CPU-friendly cost: a 3×3 stride-2 stem with no max-pool,
    narrower stages (``widths``) and ``layer4`` at stride 1, so ``layer4`` maps are
    input/8 (12×12 at 96 px) instead of input/32 (3×3).

    Parameters
    ----------
    num_classes : int
        Outputs of the final ``fc`` layer.
    widths : tuple of 4 int
        Channels of ``layer1``..``layer4``; ``layer4``'s width is the concept space size c.
    blocks : tuple of 4 int
        BasicBlocks per stage.
    layer4_stride : int
        Stride of ``layer4`` (1 keeps ``layer3``'s resolution).
    """

    def __init__(
        self,
        num_classes: int = 20,
        widths: tuple[int, int, int, int] = (16, 32, 64, 128),
        blocks: tuple[int, int, int, int] = (1, 1, 1, 1),
        layer4_stride: int = 1,
    ) -> None:
        nn.Module.__init__(self)  # ResNet.__init__ hard-codes ImageNet widths; set its fields here
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = widths[0], 1, 1, 64
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, widths[0], blocks[0])
        self.layer2 = self._make_layer(BasicBlock, widths[1], blocks[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], blocks[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], blocks[3], stride=layer4_stride)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3], num_classes)
        for module in self.modules():  # torchvision ResNet's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)


# Our own architectures: name -> (builder, default input size in pixels).
CUSTOM_ARCHS: dict[str, tuple[Any, int]] = {DEFAULT_ARCH: (IcelabResNet, 96)}


def available_archs() -> list[str]:
    """Names ``load_classifier`` accepts: torchvision's classification models and ours."""
    return sorted(CUSTOM_ARCHS) + torchvision.models.list_models(module=torchvision.models)


def check_arch(arch: str) -> str:
    """Return ``arch`` if it names a known architecture, else raise ``ValueError`` with suggestions."""
    if not isinstance(arch, str):
        raise TypeError(f"arch must be an architecture name (str), got {type(arch).__name__}.")
    names = available_archs()
    if arch not in names:
        close = difflib.get_close_matches(arch.lower(), names, n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown architecture arch={arch!r}.{hint} Use {DEFAULT_ARCH!r} or any name from "
            "torchvision.models.list_models(module=torchvision.models)."
        )
    return arch


def build_model(
    arch: str, *, num_classes: int | None = None, arch_kwargs: Mapping[str, Any] | None = None
) -> nn.Module:
    """Build ``arch`` with random weights (no file or network access).

    Parameters
    ----------
    arch : str
        Architecture name (see :func:`available_archs`).
    num_classes : int, optional
        Outputs of the final layer; the architecture's default (1000, or 20 for ours) if None.
    arch_kwargs : mapping, optional
        Further builder keyword arguments (e.g. ``{"aux_logits": False}`` for GoogLeNet,
        ``{"widths": [8, 16, 32, 64]}`` for ``icelab_resnet``).

    Returns
    -------
    nn.Module
        In training mode, with ``model.icelab_meta`` holding the architecture's default
        preprocessing and no class names (see :func:`classifier_meta`).
    """
    kwargs = {**_default_arch_kwargs(check_arch(arch)), **(arch_kwargs or {})}
    extra = {} if num_classes is None else {"num_classes": _check_num_classes(num_classes)}
    if arch in CUSTOM_ARCHS:
        model = CUSTOM_ARCHS[arch][0](**kwargs, **extra)
    else:
        model = torchvision.models.get_model(arch, weights=None, **kwargs, **extra)
    model.icelab_meta = {
        "arch": arch,
        "arch_kwargs": kwargs,
        "class_names": None,
        **_default_meta(arch),
        "num_classes": _output_count(model),
        "weights": None,
        "source": "random",
    }
    return model


def _check_num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}.")
    return num_classes


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Give ``model`` a freshly initialised final layer with ``num_classes`` outputs, in place.

    The head is the last ``nn.Linear`` module; auxiliary heads with the same number of
    outputs (GoogLeNet, Inception-V3) are replaced too. Models without a linear layer
    (SqueezeNet) have their last ``nn.Conv2d`` replaced. Returns ``model``.
    """
    _check_num_classes(num_classes)
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if linears:
        old = linears[-1][1].out_features
        targets = [(name, m) for name, m in linears if m.out_features == old]
    else:
        targets = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)][-1:]
    if not targets:
        raise ValueError(f"Found no final layer to replace in {type(model).__name__}.")
    for name, old_layer in targets:
        _set_submodule(model, name, _resized_layer(old_layer, num_classes))
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return model


def _resized_layer(layer: nn.Module, num_classes: int) -> nn.Module:
    if isinstance(layer, nn.Linear):
        new = nn.Linear(layer.in_features, num_classes, bias=layer.bias is not None)
    else:
        new = nn.Conv2d(
            layer.in_channels, num_classes, layer.kernel_size, layer.stride, layer.padding
        )
    return new.to(device=layer.weight.device, dtype=layer.weight.dtype)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def _head_name(model: nn.Module) -> str:
    layers = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    layers = layers or [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    return layers[-1]


def _output_count(model: nn.Module) -> int:
    layer = model.get_submodule(_head_name(model))
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


# --- torchvision weight enums, from the local cache only -------------------------------------


def resolve_weights_enum(arch: str, weights: str | WeightsEnum) -> WeightsEnum:
    """Turn ``"IMAGENET1K_V2"``, ``"ResNet50_Weights.IMAGENET1K_V2"`` or an enum into ``arch``'s enum member."""
    if arch in CUSTOM_ARCHS:
        raise ValueError(
            f"arch={arch!r} has no torchvision weights; pass weights=None or a checkpoint path."
        )
    enum_cls = torchvision.models.get_model_weights(arch)
    if isinstance(weights, WeightsEnum):
        if not isinstance(weights, enum_cls):
            raise ValueError(
                f"weights={weights} are not {enum_cls.__name__}, the weights of arch={arch!r}."
            )
        return weights
    prefix, _, name = weights.rpartition(".")
    if prefix and prefix != enum_cls.__name__:
        raise ValueError(
            f"weights={weights!r} are {prefix}, not weights for arch={arch!r}; use {enum_cls.__name__}.<NAME>."
        )
    try:
        return enum_cls[name]
    except KeyError:
        raise ValueError(
            f"weights={weights!r} is neither a local checkpoint file nor a weights name of arch={arch!r}; "
            f"its names are {', '.join(enum_cls.__members__)}."
        ) from None


def weights_cache_path(weights: WeightsEnum) -> Path:
    """Where torch hub keeps the file of ``weights``: ``torch.hub.get_dir()/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def _builder_kwargs_for(arch: str, weights: WeightsEnum) -> dict[str, Any]:
    """Builder options torchvision sets when it loads ``weights``, so a checkpoint rebuilds the same model."""
    if arch == "googlenet":
        return {"transform_input": True, "aux_logits": False, "init_weights": False}
    if arch == "inception_v3":
        return {"transform_input": True, "aux_logits": True, "init_weights": False}
    if arch.startswith("vit_"):
        return {"image_size": weights.meta["min_size"][0]}
    if arch == "maxvit_t":
        return {"input_size": tuple(weights.meta["min_size"])}
    return {}


def _load_enum_weights(arch: str, weights: WeightsEnum) -> nn.Module:
    cached = weights_cache_path(weights)
    if not cached.is_file():  # checked first: torchvision would otherwise download it
        raise WeightsNotAvailableError(
            f"{weights} (for arch={arch!r}) is not available offline: expected the file {cached}. "
            f"ICE Lab never downloads weights. Download {weights.url} on a machine with network access "
            f"and copy it to {cached} (or set TORCH_HOME to a folder whose hub/checkpoints holds it), "
            "or pass the path of a local checkpoint as weights."
        )
    return torchvision.models.get_model(arch, weights=weights)


def _enum_meta(arch: str, weights: WeightsEnum) -> dict[str, Any]:
    preprocess = weights.transforms()
    return {
        "class_names": list(weights.meta["categories"]),
        "input_size": int(preprocess.crop_size[0]),
        "resize_size": int(preprocess.resize_size[0]),
        "mean": tuple(float(v) for v in preprocess.mean),
        "std": tuple(float(v) for v in preprocess.std),
        "arch_kwargs": _builder_kwargs_for(arch, weights),
    }


def _default_arch_kwargs(arch: str) -> dict[str, Any]:
    """Our architectures' constructor defaults, stored so a checkpoint survives a change of defaults."""
    if arch not in CUSTOM_ARCHS:
        return {}
    parameters = inspect.signature(CUSTOM_ARCHS[arch][0]).parameters.values()
    return {
        p.name: list(p.default) if isinstance(p.default, tuple) else p.default
        for p in parameters
        if p.name != "num_classes"
    }


def _default_meta(arch: str) -> dict[str, Any]:
    """Preprocessing for a randomly initialised ``arch``: what its default torchvision weights use."""
    if arch in CUSTOM_ARCHS:
        size = CUSTOM_ARCHS[arch][1]
        return {"input_size": size, "resize_size": size, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    meta = _enum_meta(arch, torchvision.models.get_model_weights(arch).DEFAULT)
    return {key: meta[key] for key in ("input_size", "resize_size", "mean", "std")}


# --- saving -------------------------------------------------------------------------------
# Here, not in checkpoints.py: filling a checkpoint needs check_arch and the head lookup
# above, and checkpoints.py stays free of this module so that loading can import it.


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    meta: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Path:
    """Write ``model`` and its metadata to ``path`` atomically (temp file, then ``os.replace``).

    Parameters
    ----------
    path : path-like
        Destination file; parent folders are created.
    model : nn.Module
        The classifier; its ``state_dict`` is stored as contiguous CPU tensors.
    meta : mapping, optional
        ``arch``, ``arch_kwargs``, ``class_names``, ``input_size``, ``resize_size``, ``mean``,
        ``std``, over those of ``model.icelab_meta`` (which :func:`load_classifier` and
        :func:`build_model` set): e.g. ``meta={"class_names": names}`` after training.
    **fields
        Further checkpoint entries: ``seed``, ``data_hash``, ``test_accuracy``, ``epochs``,
        ``optimizer_state``, ``scheduler_state``, ``training``.

    Returns
    -------
    Path
        The written file.
    """
    meta = {**getattr(model, "icelab_meta", {}), **(meta or {})}
    missing = [key for key in ("arch", "input_size", "mean", "std") if meta.get(key) is None]
    if missing:
        raise ValueError(
            f"save_checkpoint needs {missing} in meta (or in model.icelab_meta); pass them in meta."
        )
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "arch": check_arch(meta["arch"]),
        "arch_kwargs": dict(meta.get("arch_kwargs") or {}),
        "num_classes": _output_count(model),
        "class_names": list(meta["class_names"]) if meta.get("class_names") is not None else None,
        "input_size": int(meta["input_size"]),
        "resize_size": int(meta.get("resize_size") or meta["input_size"]),
        "mean": [float(v) for v in meta["mean"]],
        "std": [float(v) for v in meta["std"]],
        "seed": None,
        "data_hash": None,
        "test_accuracy": None,
        "epochs": None,
        "optimizer_state": None,
        "scheduler_state": None,
        "training": None,
        "versions": library_versions(),
        "state_dict": state,
    }
    unknown = set(fields) - set(checkpoint)
    if unknown:
        raise TypeError(f"save_checkpoint got unknown fields {sorted(unknown)}.")
    checkpoint.update(fields)
    return _atomic_torch_save(checkpoint, Path(path))


# --- loading ------------------------------------------------------------------------------


def classifier_meta(model: nn.Module) -> dict[str, Any]:
    """Return ``model.icelab_meta``: what later code needs to feed and read the model.

    Keys: ``arch``, ``arch_kwargs``, ``num_classes``, ``class_names`` (list or None),
    ``input_size`` and ``resize_size`` (pixels), ``mean`` and ``std`` (RGB, for inputs
    scaled to [0, 1]), ``weights`` (what the weights came from), ``source`` ("random",
    "torchvision", "checkpoint" or "state_dict"), and from ICE Lab checkpoints also
    ``test_accuracy``, ``data_hash``, ``seed``, ``epochs``.
    """
    meta = getattr(model, "icelab_meta", None)
    if not isinstance(meta, dict):
        raise ValueError(
            f"{type(model).__name__} has no icelab_meta; load it with load_classifier or set model.icelab_meta."
        )
    return meta


def eval_transform(meta: Mapping[str, Any]) -> transforms.Compose:
    """PIL image -> normalised float tensor ``(3, s, s)`` as the classifier expects (resize, centre crop)."""
    return transforms.Compose(
        [
            transforms.Resize(int(meta["resize_size"])),
            transforms.CenterCrop(int(meta["input_size"])),
            transforms.ToTensor(),
            transforms.Normalize(list(meta["mean"]), list(meta["std"])),
        ]
    )


def load_classifier(
    arch: str | None,
    weights: str | os.PathLike | WeightsEnum | None = None,
    *,
    num_classes: int | None = None,
    map_location: str | torch.device = "cpu",
) -> nn.Module:
    """Build a classifier and load its weights, without network access.

    Parameters
    ----------
    arch : str or None
        A torchvision classification architecture (``"resnet50"``, ``"inception_v3"``, ...) or
        ``"icelab_resnet"`` (the default for the synthetic dataset). None takes the
        architecture stored in an ICE Lab checkpoint given as ``weights``.
    weights : str, path-like, WeightsEnum or None
        None: random initialisation. A torchvision weights name (``"IMAGENET1K_V2"``,
        ``"ResNet50_Weights.IMAGENET1K_V2"``, ``"DEFAULT"``): read from the torch hub cache,
        :class:`WeightsNotAvailableError` if the file is not there. A local file
        (``.pt``/``.pth``...): an ICE Lab checkpoint or a plain ``state_dict``.
    num_classes : int, optional
        Replace the final layer with a new one of this size (fine-tuning on another dataset).
    map_location : str or torch.device
        Device of the returned model (``"auto"`` picks CUDA when available).

    Returns
    -------
    nn.Module
        The model in eval mode, with ``model.icelab_meta`` (see :func:`classifier_meta`).
    """
    device = resolve_device(map_location)
    if _is_path(weights):
        model, meta = _load_from_file(arch, Path(weights))
    else:
        if arch is None:
            raise ValueError(
                "arch=None needs weights to be an ICE Lab checkpoint path; name the architecture."
            )
        model, meta = _load_builtin(check_arch(arch), weights)
    if num_classes is not None and _check_num_classes(num_classes) != _output_count(model):
        replace_head(model, num_classes)
        meta["class_names"] = None  # the new outputs have no names until the model is trained
    meta["num_classes"] = _output_count(model)
    model.icelab_meta = meta
    return model.to(device).eval()


def _is_path(weights: Any) -> bool:
    if isinstance(weights, os.PathLike):
        return True
    if not isinstance(weights, str):
        return False
    return (
        weights.lower().endswith(CHECKPOINT_SUFFIXES)
        or os.sep in weights
        or Path(weights).is_file()
    )


def _load_builtin(arch: str, weights: str | WeightsEnum | None) -> tuple[nn.Module, dict[str, Any]]:
    if weights is None:
        model = build_model(arch)
        return model, model.icelab_meta
    if not isinstance(weights, str | WeightsEnum):
        raise TypeError(
            f"weights must be None, a weights name, a WeightsEnum or a file path, got {type(weights).__name__}."
        )
    enum = resolve_weights_enum(arch, weights)
    model = _load_enum_weights(arch, enum)
    return model, {
        "arch": arch,
        **_enum_meta(arch, enum),
        "weights": str(enum),
        "source": "torchvision",
    }


def _load_from_file(arch: str | None, path: Path) -> tuple[nn.Module, dict[str, Any]]:
    loaded = _torch_load(path, "cpu")
    if is_icelab_checkpoint(loaded):
        return _load_icelab_checkpoint(arch, _checked_checkpoint(loaded, path))
    if arch is None:
        raise ValueError(
            f"{path} is a plain state_dict, which does not record its architecture; pass arch."
        )
    model = build_model(check_arch(arch))
    _load_state_dict(model, _plain_state_dict(loaded, path), arch, path)
    return model, {**model.icelab_meta, "weights": str(path), "source": "state_dict"}


def _load_icelab_checkpoint(
    arch: str | None, checkpoint: dict[str, Any]
) -> tuple[nn.Module, dict[str, Any]]:
    stored = checkpoint["arch"]
    if arch is not None and check_arch(arch) != stored:
        raise ValueError(
            f"The checkpoint is for architecture {stored!r}, not arch={arch!r}. "
            f"Load it with arch={stored!r} (or arch=None), or pass a checkpoint trained for {arch!r}."
        )
    model = build_model(
        stored, num_classes=checkpoint["num_classes"], arch_kwargs=checkpoint["arch_kwargs"]
    )
    _load_state_dict(model, checkpoint["state_dict"], stored, "the checkpoint")
    meta = {
        key: checkpoint[key]
        for key in ("arch", "arch_kwargs", "class_names", "input_size", "mean", "std")
    }
    meta["resize_size"] = checkpoint.get("resize_size") or checkpoint["input_size"]
    meta["mean"], meta["std"] = tuple(meta["mean"]), tuple(meta["std"])
    for key in ("test_accuracy", "data_hash", "seed", "epochs"):
        meta[key] = checkpoint.get(key)
    training = checkpoint.get("training") or {}
    meta["complete"] = bool(training.get("complete", True))
    meta.update(weights=None, source="checkpoint")
    return model, meta


def _plain_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        for key in (
            "state_dict",
            "model_state_dict",
            "model",
        ):  # common wrappers from other training code
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise ValueError(
            f"{path} holds neither an ICE Lab checkpoint nor a state_dict (names to tensors)."
        )
    # DataParallel / DistributedDataParallel prefix every key with "module."
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def _load_state_dict(
    model: nn.Module, state: Mapping[str, torch.Tensor], arch: str, source: Any
) -> None:
    head_weight = state.get(f"{_head_name(model)}.weight")
    if head_weight is not None and head_weight.shape[0] != _output_count(model):
        replace_head(
            model, int(head_weight.shape[0])
        )  # a fine-tuned model with another class count
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"The weights in {source} do not fit architecture {arch!r}: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]}), "
            f"{len(mismatched)} of another shape (e.g. {mismatched[:3]}). They were probably saved "
            "from another architecture; pass that architecture's name."
        )
    model.load_state_dict(state)
