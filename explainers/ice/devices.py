"""Choosing the torch device work runs on."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Return the torch device for ``device``.

    ``"auto"`` (or ``None``) picks CUDA when it is available and the CPU otherwise;
    anything else is passed to :class:`torch.device`. Asking for CUDA on a machine
    without it is an error rather than a silent fall-back, so a GPU run that is not
    one never goes unnoticed.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:N]'."
        ) from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA but none is available; use device='auto' or 'cpu'."
        )
    return resolved
