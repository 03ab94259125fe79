"""Feature-extraction throughput and the end-to-end cost of one class's explainer; print JSON.

    python benchmarks/features.py [--quick] [--device auto] [--out FILE]

- throughput (images/s) of ``FeatureExtractor`` for resnet18 at 96 px and resnet50 at
  224 px (random weights: speed does not depend on the values), batch 32, after a
  warm-up batch;
- one class's explainer end to end on the synthetic dataset at the default
  classifier: decode + extract the class's 350 training images through the feature
  bank (cold), then fit an NMF explainer with c' = 10, then the same with the bank warm.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explainers.ice.classifiers import build_model, load_classifier, save_checkpoint  # noqa: E402
from explainers.ice.devices import resolve_device  # noqa: E402
from explainers.ice.explainer import ConceptExplainer  # noqa: E402
from explainers.ice.feature_bank import FeatureBank  # noqa: E402
from explainers.ice.features import FeatureExtractor  # noqa: E402
from explainers.ice.synthetic import make_synthetic_dataset  # noqa: E402


def throughput(
    arch: str, size: int, device: torch.device, *, batches: int, batch_size: int = 32
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    extractor = FeatureExtractor(model, "layer4", device=device)
    images = torch.rand(batch_size, 3, size, size, device=device)
    extractor(images)  # warm-up: allocations, cuDNN autotuning
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(batches):
        activations = extractor(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {
        "arch": arch,
        "input_px": size,
        "batch_size": batch_size,
        "images": batches * batch_size,
        "seconds": round(seconds, 3),
        "images_per_s": round(batches * batch_size / seconds, 1),
        "feature_shape": list(activations.shape[1:]),
    }


def explainer_end_to_end(
    work: Path, device: torch.device, *, per_class: tuple[int, int, int]
) -> dict[str, Any]:
    """Cold bank (decode + CNN + write), fit; then warm bank (memory-map), fit."""
    data = make_synthetic_dataset(work / "data", seed=0, per_class=per_class, n_classes=2)
    torch.manual_seed(0)
    model = build_model("icelab_resnet", num_classes=2)
    checkpoint = work / "model.pt"
    save_checkpoint(checkpoint, model, meta={"class_names": data.metadata["classes"]})
    model = load_classifier(None, checkpoint, map_location=device)
    class_name = data.metadata["classes"][0]
    paths = sorted((data.path / "train" / class_name).glob("*.png"))
    timings = {}
    for state in ("cold", "warm"):
        bank = FeatureBank(
            work / "bank", FeatureExtractor(model, "layer4", device=device), workers=2
        )
        started = time.perf_counter()
        entry = bank.get("train", class_name, paths)
        features = np.asarray(entry.features)
        extracted = time.perf_counter()
        ConceptExplainer(model, "layer4", "nmf", 10, random_state=0, device=device).fit_features(
            features, 0
        )
        fitted = time.perf_counter()
        timings[state] = {
            "features_seconds": round(extracted - started, 3),
            "fit_seconds": round(fitted - extracted, 3),
            "total_seconds": round(fitted - started, 3),
        }
    return {
        "images": len(paths),
        "feature_shape": list(features.shape[1:]),
        "reducer": "nmf",
        "n_components": 10,
        **timings,
    }


def machine(device: torch.device) -> dict[str, Any]:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    try:
        info["cpu"] = next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line
        )
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="A small smoke run (seconds), not a measurement."
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", help="Also write the JSON here.")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    batches = 1 if args.quick else (20 if device.type == "cuda" else 4)
    result: dict[str, Any] = {
        "benchmark": "features",
        "quick": args.quick,
        "machine": machine(device),
    }
    result["throughput"] = [
        throughput("resnet18", 96, device, batches=batches),
        throughput("resnet50", 224, device, batches=batches),
    ]
    with tempfile.TemporaryDirectory() as work:
        per_class = (12, 1, 1) if args.quick else (350, 50, 100)
        result["explainer_end_to_end"] = explainer_end_to_end(
            Path(work), device, per_class=per_class
        )
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
