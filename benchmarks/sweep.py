"""The Figure 3 fidelity sweep per class, on ImageNet-shaped JPEGs; JSON, and a projection to 1,000 classes.

    python benchmarks/sweep.py [--device auto] [--classes N] [--train-images N]
                               [--test-images N] [--components 5,10,...,50]
                               [--reducers nmf,pca,kmeans] [--single-classes 1] [--json] [--out FILE]

A synthetic ImageNet-shaped dataset is written first (not timed): per class,
JPEGs of ImageNet's typical sizes (500×375, 500×333, 375×500, …; smooth random
colour fields, quality 90). The model is torchvision's ResNet50 with random
weights (speed does not depend on the values) at 224 px; the layer is layer4
(7×7×2048). Then, per class, timed separately:

- decode: ``torchvision.io.decode_jpeg`` (on CUDA with ``device="cuda"``, batched),
  resize to 256 px on the short side and centre-crop to 224;
- features: the CNN up to layer4;
- fit: each reducer's batched fit of every c' (``reducers.batched.fit_reducers``,
  through ``sweep_engine.sweep_class``), and for NMF the one-at-a-time fits of the
  same c' values in the same run (for the first ``--single-classes``, default 1), with the largest
  relative difference of their reconstruction errors; ``--nmf-rows`` also times
  both at a class's full size for a fixed number of iterations (see
  :func:`nmf_iteration_cost`);
- eval: F̂_g on the class's needed test rows, every (reducer, c').

The held-out images (``--test-images`` per class) are decoded and extracted once,
as the sweep's test set. The metrics (Fid_c, Fid_r, accuracy per reducer and c')
come from ``sweep_engine.combine``; with random weights they only show the
pipeline works. The projection scales the per-class times to 1,000 classes ×
1,300 training images (+ 50 held out): decode and features per image, the fits
and the scoring linearly in the number of rows (NMF's iteration count is taken
as measured: an assumption, stated in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from torchvision.io import ImageReadMode, decode_jpeg, encode_jpeg, read_file
from torchvision.transforms.v2 import functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reducers import machine_info  # noqa: E402
from explainers.ice.devices import resolve_device  # noqa: E402
from explainers.ice.features import FeatureExtractor  # noqa: E402
from explainers.ice.files import atomic_write_text  # noqa: E402
from explainers.ice.reducers import make_reducer  # noqa: E402
from explainers.ice.sweep_engine import SweepTestSet, combine, run_meta, sweep_class  # noqa: E402

# (width, height) of ImageNet photos, the most common first.
IMAGENET_SIZES = [(500, 375), (500, 333), (375, 500), (500, 400), (500, 334), (333, 500)]
FULL_CLASSES, FULL_TRAIN, FULL_TEST = 1000, 1300, 50
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# ------------------------------------------------------------------ the dataset
def write_jpegs(folder: Path, n_classes: int, per_class: int, seed: int = 0) -> list[list[Path]]:
    """``per_class`` JPEGs per class under ``folder/class-XXXX/``; returns their paths."""
    generator = torch.Generator().manual_seed(seed)
    jobs = []
    for c in range(n_classes):
        tint = torch.rand(3, 1, 1, generator=generator)
        for i in range(per_class):
            width, height = IMAGENET_SIZES[
                int(torch.randint(len(IMAGENET_SIZES), (1,), generator=generator))
            ]
            coarse = torch.rand(1, 3, 6, 8, generator=generator)
            jobs.append((folder / f"class-{c:04d}" / f"{i:05d}.jpg", tint, coarse, height, width))

    def write(job) -> Path:
        path, tint, coarse, height, width = job
        field = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic")[0]
        image = ((0.6 * field + 0.4 * tint).clamp(0, 1) * 255).to(torch.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_jpeg(image, quality=90).numpy().tobytes())
        return path

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        paths = list(pool.map(write, jobs))
    return [paths[c * per_class : (c + 1) * per_class] for c in range(n_classes)]


def decode(paths: list[Path], device: torch.device, batch: int = 64) -> torch.Tensor:
    """Decoded, resized (short side 256), centre-cropped (224) and normalised images, (n, 3, 224, 224)."""
    out = []
    for start in range(0, len(paths), batch):
        data = [read_file(str(p)) for p in paths[start : start + batch]]
        if device.type == "cuda":
            images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        else:
            images = [decode_jpeg(d, mode=ImageReadMode.RGB) for d in data]
        # Resized as float: antialiased resizing of uint8 is not on every device.
        crops = [
            TF.center_crop(TF.resize(image.float(), 256, antialias=True), 224) for image in images
        ]
        batch_images = torch.stack(crops).div_(255)
        out.append((batch_images - MEAN.to(device)) / STD.to(device))
    return torch.cat(out)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(on: torch.device, function, /, *args, **kwargs) -> tuple[Any, float]:
    """``function(*args, **kwargs)`` and its wall time, the device's queue drained on both ends."""
    synchronize(on)
    started = time.perf_counter()
    value = function(*args, **kwargs)
    synchronize(on)
    return value, time.perf_counter() - started


