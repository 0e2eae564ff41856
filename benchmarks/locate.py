"""The joint locator against the issue's targets, on real radiographs (REAL_DATA: ../shared/data/real).

- dha-hands `valid` (21 hands, never trained on), the ten scoring joints: median and 95th
  percentile radial error, share within 20 px (images 1,280 px high);
- rsna-hands, another source: the 7 distinct hands (of 12 files: hand7_* and hand8_* repeat
  hand5_* and hand6_*, hand5_R mirrors hand5_L), share within 14 px (910 px high);
- the valid hands rotated by -30 to +30 degrees, and mirrored (right hands): share within 20 px;
- the scorer's stage on crops cut at located positions against crops cut at the annotated ones,
  and, for scale, against the annotated crops moved by 3 px (how steady the scorer itself is);
- the no-hand check: the shape distance and the confidences on real hands (also rotated and
  mirrored) against images without a hand (noise, blank films, a gradient, a photograph, joint
  crops, wrist radiographs), with the thresholds;
- speed: one radiograph to ten stages and a Rau score in-process (models loaded), against a bare
  forward pass of the locator; `zoo predict` on 20 radiographs in one process, start-up included;
- kornia's augmentation of a locator batch (images and points) against the crop path's batched
  warp (zoo.data.augment), same batch.

Usage: python benchmarks/locate.py [--locator joint-locator] [--scorer erosion-scorer] [--quick]
Prints a markdown table for docs/results.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pandas as pd
import torch
from common import arguments, machine, median_seconds
from PIL import Image, ImageOps

from zoo.compose.bundles import find
from zoo.compose.plugins import get_registry
from zoo.data.augment import BatchAugment
from zoo.data.crop import auto_box, crop_square
from zoo.data.point_augment import PointsAugment
from zoo.images import load_gray, prepare
from zoo.landmarks import FOUND_CONFIDENCE
from zoo.training.model import load
from zoo.using.predict import score
from zoo.using.radiograph import MAX_SHAPE_DISTANCE, SCORING_JOINTS, LocatedHand, Locator, joint_crops
from zoo.using.visits import by_visit

ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = ROOT.parent / "shared" / "data" / "real"
RSNA_DISTINCT = ["hand1_L", "hand2_L", "hand3_L", "hand4_L", "hand5_L", "hand6_L", "hand6_R"]
ANGLES = (-30, -20, -10, 10, 20, 30)
SHIFT = 3.0  # pixels: how far the scorer's steadiness row moves the annotated crops


def dha_valid() -> list[tuple[Image.Image, dict[str, tuple[float, float]], str]]:
    """The valid hands with their scoring joints' annotated positions."""
    table = pd.read_csv(REAL_DATA / "dha-hands" / "landmarks.csv")
    table = table[(table["split"] == "valid") & table["landmark"].isin(SCORING_JOINTS)]
    return [
        (load_gray(REAL_DATA / "dha-hands" / "images" / str(image)),
         {r.landmark: (r.x, r.y) for r in rows.itertuples()}, "L")
        for image, rows in table.groupby("image", sort=True)
    ]  # fmt: skip


def rsna_hands() -> list[tuple[Image.Image, dict[str, tuple[float, float]], str]]:
    """The 7 distinct rsna hands with their scoring joints."""
    table = pd.read_csv(REAL_DATA / "rsna-hands" / "joints.csv")
    hands = []
    for name in RSNA_DISTINCT:
        rows = table[(table["image"] == f"{name}.png") & table["joint"].isin(SCORING_JOINTS)]
        hands.append((load_gray(REAL_DATA / "rsna-hands" / f"{name}.png"),
                      {r.joint: (r.x, r.y) for r in rows.itertuples()}, name[-1]))  # fmt: skip
    return hands


def errors(
    locator: Locator, image: Image.Image, truth: dict[str, tuple[float, float]]
) -> tuple[np.ndarray, LocatedHand]:
    """The radial errors (pixels) of the scoring joints on one hand."""
    hand = locator.locate(image, 0)
    found = np.array([[hand.joints[n][0], hand.joints[n][1]] for n in truth])
    return np.linalg.norm(found - np.array(list(truth.values())), axis=1), hand


