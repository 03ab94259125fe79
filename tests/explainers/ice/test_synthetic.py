"""The built-in synthetic part dataset: vocabulary, rendering and masks, files on disk, determinism."""

from __future__ import annotations

import colorsys
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explainers.ice.synthetic import (
    CLASSES,
    DEFAULT_N_CLASSES,
    PART_IDS,
    PARTS,
    SyntheticDataset,
    load_part_masks,
    make_synthetic_dataset,
    read_metadata,
    render_image,
    split_counts,
)
from explainers.ice.synthetic import dataset as dataset_module

SMALL = {"n_classes": 3, "per_class": (2, 1, 1), "size": 64, "workers": 1}


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return make_synthetic_dataset(
        tmp_path_factory.mktemp("synthetic") / "data", seed=3, **SMALL
    ).path


# --- vocabulary and classes ---------------------------------------------------------------------


def test_vocabulary_has_at_least_16_distinct_parts_with_ids_from_1():
    names = [part.name for part in PARTS]
    assert len(names) >= 16 and len(set(names)) == len(names)
    assert sorted(PART_IDS.values()) == list(range(1, len(names) + 1))


def test_classes_are_distinct_sets_of_two_to_four_known_parts():
    assert len(CLASSES) >= 20
    part_sets = [frozenset(definition.parts) for definition in CLASSES]
    assert len(set(part_sets)) == len(part_sets)
    for definition in CLASSES:
        assert 2 <= len(definition.parts) <= 4
        assert set(definition.parts) <= set(PART_IDS)


def test_default_classes_share_every_part_and_some_differ_by_one_part():
    default = CLASSES[:DEFAULT_N_CLASSES]
    usage = {name: sum(name in definition.parts for definition in default) for name in PART_IDS}
    assert min(usage.values()) >= 2, f"parts used by fewer than two default classes: {usage}"
    one_apart = [
        (a.name, b.name)
        for a, b in itertools.combinations(default, 2)
        if len(set(a.parts) ^ set(b.parts)) == 1
    ]
    assert ("car", "bus") in one_apart and len(one_apart) >= 5


# --- split counts and argument checks ------------------------------------------------------------


def test_split_counts_from_a_total_is_70_15_15_with_at_least_one_each():
    assert split_counts(20) == {"train": 14, "val": 3, "test": 3}
    assert split_counts(100) == {"train": 70, "val": 15, "test": 15}
    assert split_counts(3) == {"train": 1, "val": 1, "test": 1}
    assert split_counts((5, 1, 2)) == {"train": 5, "val": 1, "test": 2}


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"size": 63}, ValueError, "size"),
        ({"size": 80.0}, TypeError, "size"),
        ({"per_class": 0}, ValueError, "per_class"),
        ({"per_class": 2}, ValueError, "per_class"),
        ({"per_class": (0, 1, 1)}, ValueError, "per_class"),
        ({"per_class": (2, 1)}, ValueError, "per_class"),
        ({"per_class": "many"}, ValueError, "per_class"),
        ({"n_classes": len(CLASSES) + 1}, ValueError, "n_classes"),
        ({"n_classes": 1}, ValueError, "n_classes"),
        ({"seed": -1}, ValueError, "seed"),
        ({"workers": 0}, ValueError, "workers"),
    ],
)
def test_bad_arguments_are_refused_with_the_argument_named(tmp_path, kwargs, error, names):
    arguments = {**SMALL, **kwargs}
    with pytest.raises(error, match=names):
        make_synthetic_dataset(tmp_path / "data", **arguments)
    assert not (tmp_path / "data").exists()


# --- rendering and masks --------------------------------------------------------------------------


@pytest.mark.parametrize("definition", CLASSES[:DEFAULT_N_CLASSES:3], ids=lambda d: d.name)
def test_each_mask_is_exactly_the_pixels_its_part_changed(definition):
    # Every random stream is separate, so hiding one part leaves all other pixels identical:
    # the pixels that change are the part's own, which is what its mask must hold.
    seed = np.random.SeedSequence(11, spawn_key=(7,))
    full = render_image(definition.parts, size=96, seed=seed)
    for name in definition.parts:
        without = render_image(definition.parts, size=96, seed=seed, hidden_parts=[name])
        changed = np.any(full.image != without.image, axis=-1)
        mask = full.labels == PART_IDS[name]
        assert not np.any(changed & ~mask), f"{name}: pixels changed outside its mask"
        assert changed[mask].mean() > 0.9, f"{name}: mask covers pixels the part did not change"
        assert np.array_equal(without.labels, np.where(mask, 0, full.labels))


