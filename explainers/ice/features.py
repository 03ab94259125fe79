"""Activations of a named layer of a CNN, and the head that maps them to logits.

The CNN ``F`` is split at a layer ``l`` into a feature extractor ``E`` (input to the
layer's output) and a head ``C`` (the layer's output to the logits, no softmax):
``F(I) = C(E(I))``. Activations are returned channels-last, ``(n, h, w, c)``,
because every reducer works on the ``(n*h*w, c)`` matrix of activation vectors.

When everything after the layer is a global average pool and one dense layer
(ResNet ``layer4``, Inception-V3 ``Mixed_7c``) the head is a :class:`LinearHead`
and ICE's concept weights are exact; otherwise it is a :class:`GeneralHead` that
re-runs the rest of the network from given activations.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from .devices import resolve_device
from .progress import Progress, report_count

# Modules that leave the pooled vector unchanged in eval mode (dropout is off).
_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Flatten)
# Substrings of PyTorch's errors for an input too small for a convolution or pool.
_TOO_SMALL_MARKERS = (
    "Kernel size can't be greater",
    "Output size is too small",
    "input image (H: ",
)
DEFAULT_INPUT_SIZE = 224
_SHOWN_LAYER_NAMES = 30


class _StopForward(Exception):
    """Raised from the hook once the layer's output is captured: the rest of the net is not needed."""