def not_hands() -> list[Image.Image]:
    """Images without a hand: noise, blank and grey films, a gradient, a photograph, joint crops,
    wrist radiographs."""
    rng = np.random.default_rng(0)
    gradient = np.tile(np.linspace(0, 255, 900), (1280, 1)).astype(np.uint8)
    images = [
        Image.fromarray(rng.integers(0, 256, (1280, 900), dtype=np.uint8)),
        Image.new("L", (900, 1280), 0),
        Image.new("L", (900, 1280), 200),
        Image.fromarray(gradient),
        load_gray(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
    ]
    images += [load_gray(p) for p in sorted((REAL_DATA / "rsna-finger-crops").glob("*.png"))[:3]]
    images += [load_gray(p) for p in sorted((REAL_DATA / "ram-w600-wrists").glob("*.png"))[:3]]
    return images


def rotated(image: Image.Image, truth: dict[str, tuple[float, float]], angle: float):
    """The image rotated by `angle` degrees (anticlockwise, canvas grown), and its points moved."""
    turned = image.rotate(angle, expand=True, resample=Image.Resampling.BILINEAR)
    centre = np.array(image.size) / 2
    new_centre = np.array(turned.size) / 2
    radians = np.deg2rad(angle)
    matrix = np.array([[np.cos(radians), np.sin(radians)], [-np.sin(radians), np.cos(radians)]])
    return turned, {n: tuple((np.array(p) - centre) @ matrix.T + new_centre) for n, p in truth.items()}


def stages(scorer, config, crops: list[Image.Image]) -> np.ndarray:
    """The scorer's stage of each crop."""
    size, equalize = config["image_size"], config["equalize"]
    pixels = np.stack([prepare(c, size, equalize) for c in crops])
    table = pd.DataFrame({"image": [""] * len(crops)})
    return score(scorer, config, table, torch.device("cpu"), pixels)["stage"].to_numpy()


def annotated_crops(
    image: Image.Image, truth: dict[str, tuple[float, float]], side: str, size: int, shift: float = 0.0
) -> list[Image.Image]:
    """Crops cut at the annotated positions (moved `shift` px to the right), as `joint_crops` cuts
    them at located ones."""
    box = auto_box(np.array(list(truth.values())))
    crops = [crop_square(image, x + shift, y, box, size) for x, y in truth.values()]
    return [ImageOps.mirror(c) for c in crops] if side == "R" else crops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locator", default="joint-locator")
    parser.add_argument("--scorer", default="erosion-scorer")
    parser.add_argument("--repeats", type=int, default=7)
    args = arguments(parser, repeats=1)
    registry, device = get_registry(), torch.device("cpu")
    locator_dir, scorer_dir = find(args.locator, registry), find(args.scorer, registry)
    locator = Locator(*load(locator_dir, registry), device)
    scorer, scorer_config = load(scorer_dir, registry)
    size = scorer_config["image_size"]
    valid, rsna = dha_valid(), rsna_hands()
    if args.quick:
        valid, rsna = valid[:2], rsna[:1]
    rows: list[tuple[str, str, str]] = []

    upright = np.concatenate([errors(locator, image, truth)[0] for image, truth, _ in valid])
    within20 = float(np.mean(upright <= 20))
    rows += [
        (f"dha valid, 10 joints x {len(valid)} hands: median radial error", f"{np.median(upright):.2f} px", "<= 8 px"),
        ("dha valid: 95th percentile", f"{np.percentile(upright, 95):.1f} px", ""),
        ("dha valid: within 20 px", f"{within20:.1%}", ">= 98 %"),
    ]
    other = np.concatenate([errors(locator, image, truth)[0] for image, truth, _ in rsna])
    rows += [
        (f"rsna-hands, {len(rsna)} distinct hands: median radial error", f"{np.median(other):.2f} px", ""),
        ("rsna-hands: within 14 px", f"{np.mean(other <= 14):.1%}", ">= 95 %"),
    ]
    angles = ANGLES if not args.quick else (-30, 30)
    turned = np.concatenate(
        [errors(locator, *rotated(image, truth, a))[0] for image, truth, _ in valid for a in angles]
    )
    mirrored = np.concatenate(
        [
            errors(locator, ImageOps.mirror(image), {n: (image.width - x, y) for n, (x, y) in truth.items()})[0]
            for image, truth, _ in valid
        ]
    )
    rows += [
        (f"dha valid rotated {min(angles)}..+{max(angles)} deg: within 20 px", f"{np.mean(turned <= 20):.1%}",
         f">= {within20 - 0.02:.1%} (upright - 2 points)"),
        ("dha valid mirrored (right hands): within 20 px", f"{np.mean(mirrored <= 20):.1%}",
         f">= {within20 - 0.02:.1%}"),
    ]  # fmt: skip
    agree, steady, total = 0, 0, 0
    for image, truth, side in valid + rsna:
        hand = locator.locate(image, 0)
        located = joint_crops(image, hand, size)
        names = [n for n in truth if n in located]
        at_located = stages(scorer, scorer_config, [located[n] for n in names])
        kept = dict(zip(truth, annotated_crops(image, truth, side, size), strict=True))
        at_annotated = stages(scorer, scorer_config, [kept[n] for n in names])
        agree += int(np.sum(at_located == at_annotated))
        total += len(truth)  # a joint not found counts as a disagreement
        moved = stages(scorer, scorer_config, annotated_crops(image, truth, side, size, shift=SHIFT))
        steady += int(np.sum(moved == stages(scorer, scorer_config, list(kept.values()))))
    rows += [
        (f"scorer's stage, located vs annotated crops ({total} joints)", f"{agree / total:.1%}", ">= 95 %"),
        (f"scorer's stage, annotated crops vs the same moved {SHIFT:g} px (the scorer's own steadiness)",
         f"{steady / total:.1%}", ""),
    ]  # fmt: skip

    hands = [locator.locate(image, 0) for image, _, _ in valid + rsna]
    hands += [locator.locate(rotated(image, truth, a)[0], 0) for image, truth, _ in valid[:3] for a in (-30, 30)]
    hands += [locator.locate(ImageOps.mirror(image), 0) for image, _, _ in valid[:3]]
    others = [locator.locate(image, 0) for image in not_hands()]
    real_distance = [h.shape_distance for h in hands]
    other_distance = [h.shape_distance for h in others]
    real_confidence = min(c for h in hands for _, _, c in h.joints.values())
    other_confidence = max(c for h in others for _, _, c in h.joints.values())
    rows += [
        (f"no-hand check: shape distance of {len(hands)} real hands (also rotated, mirrored) / of {len(others)} "
         "images without a hand", f"{min(real_distance):.2f}-{max(real_distance):.2f} / "
         f"{min(other_distance):.2f}-{max(other_distance):.2f}", f"threshold {MAX_SHAPE_DISTANCE}"),
        ("no-hand check: lowest scoring-joint confidence on real hands / highest without a hand",
         f"{real_confidence:.2f} / {other_confidence:.2f}", f"threshold {FOUND_CONFIDENCE}"),
        ("no-hand check: real hands taken for no hand / images without a hand taken for a hand",
         f"{sum(not h.is_hand for h in hands)} / {sum(h.is_hand for h in others)}", "0 / 0"),
    ]  # fmt: skip

    image = valid[0][0]

    def one_radiograph() -> None:
        hand = locator.locate(image, 0)
        crops = joint_crops(image, hand, size)
        table = pd.DataFrame({"image": [""] * len(crops), "patient_id": "p", "joint": list(crops), "sample_id": "s"})
        pixels = np.stack([prepare(c, size, scorer_config["equalize"]) for c in crops.values()])
        scored = score(scorer, scorer_config, table, device, pixels).assign(status="ok")
        by_visit(scored)

    x = torch.from_numpy(prepare(image, locator.config["image_size"]).copy())[None, None].float() / 255

    @torch.inference_mode()
    def bare() -> None:
        locator.model(x.contiguous(memory_format=torch.channels_last))

    one = median_seconds(one_radiograph, args.repeats)
    forward = median_seconds(bare, args.repeats)
    rows.append(("one radiograph -> 10 stages + Rau, in-process", f"{one:.3f} s ({one / forward:.1f}x a bare "
                 "locator forward pass)", "<= 1 s"))  # fmt: skip
    count = 20 if not args.quick else 2
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(count):
            path = Path(tmp) / f"hand{i:02d}.png"
            valid[i % len(valid)][0].save(path)
            files.append(str(path))
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "zoo", "--quiet", "predict", *files, "--locator", str(locator_dir),
             "--scorer", str(scorer_dir), "--overlays", str(Path(tmp) / "overlays"), "--format", "csv"],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    rows.append((f"zoo predict, {count} radiographs, one process (start-up included)", f"{wall:.1f} s", "<= 20 s"))

    batch = torch.randint(0, 256, (8, 1, 384, 384), dtype=torch.uint8)
    points = torch.rand(8, 37, 2)
    kornia = PointsAugment(rotation=30, zoom=0.15, shift=0.05, flip=True, contrast=0.2)
    crop_path = BatchAugment(rotation=30, shear=0.0, zoom=0.15, flip=True)
    generator = torch.Generator().manual_seed(0)
    with_points = median_seconds(lambda: kornia.apply(batch, points, generator), args.repeats)
    plain = median_seconds(lambda: crop_path(batch, generator), args.repeats)
    rows.append(("augmentation of 8 x 384 px with 37 points: kornia / crop path (no points)",
                 f"{with_points * 1000:.0f} ms / {plain * 1000:.0f} ms ({with_points / plain:.2f}x)", ""))  # fmt: skip

    print(f"Locator `{args.locator}`, scorer `{args.scorer}`; {machine()}.\n")
    print("| measure | value | target |")
    print("|---|---:|---|")
    for measure, value, target in rows:
        print(f"| {measure} | {value} | {target} |")


if __name__ == "__main__":
    main()