# ------------------------------------------------------------------ the sweep
def one_at_a_time_nmf(flat: torch.Tensor, n_components: list[int], device) -> dict[int, Any]:
    return {
        k: make_reducer("nmf", k, random_state=0, device=device, input_name="benchmark").fit(flat)
        for k in n_components
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = resolve_device(args.device)
    n_components = [int(k) for k in args.components.split(",")]
    reducers = args.reducers.split(",")
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    extractor = FeatureExtractor(model, "layer4", device=device)
    batch_size = 64 if device.type == "cuda" else 16

    def features(images: torch.Tensor) -> torch.Tensor:
        return extractor.extract(images.split(batch_size))

    per_image = args.train_images + args.test_images
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        paths = write_jpegs(Path(work), args.classes, per_image)
        made = time.perf_counter() - started
        features(decode(paths[0][:2], device))  # warm-up: allocations, cuDNN, nvJPEG
        test_features, test_timing = {}, {"decode_seconds": 0.0, "features_seconds": 0.0}
        for c, class_paths in enumerate(paths):
            images, seconds = timed(device, decode, class_paths[args.train_images :], device)
            test_timing["decode_seconds"] += seconds
            test_features[c], seconds = timed(device, features, images)
            test_timing["features_seconds"] += seconds
        test_set, seconds = timed(
            device, SweepTestSet.build, extractor.head, test_features, list(range(args.classes))
        )
        test_timing["test_set_seconds"] = seconds
        del test_features
        per_class, results, eigh_seconds = [], {}, 0.0
        for c, class_paths in enumerate(paths):
            row: dict[str, Any] = {"class_index": c, "train_images": args.train_images}
            images, row["decode_seconds"] = timed(
                device, decode, class_paths[: args.train_images], device
            )
            activations, row["features_seconds"] = timed(device, features, images)
            del images
            result, seconds = timed(
                device,
                sweep_class,
                extractor.head,
                test_set,
                c,
                activations,
                reducers=reducers,
                n_components=n_components,
                random_state=0,
                device=device,
                batch_size=batch_size,
            )
            results[c] = result
            row["sweep_class_seconds"] = seconds
            row["fit_seconds"] = {name: round(s, 3) for name, s in result.fit_seconds.items()}
            row["eval_seconds"] = round(float(result.eval_seconds.sum()), 3)
            row["needed_test_rows"] = len(result.rows)
            row["nmf_n_iter"] = {
                k: int(n)
                for (name, k), n in zip(result.entries, result.n_iter, strict=True)
                if name == "nmf"
            }
            if "nmf" in reducers and c < args.single_classes:
                flat = activations.reshape(-1, activations.shape[-1]).to(device)
                single, seconds = timed(device, one_at_a_time_nmf, flat, n_components, device)
                row["nmf_one_at_a_time_seconds"] = round(seconds, 3)
                row["nmf_batched_speedup"] = round(seconds / result.fit_seconds["nmf"], 2)
                row["nmf_one_at_a_time_n_iter"] = {k: int(r.n_iter_) for k, r in single.items()}
                batched_errors = {
                    k: float(e)
                    for (name, k), e in zip(result.entries, result.reconstruction_err, strict=True)
                    if name == "nmf"
                }
                gap = max(
                    abs(batched_errors[k] / single[k].reconstruction_err_ - 1) for k in n_components
                )
                row["nmf_single_vs_batched_max_rel_error_difference"] = float(f"{gap:.2e}")
                del flat, single
            if c == 0 and "pca" in reducers:
                eigh_seconds = pca_eigh_seconds(activations, max(n_components))
            del activations
            per_class.append(_rounded(row))
            if args.out:  # after each class, so a run cut short keeps what it measured
                partial = {"benchmark": "sweep", "partial": True, "per_class": per_class}
                atomic_write_text(args.out, json.dumps(partial, indent=2) + "\n")
        sweep = combine(test_set, results, meta=run_meta(device))
    rows = args.train_images * 49  # 7×7 positions per image
    return {
        "benchmark": "sweep",
        "machine": machine_info(device),
        "versions": sweep.settings["meta"]["versions"],
        "settings": {
            "classes": args.classes,
            "train_images_per_class": args.train_images,
            "test_images_per_class": args.test_images,
            "reducers": reducers,
            "n_components": n_components,
            "model": "torchvision resnet50(weights=None), 224 px, layer4 (7x7x2048)",
            "rows_per_class_fit": rows,
            "dataset_write_seconds": round(made, 2),
        },
        "test_set": _rounded(test_timing),
        "per_class": per_class,
        "metrics": json.loads(
            sweep.table.drop(columns=["n_test_images"]).round(4).to_json(orient="records")
        ),
        "pca_eigh_seconds": round(eigh_seconds, 3),
        "nmf_iteration_cost": (
            nmf_iteration_cost(args.nmf_rows, n_components, device, args.nmf_iterations)
            if args.nmf_rows
            else None
        ),
        "projection_1000_classes": projection(per_class, args, rows, eigh_seconds),
    }


def nmf_iteration_cost(
    rows: int, n_components: list[int], device: torch.device, iterations: int
) -> dict[str, Any]:
    """Seconds per HALS iteration, batched against one c' at a time, at a fixed iteration count.

    The sweep's own fits stop where each c' converges, which at a few hundred rows
    is the HALS passes' cost, not the products with the data that batching shares.
    Here every fit runs exactly ``iterations`` iterations (tol = 0) on ``rows`` ×
    2,048 non-negative data (low-rank plus noise, post-ReLU-like), so the two
    costs compare at a class's real size.
    """
    from explainers.ice.reducers.batched import fit_reducers

    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(rows, 64, generator=generator) @ torch.randn(64, 2048, generator=generator)
    X = torch.relu(latent / 8 + 0.3 * torch.randn(rows, 2048, generator=generator) - 0.5)
    X = X.to(device)
    params = {"random_state": 0, "device": device, "max_iter": iterations, "tol": 0.0}
    batched, batched_seconds = timed(device, fit_reducers, "nmf", X, n_components, **params)
    single_seconds = 0.0
    gaps = []
    for k in n_components:
        reducer, seconds = timed(device, lambda k=k: make_reducer("nmf", k, **params).fit(X))
        single_seconds += seconds
        gaps.append(abs(batched[k].reconstruction_err_ / reducer.reconstruction_err_ - 1))
    return {
        "rows": rows,
        "features": 2048,
        "n_components": n_components,
        "iterations": iterations,
        "batched_seconds": round(batched_seconds, 3),
        "one_at_a_time_seconds": round(single_seconds, 3),
        "speedup": round(single_seconds / batched_seconds, 2),
        "max_rel_error_difference": float(f"{max(gaps):.2e}"),
    }


def pca_eigh_seconds(activations: torch.Tensor, k: int) -> float:
    """The eigendecomposition inside a PCA fit (top k of the class's c×c covariance),
    timed alone: a fixed cost per class that, unlike the covariance, does not grow
    with the rows."""
    from explainers.ice.reducers.pca import _top_eigenvectors

    flat = activations.reshape(-1, activations.shape[-1]).double()
    centred = flat - flat.mean(dim=0)
    scatter = (centred.T @ centred).cpu().numpy()
    started = time.perf_counter()
    _top_eigenvectors(scatter, k)
    return time.perf_counter() - started


def projection(per_class: list[dict], args, rows: int, eigh_seconds: float) -> dict[str, Any]:
    """Seconds for 1,000 classes × 1,300 training images (+ 50 test), scaled from this run."""
    n = len(per_class)
    decode = sum(r["decode_seconds"] for r in per_class) / (n * args.train_images)
    extract = sum(r["features_seconds"] for r in per_class) / (n * args.train_images)
    fits = {
        name: sum(r["fit_seconds"][name] for r in per_class) / n
        for name in per_class[0]["fit_seconds"]
    }
    scale = FULL_TRAIN / args.train_images
    projected_fits = {name: seconds * scale for name, seconds in fits.items()}
    if "pca" in fits:  # the eigendecomposition does not grow with the rows
        projected_fits["pca"] = max(fits["pca"] - eigh_seconds, 0.0) * scale + eigh_seconds
    per_class_seconds = {
        "decode": decode * (FULL_TRAIN + FULL_TEST),
        "features": extract * (FULL_TRAIN + FULL_TEST),
        **{f"fit_{name}": seconds for name, seconds in projected_fits.items()},
        # each class scores its needed rows: about (top_k + 1) × 50 at full scale
        "eval": sum(r["eval_seconds"] for r in per_class)
        / n
        * (6 * FULL_TEST)
        / max(np.mean([r["needed_test_rows"] for r in per_class]), 1),
    }
    total = FULL_CLASSES * sum(per_class_seconds.values())
    return {
        "per_class_seconds": {k: round(v, 2) for k, v in per_class_seconds.items()},
        "total_seconds": round(total, 1),
        "total_minutes": round(total / 60, 1),
        "assumptions": (
            "decode and features scale per image; each reducer's fit scales linearly with the "
            f"rows (measured at {rows}, full scale {FULL_TRAIN * 49}) at the measured iteration "
            "counts, except PCA's eigendecomposition (timed on its own, kept fixed); scoring "
            "scales with the needed test rows (~6 x 50 per class at full scale); one process, "
            "classes one after another."
        ),
    }


def _rounded(row: dict) -> dict:
    return {
        k: (round(v, 3) if k.endswith("_seconds") and isinstance(v, float) else v)
        for k, v in row.items()
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--classes", type=int, default=None, help="default: 3 on CUDA, 2 on the CPU"
    )
    parser.add_argument(
        "--train-images",
        type=int,
        default=None,
        help="per class; default 1300 on CUDA, 8 on the CPU",
    )
    parser.add_argument(
        "--test-images", type=int, default=None, help="per class; default 50 on CUDA, 4 on the CPU"
    )
    parser.add_argument(
        "--components",
        default=None,
        help="c' values; default 5,10,...,50 on CUDA, 5,10,20 on the CPU",
    )
    parser.add_argument("--reducers", default="nmf,pca,kmeans")
    parser.add_argument(
        "--single-classes",
        type=int,
        default=1,
        help="classes whose NMF is also fitted one c' at a time, for comparison (0: none)",
    )
    parser.add_argument(
        "--nmf-rows",
        type=int,
        default=None,
        help="also time NMF batched vs one at a time at this many rows and fixed iterations "
        "(default: 63,700 on CUDA, none on the CPU)",
    )
    parser.add_argument("--nmf-iterations", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print the JSON (default: a summary)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    cuda = resolve_device(args.device).type == "cuda"
    args.classes = args.classes or (3 if cuda else 2)
    args.train_images = args.train_images or (FULL_TRAIN if cuda else 16)
    args.nmf_rows = (FULL_TRAIN * 49 if cuda else 0) if args.nmf_rows is None else args.nmf_rows
    args.components = args.components or ",".join(
        str(k) for k in (range(5, 55, 5) if cuda else (5, 10, 20))
    )
    args.test_images = args.test_images or (FULL_TEST if cuda else 4)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    if args.json:
        print(text)
    else:
        print(summary(result))
    return result


def summary(result: dict) -> str:
    lines = [
        f"sweep benchmark on {result['machine']['device']} ({result['machine'].get('gpu') or result['machine']['cpu_model']})"
    ]
    for row in result["per_class"]:
        lines.append(
            f"class {row['class_index']}: decode {row['decode_seconds']} s, features {row['features_seconds']} s, "
            f"fits {row['fit_seconds']}, eval {row['eval_seconds']} s"
            + (
                f", NMF one-at-a-time {row['nmf_one_at_a_time_seconds']} s ({row['nmf_batched_speedup']}x)"
                if "nmf_one_at_a_time_seconds" in row
                else ""
            )
        )
    if result["nmf_iteration_cost"]:
        cost = result["nmf_iteration_cost"]
        lines.append(
            f"NMF {cost['iterations']} iterations at {cost['rows']} rows: batched "
            f"{cost['batched_seconds']} s, one at a time {cost['one_at_a_time_seconds']} s "
            f"({cost['speedup']}x)"
        )
    projected = result["projection_1000_classes"]
    lines.append(f"projected 1,000 classes x 1,300 images: {projected['total_minutes']} min")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
