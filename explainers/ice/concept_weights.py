"""Concept weights: how much one unit of concept score moves each logit.

For a head ``C(A) = GAP(A)·W + b`` the logits are exactly linear in the concept
scores, ``logit_j = Σ_k s_k·(P·W)_kj + GAP(U)·W_j + b_j``, so the weights are P·W
(Zhang et al. 2021, "Weight Estimation"). For any other head they are estimated
as TCAV does, by central finite differences averaged over the class's images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

DEFAULT_FD_EPSILON = 1e-2


def exact_concept_weights(components: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """P·W, shape (n_components, n_classes).

    Parameters
    ----------
    components : tensor of shape (n_components, c)
        The concept vectors P.
    weight : tensor of shape (c, n_classes)
        The dense layer after the global average pool, transposed.
    """
    return components.to(weight.device, torch.float32) @ weight


@torch.no_grad()
def finite_difference_weights(
    head: Callable[[torch.Tensor], torch.Tensor],
    activations: torch.Tensor,
    components: torch.Tensor,
    *,
    epsilon: float = DEFAULT_FD_EPSILON,
    batch_size: int = 32,
) -> torch.Tensor:
    """Central finite-difference concept weights, shape (n_components, n_classes).

    For concept k and class j the weight is the directional derivative of the
    logit along p_k added at every position of the feature map, averaged over
    the images:

        w_kj = mean_i [C_j(A_i + t_k·p_k) − C_j(A_i − t_k·p_k)] / (2·t_k)

    Shifting every position by p_k is what raising the concept score s_k (the
    GAP of S[:, k]) by one does to A ≈ S·P, so for a GAP + linear head this is
    exactly (P·W)_kj, the exact weight. It equals the sum over positions of the
    per-position derivatives in the paper's TCAV-style formula. The step t_k is
    ``epsilon`` times the mean norm of the activation vectors divided by
    ``‖p_k‖``, so the perturbation is small relative to the data whatever the
    scale of p_k.

    Parameters
    ----------
    head : maps activations (n, h, w, c) to logits (n, n_classes).
    activations : tensor of shape (n, h, w, c)
        The class's activations at the layer.
    components : tensor of shape (n_components, c)
        The concept vectors P.
    epsilon : relative step size.
    batch_size : images per head evaluation.
    """
    if epsilon <= 0:
        raise ValueError(
            f"epsilon={epsilon!r}; the finite-difference step must be positive (e.g. 1e-2)."
        )
    components = components.to(activations.device, torch.float32)
    steps = _step_sizes(activations, components, epsilon)
    total = None
    for start in range(0, activations.shape[0], batch_size):
        batch = activations[start : start + batch_size]
        rows = [
            _directional_difference(head, batch, p * t) / (2 * t)
            for p, t in zip(components, steps, strict=True)
        ]
        block = torch.stack(rows)  # (n_components, n_classes), summed over the batch
        total = block if total is None else total + block
    return (total / activations.shape[0]).float()


def _step_sizes(
    activations: torch.Tensor, components: torch.Tensor, epsilon: float
) -> torch.Tensor:
    typical = activations.reshape(-1, activations.shape[-1]).norm(dim=1).mean().clamp_min(1e-12)
    norms = components.norm(dim=1).clamp_min(1e-12)
    return epsilon * typical / norms


def _directional_difference(
    head: Callable, batch: torch.Tensor, shift: torch.Tensor
) -> torch.Tensor:
    # Plus and minus run as one batch: half the head calls for the same work.
    both = torch.cat([batch + shift, batch - shift])
    logits = head(both).to(torch.float64)
    n = batch.shape[0]
    return (logits[:n] - logits[n:]).sum(dim=0)