class LinearHead:
    """``C(A) = GAP(A) @ weight + bias``: a global average pool then one dense layer.

    Parameters
    ----------
    weight : tensor of shape (c, n_classes)
        The dense layer's weight, transposed (``fc.weight.T``).
    bias : tensor of shape (n_classes,)
    """

    is_linear = True

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        if weight.ndim != 2 or bias.shape != (weight.shape[1],):
            raise ValueError(
                f"weight {tuple(weight.shape)} and bias {tuple(bias.shape)} must be (c, n_classes) and (n_classes,)."
            )
        self.weight = weight.detach().float()
        self.bias = bias.detach().float().to(self.weight.device)

    @property
    def n_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.weight.shape[1])

    @property
    def device(self) -> torch.device:
        return self.weight.device

    def __call__(self, activations: torch.Tensor) -> torch.Tensor:
        """Logits of shape (n, n_classes) for activations of shape (n, h, w, c)."""
        activations = check_activations(activations, self.n_features).to(self.device)
        return self.from_pooled(activations.mean(dim=(1, 2)))

    def from_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits of shape (n, n_classes) for already pooled activations of shape (n, c)."""
        return pooled.to(self.device, torch.float32) @ self.weight + self.bias


class GeneralHead:
    """The rest of the network after ``layer``, evaluated on given activations.

    The model is run on a small dummy image (one image of ``input_size``) with a
    forward hook that replaces the layer's output by the given activations, so
    whatever the model's ``forward`` does after the layer (functional pooling,
    Inception's branches, ...) is reproduced exactly. This is valid when the layer
    is a cut of the network: nothing after it reads an earlier tensor (true for
    the top-level stages of torchvision classifiers, not for a convolution inside
    a residual block).

    Parameters
    ----------
    model : the classifier, in eval mode.
    layer : name of the layer in ``dict(model.named_modules())``.
    device : device the model lives on.
    input_size : (H, W) of the dummy image; any size the model accepts works.
    """

    is_linear = False

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        device: torch.device,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        self.model = model
        self.layer = layer
        self.device = device
        self.input_size = input_size or (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
        self._module = dict(model.named_modules())[layer]

    @torch.no_grad()
    def __call__(self, activations: torch.Tensor) -> torch.Tensor:
        """Logits of shape (n, n_classes) for activations of shape (n, h, w, c)."""
        activations = check_activations(activations).to(self.device)
        replacement = activations.permute(0, 3, 1, 2).contiguous()
        handle = self._module.register_forward_hook(lambda module, inputs, output: replacement)
        try:
            self.model.eval()
            # One dummy image per activation: with a batch of 1, a layer that is not a clean cut
            # (e.g. inside a residual block) would broadcast against earlier tensors silently.
            dummy = torch.zeros((len(replacement), 3, *self.input_size), device=self.device)
            return model_logits(self.model(dummy)).float()
        finally:
            handle.remove()


Head = LinearHead | GeneralHead


class FeatureExtractor:
    """Channels-last activations of one named module of a classifier.

    The activations are read by a forward hook on the model itself (no copy); the
    model is moved to ``device`` and put in eval mode. The forward pass stops right
    after the layer, so extracting features costs only the network up to it.

    Parameters
    ----------
    model : a torch classifier (e.g. a torchvision model).
    layer : name of a module in ``dict(model.named_modules())``, e.g. ``"layer4"``.
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"``, ...
    input_size : (H, W) the general head's dummy image uses before any extraction;
        after one, the last images' size is used.

    Attributes
    ----------
    head : LinearHead or GeneralHead
        The map from this layer's activations to the logits.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        *,
        device: str | torch.device = "auto",
        input_size: tuple[int, int] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
        modules = dict(model.named_modules())
        if not isinstance(layer, str) or layer not in modules or layer == "":
            raise ValueError(_unknown_layer_message(model, layer))
        self.model = model
        self.layer = layer
        self.device = resolve_device(device)
        self.model.to(self.device).eval()
        self._module = modules[layer]
        self.head: Head = linear_head_after(model, layer) or GeneralHead(
            model, layer, self.device, input_size
        )

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Activations of shape (n, h, w, c), float32, for images of shape (n, 3, H, W)."""
        images = self._check_images(images)
        captured: list[torch.Tensor] = []

        def capture(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            captured.append(output)
            raise _StopForward

        handle = self._module.register_forward_hook(capture)
        try:
            self.model.eval()
            self._run(images)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not captured:
            raise ValueError(
                f"layer {self.layer!r} was not called in the model's forward pass; pick a layer the model uses."
            )
        return self._channels_last(captured[0])

    def extract(
        self,
        batches: Iterable[torch.Tensor | Sequence],
        *,
        progress: Progress | None = None,
        out_device: str | torch.device | None = None,
    ) -> torch.Tensor:
        """Activations for every image of an iterable of batches, concatenated.

        Parameters
        ----------
        batches : iterable of tensors of shape (b, 3, H, W), or of ``(images, labels)``
            pairs as a ``DataLoader`` yields.
        progress : ``progress(fraction, step)`` after each batch (see :mod:`explainers.ice.progress`).
        out_device : where the result is gathered (default: the extractor's device);
            ``"cpu"`` keeps GPU memory free for large classes.

        Returns
        -------
        tensor of shape (n, h, w, c)
        """
        target = self.device if out_device is None else torch.device(out_device)
        total = len(batches) if hasattr(batches, "__len__") else None
        parts = []
        for done, batch in enumerate(batches, start=1):
            images = batch[0] if isinstance(batch, list | tuple) else batch
            parts.append(self(images).to(target))
            report_count(progress, done, total, "feature batches")
        if not parts:
            raise ValueError("batches is empty; pass at least one batch of images (n, 3, H, W).")
        return torch.cat(parts)

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The model's own logits, shape (n, n_classes), for images of shape (n, 3, H, W)."""
        images = self._check_images(images)
        self.model.eval()
        return model_logits(self._run(images)).float()

    @torch.no_grad()
    def verify_head(
        self, images: torch.Tensor, activations: torch.Tensor | None = None, rtol: float = 1e-3
    ) -> float:
        """Check that ``head(self(images))`` reproduces the model's logits; return the largest difference.

        Catches models whose ``forward`` does something the registered modules do
        not show (a functional ReLU before the pool, a skip connection around the
        layer). Raises ValueError naming the layer when they disagree.

        Parameters
        ----------
        images : tensor of shape (n, 3, H, W); one or two images are enough.
        activations : tensor of shape (n, h, w, c), optional
            ``self(images)`` when already computed (saves a forward pass).
        rtol : tolerance relative to the largest logit (at least 1).
        """
        expected = self.logits(images)
        got = self.head(self(images) if activations is None else activations)
        scale = max(1.0, float(expected.abs().max()))
        error = float((got - expected).abs().max())
        if got.shape != expected.shape or error > rtol * scale:
            kind = "global-pool + linear head" if self.head.is_linear else "rest of the network"
            raise ValueError(
                f"the {kind} after layer {self.layer!r} does not reproduce the model's logits "
                f"(max difference {error:.3g}); the layer is not a clean cut of the network. "
                "Pick a top-level stage such as 'layer4' (ResNet) or 'Mixed_7c' (Inception-V3)."
            )
        return error

    def _run(self, images: torch.Tensor) -> torch.Tensor:
        try:
            return self.model(images)
        except RuntimeError as error:
            if any(marker in str(error) for marker in _TOO_SMALL_MARKERS):
                raise ValueError(
                    f"images of shape {tuple(images.shape)} are too small for this model up to layer "
                    f"{self.layer!r}; resize them to (n, 3, H, W) with H and W at least the model's minimum "
                    f"(e.g. 224 for ResNet, 299 or at least 75 for Inception-V3). PyTorch said: {error}"
                ) from error
            raise

    def _check_images(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            raise TypeError(
                f"images must be a torch.Tensor of shape (n, 3, H, W), got {type(images).__name__}."
            )
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[0] == 0:
            raise ValueError(
                f"images has shape {tuple(images.shape)}; expected a batch (n, 3, H, W) with n >= 1 "
                "(add a batch axis with images.unsqueeze(0) for one image)."
            )
        if not images.is_floating_point():
            raise TypeError(
                f"images has dtype {images.dtype}; convert to float32 and normalise as the model expects."
            )
        if isinstance(self.head, GeneralHead):
            self.head.input_size = (int(images.shape[2]), int(images.shape[3]))
        return images.to(self.device, torch.float32)

    def _channels_last(self, output: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = (
                tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            )
            raise ValueError(
                f"layer {self.layer!r} outputs {shape}, not a feature map (n, c, h, w); "
                "choose a convolutional stage of the network."
            )
        return output.detach().float().permute(0, 2, 3, 1).contiguous()


def float_tensor_view(array: np.ndarray, dtype: type[np.floating] = np.float32) -> torch.Tensor:
    """A float32 (or ``dtype``) tensor over ``array``'s memory, without a copy when it has it.

    Feature-bank activations are read-only memory maps. torch shares them but warns,
    once per process, that writing to such a tensor is undefined; nothing in ICE Lab
    writes to activations it is given, so the warning is silenced rather than paid
    for with a copy of every class's features.
    """
    array = np.asarray(array, dtype=dtype)
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


def check_activations(
    activations: torch.Tensor | np.ndarray, n_features: int | None = None
) -> torch.Tensor:
    """Validate activations of shape (n, h, w, c) and return them as a float32 tensor."""
    if isinstance(activations, np.ndarray):
        activations = float_tensor_view(activations)
    if not isinstance(activations, torch.Tensor):
        raise TypeError(
            f"activations must be a tensor of shape (n, h, w, c), got {type(activations).__name__}."
        )
    if activations.ndim != 4:
        raise ValueError(
            f"activations has shape {tuple(activations.shape)}; expected (n, h, w, c), channels last."
        )
    if n_features is not None and activations.shape[-1] != n_features:
        hint = (
            " It looks channels-first: use activations.permute(0, 2, 3, 1)."
            if activations.shape[1] == n_features
            else ""
        )
        raise ValueError(
            f"activations has {activations.shape[-1]} channels (last axis) but the layer has {n_features}.{hint}"
        )
    return activations.float()


def model_logits(output: object) -> torch.Tensor:
    """The logits tensor from a model's output (plain tensor, or Inception's training-mode tuple)."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise TypeError(
        f"the model returned {type(output).__name__}; expected a logits tensor (n, n_classes)."
    )


def linear_head_after(model: nn.Module, layer: str) -> LinearHead | None:
    """The :class:`LinearHead` after ``layer``, or None when the rest is not GAP + one dense layer.

    The modules after the layer are read in registration order: its following
    siblings, then its parent's following siblings, up to the model. Only the
    model itself may have a custom ``forward``; every other ancestor must be an
    ``nn.Sequential`` so that "after" is well defined. The tail must be exactly one
    ``AdaptiveAvgPool2d(1)``, any identities/dropouts/flattens, then one ``Linear``.
    """
    tail = _modules_after(model, layer)
    if tail is None:
        return None
    tail = [m for m in tail if not isinstance(m, _PASS_THROUGH)]
    if len(tail) != 2 or not _is_global_average_pool(tail[0]) or not isinstance(tail[1], nn.Linear):
        return None
    linear: nn.Linear = tail[1]
    bias = (
        linear.bias
        if linear.bias is not None
        else torch.zeros(linear.out_features, device=linear.weight.device)
    )
    return LinearHead(linear.weight.detach().T.contiguous(), bias.detach())


def _modules_after(model: nn.Module, layer: str) -> list[nn.Module] | None:
    parts = layer.split(".")
    tail: list[nn.Module] = []
    for depth in range(len(parts), 0, -1):
        parent = model.get_submodule(".".join(parts[: depth - 1]))
        if depth > 1 and not isinstance(parent, nn.Sequential):
            return None
        names = [name for name, _ in parent.named_children()]
        following = names[names.index(parts[depth - 1]) + 1 :]
        tail.extend(_flatten_sequential(parent.get_submodule(name)) for name in following)
    return [module for group in tail for module in group]


def _flatten_sequential(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module.children() for leaf in _flatten_sequential(child)]
    return [module]


def _is_global_average_pool(module: nn.Module) -> bool:
    if not isinstance(module, nn.AdaptiveAvgPool2d):
        return False
    size = module.output_size
    return size in (1, (1, 1))


def _unknown_layer_message(model: nn.Module, layer: object) -> str:
    names = [name for name, _ in model.named_modules() if name]
    top_level = [name for name, _ in model.named_children()]
    if len(names) <= _SHOWN_LAYER_NAMES:
        listing = f"valid layers: {', '.join(names)}"
    else:
        listing = (
            f"top-level layers: {', '.join(top_level)} ({len(names)} in all; list them with "
            "[name for name, _ in model.named_modules()])"
        )
    return f"layer={layer!r} is not a module of {type(model).__name__}; {listing}."