def test_masks_are_non_empty_disjoint_and_only_for_parts_present():
    for index, definition in enumerate(CLASSES):
        rendered = render_image(definition.parts, size=64, seed=index)
        masks = rendered.part_masks()
        assert set(masks) == set(definition.parts)
        assert all(
            mask.shape == (64, 64) and mask.dtype == bool and mask.sum() >= 20
            for mask in masks.values()
        )
        assert sum(mask.astype(int) for mask in masks.values()).max() == 1
        assert set(np.unique(rendered.labels)) == {0} | {
            PART_IDS[name] for name in definition.parts
        }


def test_parts_stay_inside_their_placement_disc_at_any_rotation():
    rows, cols = np.mgrid[0:96, 0:96]
    for part in PARTS:
        for seed in range(6):
            rendered = render_image([part.name], size=96, seed=seed)
            place = rendered.placements[0]
            distance = np.hypot(cols + 0.5 - place.x, rows + 0.5 - place.y)[rendered.labels > 0]
            assert distance.max() <= place.radius * 1.06 + 1.5, part.name


def test_part_colours_show_under_their_masks():
    # Hand-derived from the part definitions: hearts are red-to-pink, wheels have a dark tyre.
    for seed in range(5):
        heart = render_image(["heart", "star"], size=96, seed=seed)
        pixels = heart.image[heart.part_masks()["heart"]] / 255.0
        hues = np.array([colorsys.rgb_to_hsv(*pixel)[0] for pixel in pixels])
        assert np.mean((hues > 0.8) | (hues < 0.1)) > 0.8
        wheel = render_image(["wheel", "cross"], size=96, seed=seed)
        brightness = wheel.image[wheel.part_masks()["wheel"]].max(axis=1)
        assert np.mean(brightness < 110) > 0.3


def test_images_of_a_class_vary_in_layout_and_colour():
    renders = [render_image(("eye", "beak"), size=64, seed=seed) for seed in range(8)]
    centres = {tuple(np.round([p.x, p.y])) for r in renders for p in r.placements}
    assert len(centres) == 16
    beak_colours = {tuple(r.image[r.part_masks()["beak"]].mean(axis=0).round()) for r in renders}
    assert len(beak_colours) == 8


# --- files on disk ----------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path, small_dataset):
    again = make_synthetic_dataset(tmp_path / "again", seed=3, **SMALL).path
    first, second = _tree_bytes(small_dataset), _tree_bytes(again)
    assert first == second
    other = _tree_bytes(make_synthetic_dataset(tmp_path / "other", seed=4, **SMALL).path)
    assert set(other) == set(first)
    images = [name for name in first if not name.startswith("masks/") and name.endswith(".png")]
    assert all(other[name] != first[name] for name in images)


def test_worker_count_does_not_change_a_byte(tmp_path):
    arguments = {
        "n_classes": 2,
        "per_class": (30, 2, 2),
        "size": 64,
    }  # 68 images: enough for the pool
    serial = make_synthetic_dataset(tmp_path / "serial", seed=1, workers=1, **arguments)
    parallel = make_synthetic_dataset(tmp_path / "parallel", seed=1, workers=2, **arguments)
    assert parallel.workers == 2
    assert _tree_bytes(serial.path) == _tree_bytes(parallel.path)


def test_more_images_or_classes_keep_the_existing_ones(tmp_path, small_dataset):
    bigger = make_synthetic_dataset(
        tmp_path / "bigger", seed=3, n_classes=4, per_class=(3, 1, 2), size=64, workers=1
    )
    small, large = _tree_bytes(small_dataset), _tree_bytes(bigger.path)
    shared = [name for name in small if name != "metadata.json"]
    assert all(large[name] == small[name] for name in shared)


def test_imagefolder_loads_each_split_with_the_metadata_classes(small_dataset):
    from torchvision.datasets import ImageFolder

    metadata = read_metadata(small_dataset)
    for split, per_class in metadata["per_class"].items():
        folder = ImageFolder(str(small_dataset / split))
        assert folder.classes == metadata["classes"] and len(folder.classes) == 3
        assert len(folder) == 3 * per_class
        image, label = folder[0]
        assert image.size == (64, 64) and image.mode == "RGB"


