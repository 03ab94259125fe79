"""Training-time augmentation: random resized crop, horizontal flip, mild colour jitter.

Two implementations of the same augmentation, one per data path of ``train_classifier``:
PIL transforms for images streamed from disk, and whole-batch tensor operations for
images held in memory, where per-image PIL work would cost as much CPU as the model.
Keeping them side by side keeps their crop ranges and jitter in step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torchvision import transforms

JITTER = 0.1  # brightness, contrast and saturation vary by up to +-10%


def _crop_range(size: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(area, aspect ratio) ranges of random crops: gentle for small inputs, whose drawn parts
    must not be cut off; the usual strong crops for ImageNet-sized ones."""
    return ((0.75, 1.0), (0.9, 1.1)) if size <= 128 else ((0.25, 1.0), (3 / 4, 4 / 3))


def train_transform(meta: dict[str, Any]) -> transforms.Compose:
    """PIL augmentation of streamed training images: random resized crop, flip, mild colour jitter."""
    size = int(meta["input_size"])
    scale, ratio = _crop_range(size)
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(size, scale=scale, ratio=ratio),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(brightness=JITTER, contrast=JITTER, saturation=JITTER),
            transforms.ToTensor(),
            transforms.Normalize(list(meta["mean"]), list(meta["std"])),
        ]
    )


def augment_batch(
    images: torch.Tensor, meta: dict[str, Any], generator: torch.Generator
) -> torch.Tensor:
    """The augmentation of :func:`train_transform`, on a whole batch of tensors at once.

    Parameters
    ----------
    images : torch.Tensor
        ``(n, 3, h, w)`` uint8 images, on any device.
    meta : dict
        Classifier metadata: ``input_size``, ``mean``, ``std``.
    generator : torch.Generator
        CPU generator for every random draw.

    Returns
    -------
    torch.Tensor
        ``(n, 3, s, s)`` float32, normalised, with ``s = meta["input_size"]``.
    """
    n, size, device = images.shape[0], int(meta["input_size"]), images.device
    (low, high), (ratio_low, ratio_high) = _crop_range(size)
    draws = torch.rand(n, 8, generator=generator).to(device)
    area = low + (high - low) * draws[:, 0]
    ratio = torch.exp(math.log(ratio_low) + math.log(ratio_high / ratio_low) * draws[:, 1])
    width, height = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    flip = torch.where(draws[:, 2] < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)  # maps output to input coordinates, both in [-1, 1]
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, (1 - width) * (2 * draws[:, 3] - 1)
    theta[:, 1, 1], theta[:, 1, 2] = height, (1 - height) * (2 * draws[:, 4] - 1)
    grid = nn.functional.affine_grid(theta, [n, 3, size, size], align_corners=False)
    x = nn.functional.grid_sample(
        images.float() / 255, grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    x = _jitter(x, 1 + JITTER * (2 * draws[:, 5:8] - 1))
    mean, std = (
        torch.tensor(meta[k], device=device, dtype=torch.float32).view(1, 3, 1, 1)
        for k in ("mean", "std")
    )
    return (x - mean) / std


def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """ColorJitter's brightness, contrast then saturation blends, fused into one affine map per image.

    ``x`` is ``(n, 3, h, w)`` in [0, 1], ``factors`` ``(n, 3)``. With brightness b, contrast c,
    saturation s, grey level g(x) and its image mean m, torchvision computes ``x1 = b x``,
    ``x2 = c x1 + (1 - c) b m``, ``x3 = s x2 + (1 - s) g(x2)``, that is
    ``b c s x + b c (1 - s) g(x) + (1 - c) b m``. It clamps to [0, 1] only at the end, which
    differs from torchvision only for pixels pushed past 0 or 1 at a middle step.
    """
    brightness, contrast, saturation = (factors[:, k].view(-1, 1, 1, 1) for k in range(3))
    grey = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(
        1, keepdim=True
    )
    scale = brightness * contrast
    offset = (1 - contrast) * brightness * grey.mean((2, 3), keepdim=True)
    return torch.addcmul(offset + scale * (1 - saturation) * grey, x, scale * saturation).clamp_(
        0, 1
    )
