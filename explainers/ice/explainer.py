"""ICE's concept explainer for one class: concepts, their weights, and local explanations.

A reducer R is fitted on the activations V (positions × channels) of one class's
images at the target layer, V ≈ S·P (+ mean for PCA). For a new image the
concept score s_k is the global average of S[:, k], the concept weight is how much
one unit of s_k moves each logit, and the logit decomposes as

    logit_j = Σ_k s_k·weight_kj + residual_j + bias_j

exactly. With a GAP + linear head (W, b) the weights are P·W and the residual is
GAP(A − S·P)·W_j, the part of the activations the concepts do not capture (for PCA
it includes the mean's term GAP(mean)·W_j = mean·W_j, also reported on its own as
``mean_term``). With any other head the weights are finite-difference estimates,
the bias is C(0), and the residual is what is left: logit − bias − Σ contributions.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .concept_weights import DEFAULT_FD_EPSILON, exact_concept_weights, finite_difference_weights
from .devices import resolve_device
from .features import FeatureExtractor, Head, LinearHead, check_activations

ImageInput = torch.Tensor | Iterable[torch.Tensor]


@dataclass(frozen=True)
class LocalExplanation:
    """Why the CNN gives one image its logits, in terms of concepts.

    ``contributions.sum(0) + residual + bias == logits`` for every class.

    Attributes
    ----------
    target_class : the class the explainer was fitted on.
    logits : (n_classes,) the model's logits for the image.
    concept_scores : (n_components,) s_k, the GAP of the image's concept map k.
    weights : (n_components, n_classes) logit change per unit of concept score.
    contributions : (n_components, n_classes) ``concept_scores[:, None] * weights``.
    residual : (n_classes,) what the concepts do not explain.
    bias : (n_classes,) the dense layer's bias (general heads: C(0)).
    mean_term : (n_classes,) the PCA mean's share of ``residual`` (zeros otherwise).
    is_estimate : True when the weights are finite-difference estimates.
    """

    target_class: int
    logits: np.ndarray
    concept_scores: np.ndarray
    weights: np.ndarray
    contributions: np.ndarray
    residual: np.ndarray
    bias: np.ndarray
    mean_term: np.ndarray
    is_estimate: bool

    @property
    def predicted_class(self) -> int:
        """The class with the highest logit."""
        return int(np.argmax(self.logits))

    def top_concepts(self, class_index: int | None = None, k: int = 5) -> np.ndarray:
        """Indices of the ``k`` concepts with the largest contribution to ``class_index``'s logit.

        ``class_index`` defaults to the explainer's target class.
        """
        column = self.contributions[:, self.target_class if class_index is None else class_index]
        return np.argsort(-column, kind="stable")[:k]


class ConceptExplainer:
    """Concept-based explanation of one class of a CNN at one layer (ICE).

    Parameters
    ----------
    model : the classifier (e.g. a torchvision model); moved to ``device``, put in eval mode.
    layer : name of a module in ``dict(model.named_modules())``, e.g. ``"layer4"``.
    reducer : ``"nmf"``, ``"pca"``, ``"kmeans"``, or an unfitted reducer object
        (cloned; its own ``n_components`` is used).
    n_components : number of concepts c'.
    random_state : seed of the reducer.
    device : ``"auto"``, ``"cpu"``, ``"cuda[:N]"``.
    batch_size : images per forward pass, transform and head evaluation.
    fd_epsilon : relative step of the finite differences (non-linear heads only).

    Attributes
    ----------
    extractor_ : FeatureExtractor
    head_ : LinearHead or GeneralHead
    reducer_ : the fitted reducer.
    components_ : ndarray (n_components, c), float32 — the concept vectors P.
    concept_weights_ : ndarray (n_components, n_classes), float32.
    weights_are_estimates_ : bool
    bias_ : ndarray (n_classes,)
    target_class_, n_features_in_, n_classes_, n_images_fit_ : int
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        reducer: str | object = "nmf",
        n_components: int = 10,
        *,
        random_state: int | None = None,
        device: str | torch.device = "auto",
        batch_size: int = 32,
        fd_epsilon: float = DEFAULT_FD_EPSILON,
    ) -> None:
        self.model = model
        self.layer = layer
        self.reducer = reducer
        self.n_components = n_components
        self.random_state = random_state
        self.device = device
        self.batch_size = batch_size
        self.fd_epsilon = fd_epsilon

    # ------------------------------------------------------------------ fitting
    def fit(self, images: ImageInput, target_class: int) -> ConceptExplainer:
        """Fit on one class's images: a tensor (n, 3, H, W) or an iterable of such batches."""
        _check_class(target_class)
        self._build_extractor()
        first: list[torch.Tensor] = []
        activations = self._checked_activations(self._extract(images, first), target_class)
        # One cheap check that the head really reproduces the model on real images.
        self.extractor_.verify_head(first[0][:2], activations[: len(first[0][:2])])
        return self._fit_activations(activations, target_class)

    def fit_features(
        self, activations: torch.Tensor | np.ndarray, target_class: int
    ) -> ConceptExplainer:
        """Fit on precomputed activations of shape (n, h, w, c) of one class's images."""
        _check_class(target_class)
        self._build_extractor()
        return self._fit_activations(
            self._checked_activations(activations, target_class), target_class
        )

    def _build_extractor(self) -> None:
        if not isinstance(self.batch_size, numbers.Integral) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r}; use a positive int such as 32.")
        self.device_ = resolve_device(self.device)
        # Models from load_classifier know their input size; the general head's dummy images need it.
        size = getattr(self.model, "icelab_meta", {}).get("input_size")
        self.extractor_ = FeatureExtractor(
            self.model, self.layer, device=self.device_, input_size=(size, size) if size else None
        )
        self.head_: Head = self.extractor_.head

    def _checked_activations(
        self, activations: torch.Tensor | np.ndarray, target_class: int
    ) -> torch.Tensor:
        n_features = self.head_.n_features if isinstance(self.head_, LinearHead) else None
        activations = check_activations(activations, n_features)
        if isinstance(self.head_, LinearHead):
            _check_class(target_class, self.head_.n_classes)
        if activations.shape[0] == 0:
            raise ValueError(
                f"no images for class {target_class!r}: the class is empty; give it at least one image."
            )
        self._check_finite(activations)
        if self._reducer_name() == "nmf":
            self._check_non_negative(activations)
        return activations

    def _fit_activations(self, activations: torch.Tensor, target_class: int) -> ConceptExplainer:
        reducer = self._new_reducer()
        channels = activations.shape[-1]
        try:
            reducer.fit(activations.reshape(-1, channels).to(self.device_))
        except ValueError as error:
            raise ValueError(
                f"fitting {type(reducer).__name__} on layer {self.layer!r}: {error}"
            ) from error
        self.reducer_ = reducer
        self._set_learned(activations, target_class)
        return self

    def _set_learned(self, activations: torch.Tensor, target_class: int) -> None:
        self._components = torch.from_numpy(
            np.asarray(self.reducer_.components_, dtype=np.float32)
        ).to(self.device_)
        mean = getattr(self.reducer_, "mean_", None)
        self._offset = (
            torch.zeros(activations.shape[-1], device=self.device_)
            if mean is None
            else torch.as_tensor(np.asarray(mean, dtype=np.float32), device=self.device_)
        )
        self.weights_are_estimates_ = not isinstance(self.head_, LinearHead)
        if isinstance(self.head_, LinearHead):
            self._weights = exact_concept_weights(self._components, self.head_.weight)
            self._bias = self.head_.bias
        else:
            self._weights = finite_difference_weights(
                self.head_,
                activations.to(self.device_),
                self._components,
                epsilon=self.fd_epsilon,
                batch_size=self.batch_size,
            )
            self._bias = self.head_(torch.zeros((1, *activations.shape[1:]), device=self.device_))[
                0
            ]
        self.n_classes_ = int(self._weights.shape[1])
        self.target_class_ = _check_class(target_class, self.n_classes_)
        self.n_features_in_ = int(activations.shape[-1])
        self.n_images_fit_ = int(activations.shape[0])
        self.components_ = self._components.cpu().numpy()
        self.concept_weights_ = self._weights.cpu().numpy()
        self.bias_ = self._bias.cpu().numpy()

    def _new_reducer(self) -> object:
        if isinstance(self.reducer, str):
            from .reducers import make_reducer

            return make_reducer(
                self.reducer,
                self.n_components,
                random_state=self.random_state,
                device=self.device_,
                input_name=self.layer,
            )
        if not all(
            hasattr(self.reducer, name) for name in ("fit", "transform", "inverse_transform")
        ):
            raise TypeError(
                f"reducer={self.reducer!r} is neither a name ('nmf', 'pca', 'kmeans') nor an object "
                "with fit, transform and inverse_transform."
            )
        if hasattr(self.reducer, "get_params"):
            from sklearn.base import clone

            return clone(self.reducer)
        return copy.deepcopy(self.reducer)

    def _check_finite(self, activations: torch.Tensor) -> None:
        bad = int((~torch.isfinite(activations)).sum())
        if bad:
            raise ValueError(
                f"the activations of layer {self.layer!r} contain {bad} NaN or infinite values; "
                "check the images and the model's weights (a diverged checkpoint?)."
            )

    def _reducer_name(self) -> str:
        if isinstance(self.reducer, str):
            return self.reducer.lower()
        return (
            "nmf" if "nmf" in type(self.reducer).__name__.lower() else type(self.reducer).__name__
        )

    def _check_non_negative(self, activations: torch.Tensor) -> None:
        lowest = float(activations.min())
        if lowest < 0:
            raise ValueError(
                f"layer {self.layer!r} is not non-negative (minimum activation {lowest:.4g}): NMF needs "
                "post-ReLU activations. Pick a layer that ends in a ReLU (e.g. 'layer4' of a ResNet) "
                "or use reducer='pca'."
            )

    # ------------------------------------------------------------------ concepts
    def concept_maps_from_features(self, activations: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Concept maps S of shape (n, h, w, n_components) for activations (n, h, w, c)."""
        self._check_fitted()
        activations = check_activations(activations, self.n_features_in_)
        return reducer_concept_maps(
            self.reducer_, activations, batch_size=self.batch_size, device=self.device_
        )

    def concept_scores_from_features(self, activations: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Concept scores (n, n_components): the GAP over h×w of the concept maps."""
        return self.concept_maps_from_features(activations).mean(dim=(1, 2))

    def concept_maps(self, images: ImageInput) -> torch.Tensor:
        """Concept maps (n, h, w, n_components) for images (n, 3, H, W) or batches of them."""
        self._check_fitted()
        return self.concept_maps_from_features(self._extract(images))

    def concept_scores(self, images: ImageInput) -> torch.Tensor:
        """Concept scores (n, n_components) for images (n, 3, H, W) or batches of them."""
        return self.concept_maps(images).mean(dim=(1, 2))

    def top_concepts(self, k: int = 5, class_index: int | None = None) -> np.ndarray:
        """Indices of the ``k`` concepts with the highest weight for ``class_index`` (default: target)."""
        self._check_fitted()
        column = self.concept_weights_[
            :, self.target_class_ if class_index is None else class_index
        ]
        return np.argsort(-column, kind="stable")[:k]

    # ------------------------------------------------------------ explanations
    def explain(self, image: torch.Tensor) -> LocalExplanation:
        """Local explanation of one image, shape (3, H, W) or (1, 3, H, W)."""
        self._check_fitted()
        if isinstance(image, torch.Tensor) and image.ndim == 3:
            image = image.unsqueeze(0)
        if isinstance(image, torch.Tensor) and image.ndim == 4 and image.shape[0] != 1:
            raise ValueError(
                f"image has shape {tuple(image.shape)}; explain takes one image (3, H, W)."
            )
        return self.explain_features(self.extractor_(image))

    @torch.no_grad()
    def explain_features(self, activations: torch.Tensor | np.ndarray) -> LocalExplanation:
        """Local explanation from one image's activations, shape (h, w, c) or (1, h, w, c)."""
        self._check_fitted()
        if activations.ndim == 3:
            activations = activations[None]
        activations = check_activations(activations, self.n_features_in_).to(self.device_)
        if activations.shape[0] != 1:
            raise ValueError(
                f"activations has shape {tuple(activations.shape)}; pass one image's (h, w, c)."
            )
        logits = self.head_(activations)[0]
        scores = self.concept_scores_from_features(activations)[0]
        contributions = scores[:, None] * self._weights
        if isinstance(self.head_, LinearHead):
            # GAP(A − S·P)·W: exact, so the parts sum to the logit up to rounding.
            residual = (
                activations.mean(dim=(0, 1, 2)) - scores @ self._components
            ) @ self.head_.weight
            mean_term = self._offset @ self.head_.weight
        else:
            residual = logits - self._bias - contributions.sum(dim=0)
            mean_term = torch.zeros_like(residual)
        return LocalExplanation(
            target_class=self.target_class_,
            logits=_numpy(logits),
            concept_scores=_numpy(scores),
            weights=self.concept_weights_.copy(),
            contributions=_numpy(contributions),
            residual=_numpy(residual),
            bias=self.bias_.copy(),
            mean_term=_numpy(mean_term),
            is_estimate=self.weights_are_estimates_,
        )

    # ------------------------------------------------------- approximate model
    def reconstruct_logits(self, activations: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The approximate model's logits C(R⁻¹(R(A))), shape (n, n_classes), for A (n, h, w, c)."""
        self._check_fitted()
        activations = check_activations(activations, self.n_features_in_)
        return approximate_logits(
            self.head_, self.reducer_, activations, batch_size=self.batch_size, device=self.device_
        )

    def approximate_logits(self, images: ImageInput) -> torch.Tensor:
        """F̂(I) = C(R⁻¹(R(E(I)))), shape (n, n_classes), for images (n, 3, H, W) or batches."""
        self._check_fitted()
        return self.reconstruct_logits(self._extract(images))

    # ------------------------------------------------------------------ plumbing
    def _extract(self, images: ImageInput, first: list[torch.Tensor] | None = None) -> torch.Tensor:
        if isinstance(images, torch.Tensor):
            if images.ndim == 4 and images.shape[0] == 0:
                raise ValueError(
                    "images is empty (0 images); a class needs at least one image (n, 3, H, W)."
                )
            batches: Iterable[torch.Tensor] = (
                images.split(self.batch_size) if images.ndim == 4 else [images]
            )
        else:
            batches = images
        try:
            return self.extractor_.extract(_remember_first(batches, first))
        except ValueError as error:
            if "batches is empty" in str(error):
                raise ValueError(
                    "no images given: the class is empty; give it at least one image."
                ) from error
            raise

    def _check_fitted(self) -> None:
        if not hasattr(self, "reducer_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "This ConceptExplainer is not fitted yet; call fit(images, target_class) first."
            )


@torch.no_grad()
def reducer_concept_maps(
    reducer: object,
    activations: torch.Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Concept maps S, shape (n, h, w, c'), of activations (n, h, w, c) under a fitted reducer.

    Batch by batch on ``device`` (default: the reducer's), so a large class never needs
    its whole (n·h·w, c') score matrix at once beside the activations.
    """
    device = device or getattr(reducer, "device_", activations.device)
    n, h, w, c = activations.shape
    parts = [
        reducer.transform(batch.to(device).reshape(-1, c)).reshape(batch.shape[0], h, w, -1)
        for batch in activations.split(batch_size)
    ]
    if parts:
        return torch.cat(parts)
    return torch.empty((0, h, w, reducer.components_.shape[0]), device=device)


def approximate_logits(
    head: Head,
    reducer: object,
    activations: torch.Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | None = None,
    classes: torch.Tensor | None = None,
) -> torch.Tensor:
    """C(R⁻¹(R(A))) for a fitted reducer R, shape (n, n_classes) (or (n, len(classes))).

    For a linear head only the GAP of the reconstruction is needed and, the
    reducers' inverse being affine (S·P, plus the mean for PCA), GAP(R⁻¹(S)) =
    R⁻¹(GAP(S)): the full (n·h·w, c) reconstruction is never built.
    """
    device = device or head.device
    parts = []
    for batch in activations.split(batch_size):
        n, h, w, c = batch.shape
        scores = reducer.transform(batch.to(device).reshape(-1, c))
        if isinstance(head, LinearHead):
            pooled = reducer.inverse_transform(scores.reshape(n, h * w, -1).mean(dim=1))
            if classes is None:
                logits = head.from_pooled(pooled)
            else:
                logits = pooled.to(head.device) @ head.weight[:, classes] + head.bias[classes]
        else:
            logits = head(reducer.inverse_transform(scores).reshape(n, h, w, c))
            logits = logits if classes is None else logits[:, classes]
        parts.append(logits)
    return torch.cat(parts)


def _remember_first(batches: Iterable, first: list[torch.Tensor] | None) -> Iterator:
    for batch in batches:
        if first is not None and not first:
            first.append(batch[0] if isinstance(batch, list | tuple) else batch)
        yield batch


def _check_class(target_class: object, n_classes: int | None = None) -> int:
    if isinstance(target_class, bool) or not isinstance(target_class, numbers.Integral):
        raise TypeError(
            f"target_class must be a class index (int), got {type(target_class).__name__}."
        )
    if target_class < 0 or (n_classes is not None and target_class >= n_classes):
        upper = "the number of classes - 1" if n_classes is None else n_classes - 1
        raise ValueError(f"target_class={target_class}; pass a class index between 0 and {upper}.")
    return int(target_class)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy()