def test_metadata_matches_the_files(small_dataset):
    metadata = read_metadata(small_dataset)
    assert metadata["seed"] == 3 and metadata["size"] == 64
    assert metadata["class_parts"] == {d.name: list(d.parts) for d in CLASSES[:3]}
    assert metadata["splits"] == {"train": 6, "val": 3, "test": 3}
    on_disk = sorted(
        p.relative_to(small_dataset).as_posix()
        for s in ("train", "val", "test")
        for p in (small_dataset / s).rglob("*.png")
    )
    assert sorted(record["path"] for record in metadata["images"]) == on_disk
    for record in metadata["images"]:
        assert record["parts"] == metadata["class_parts"][record["class"]]
        assert record["path"].split("/")[1] == record["class"]
        assert (small_dataset / record["mask"]).is_file()
    text = (small_dataset / "metadata.json").read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=1) + "\n"


def test_load_part_masks_returns_the_metadata_parts_with_their_pixel_counts(small_dataset):
    for record in read_metadata(small_dataset)["images"]:
        masks = load_part_masks(small_dataset, record["path"])
        assert list(masks) == record["parts"]
        assert {name: int(mask.sum()) for name, mask in masks.items()} == record["part_pixels"]
        assert all(mask.shape == (64, 64) and mask.dtype == bool for mask in masks.values())
        labels = np.asarray(Image.open(small_dataset / record["mask"]))
        assert np.array_equal(labels > 0, np.logical_or.reduce(list(masks.values())))


def test_load_part_masks_takes_imagefolder_paths_and_refuses_others(small_dataset, tmp_path):
    dataset = SyntheticDataset(small_dataset)
    path, _label = dataset.image_folder("test").samples[0]
    assert set(dataset.part_masks(path)) == set(dataset.class_parts[Path(path).parent.name])
    with pytest.raises(ValueError, match="not an image of the dataset"):
        load_part_masks(small_dataset, "train/car/99999.png")
    with pytest.raises(ValueError, match="not inside"):
        load_part_masks(small_dataset, tmp_path / "elsewhere.png")


def test_synthetic_dataset_exposes_the_metadata(small_dataset):
    dataset = SyntheticDataset(small_dataset)
    assert dataset.classes == ["bus", "car", "fire_engine"]
    assert dataset.parts == [part.name for part in PARTS]
    assert dataset.seed == 3 and dataset.size == 64
    assert len(dataset.records("val")) == 3 and len(dataset.records()) == 12
    with pytest.raises(ValueError, match="split"):
        dataset.split_dir("training")


def test_read_metadata_explains_a_missing_dataset(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_synthetic_dataset"):
        read_metadata(tmp_path)


# --- atomic and idempotent writing ----------------------------------------------------------------------


def test_an_identical_existing_dataset_is_reused_untouched(small_dataset):
    before = {p: p.stat().st_mtime_ns for p in small_dataset.rglob("*")}
    result = make_synthetic_dataset(small_dataset, seed=3, **SMALL)
    assert result.reused and result.workers == 0 and result.n_images == 12
    assert {p: p.stat().st_mtime_ns for p in small_dataset.rglob("*")} == before


def test_a_different_dataset_is_not_overwritten_without_force(tmp_path, small_dataset):
    target = tmp_path / "data"
    make_synthetic_dataset(target, seed=3, **SMALL)
    with pytest.raises(FileExistsError, match="force"):
        make_synthetic_dataset(target, seed=5, **SMALL)
    assert read_metadata(target)["seed"] == 3
    replaced = make_synthetic_dataset(target, seed=5, force=True, **SMALL)
    assert not replaced.reused and read_metadata(target)["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "data"
    ]  # no staging or retired copies left


def test_unrelated_files_are_refused_and_an_empty_directory_is_used(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        make_synthetic_dataset(tmp_path / "busy", **SMALL)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    assert not make_synthetic_dataset(tmp_path / "empty", **SMALL).reused


def test_an_interrupted_run_leaves_nothing_that_looks_like_a_dataset(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_render = dataset_module.render_image

    def failing_render(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real_render(*args, **kwargs)

    monkeypatch.setattr(dataset_module, "render_image", failing_render)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_dataset(tmp_path / "data", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_progress_reports_every_image(tmp_path):
    seen: list[tuple[int, int]] = []
    make_synthetic_dataset(
        tmp_path / "data", progress=lambda fraction, step: seen.append((fraction, step)), **SMALL
    )
    assert seen[-1] == (1.0, "images written 12/12")
    assert all(step.endswith("/12") for _, step in seen)
    assert [fraction for fraction, _ in seen] == sorted(fraction for fraction, _ in seen)


def test_importing_the_package_pulls_in_neither_django_nor_torch():
    code = "import sys, explainers.ice.synthetic; print('django' in sys.modules, 'torch' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["False", "False"]
