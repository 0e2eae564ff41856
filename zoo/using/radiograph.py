"""From a hand radiograph to joint crops: locate the ten scoring joints, check that a hand was
found, and cut the crops with the same code as `zoo data crop` (docs/localisation.md).

- What an input is (`input_kind`): a square image (sides within 15 %) under 256 px is a joint
  crop; a square one from 256 to 1,024 px is either (`SQUARE`): the locator decides, a hand
  found making it a radiograph; anything else from 256 px up is a radiograph. Smaller non-square
  images are refused: too few pixels to find joints in.
- Two hands on one film: a radiograph at least 1.25 times as wide as high is cut into two hands
  at the darkest column of its middle third (the gap between them); each is located and scored
  as its own hand (`#1` is the one on the viewer's left).
- Locating: the locator (a landmarks model, e.g. the `joint-locator` bundle) gives every point a
  position and a confidence. A scoring joint below `FOUND_CONFIDENCE` is "not found" and is not
  scored.
- No hand: the located points are aligned to the locator's mean training shape (a similarity
  transform, mirror allowed; Procrustes). When they do not form that shape (`MAX_SHAPE_DISTANCE`)
  or most scoring joints are not found, the file is "no hand found": nothing is scored from a guess.
- Side: a hand whose best alignment needs the mirror is the other hand than the locator was
  trained on (the Digital Hand Atlas: left hands): a right hand. Its crops are mirrored before
  scoring, so that a scorer trained on left hands sees every joint as a left one.
- Crops: a square centred on each joint, its side the median distance from each finger joint to
  its nearest neighbour (`zoo.data.crop.auto_box`), resized to the scorer's input size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from zoo.compose.registry import Registry
from zoo.data.crop import auto_box, crop_square
from zoo.errors import UsageError
from zoo.images import UnreadableImage, images_in, load_gray, prepare
from zoo.landmarks import FOUND_CONFIDENCE, to_pixels
from zoo.progress import track
from zoo.runs import SavedModelConfig
from zoo.targets import TARGETS
from zoo.training.model import TrainedModel

# The ten joints the Rau score reads, as the locator names them -> as the thesis and its scorers do.
SCORING_JOINTS = {
    "MP": "mcp1", "MCP2": "mcp2", "MCP3": "mcp3", "MCP4": "mcp4", "MCP5": "mcp5",
    "IP": "pip1", "PIP2": "pip2", "PIP3": "pip3", "PIP4": "pip4", "PIP5": "pip5",
}  # fmt: skip
CROP_ASPECT = 1.15  # a crop's longer side is at most this times its shorter one
CROP_MAX = 1024  # pixels: a larger image is a radiograph
RADIOGRAPH_MIN = 256  # pixels: the longer side of the smallest radiograph the zoo locates joints on
TWO_HANDS_ASPECT = 1.25  # width / height from which a film holds two hands
MAX_SHAPE_DISTANCE = 0.3  # Procrustes distance above which the points do not form a hand (docs/localisation.md)
MIN_FOUND = 6  # of the ten scoring joints: fewer found is no hand


SQUARE = "square"  # a square image large enough to be either a crop or a radiograph


def input_kind(size: tuple[int, int]) -> str:
    """'crop', 'radiograph', `SQUARE` (either), or why the image is neither (from its width and height)."""
    width, height = size
    longer, shorter = max(width, height), max(min(width, height), 1)
    if longer / shorter <= CROP_ASPECT and longer <= CROP_MAX:
        return SQUARE if longer >= RADIOGRAPH_MIN else "crop"
    if longer >= RADIOGRAPH_MIN:
        return "radiograph"
    return (
        f"neither a joint crop (square) nor a radiograph ({width} x {height} px: a radiograph needs "
        f"{RADIOGRAPH_MIN} px or more)"
    )


def split_hands(image: Image.Image) -> list[tuple[Image.Image, int]]:
    """The hands on a film, each with its left edge's column: the whole image, or, on a wide film,
    its two sides cut at the darkest column of the middle third."""
    width, height = image.size
    if width < TWO_HANDS_ASPECT * height:
        return [(image, 0)]
    columns = np.asarray(image, dtype=np.float32).mean(axis=0)
    smooth = np.convolve(columns, np.ones(15) / 15, mode="same")
    third = width // 3
    cut = third + int(np.argmin(smooth[third : 2 * third]))
    return [(image.crop((0, 0, cut, height)), 0), (image.crop((cut, 0, width, height)), cut)]


def procrustes(points: np.ndarray, shape: np.ndarray) -> tuple[float, bool]:
    """How far `points` (K, 2) are from `shape` (K, 2) after the best similarity transform (a
    mirror allowed): the residual's root mean square over the shape's own spread, 0 for the same
    shape; and whether the best transform mirrors."""
    a = points - points.mean(axis=0)
    b = shape - shape.mean(axis=0)
    spread = float(np.sqrt((b**2).sum()))
    if spread == 0 or not np.isfinite(a).all():
        return float("inf"), False
    u, singular, vt = np.linalg.svd(a.T @ b)
    rotation = u @ vt
    mirrored = bool(np.linalg.det(rotation) < 0)
    scale = singular.sum() / max(float((a**2).sum()), 1e-12)
    residual = a @ rotation * scale - b
    return float(np.sqrt((residual**2).sum()) / spread), mirrored


@dataclass
class LocatedHand:
    """One hand of a radiograph: its scoring joints' positions (pixels of the file) and confidences,
    whether it is a hand at all, and its side."""

    joints: dict[str, tuple[float, float, float]]  # locator name -> (x, y, confidence)
    offset: int  # the hand's left edge in the file (two hands on one film)
    shape_distance: float
    found: int  # scoring joints found
    is_hand: bool
    side: str  # "L" or "R" (of the hands the locator was trained on: left)
    reason: str = ""  # why it is not a hand
    extra: dict[str, tuple[float, float]] = field(default_factory=dict)  # the other landmarks, for the overlay


class Locator:
    """A landmarks model ready to locate joints on radiographs."""

    def __init__(self, model: TrainedModel, config: SavedModelConfig, device: torch.device) -> None:
        self.model = model.to(device).to(memory_format=torch.channels_last).eval()
        self.config = config
        self.device = device
        self.names = list(config.get("landmarks", []))
        missing = [name for name in SCORING_JOINTS if name not in self.names]
        if missing:
            raise UsageError(
                f"the locator does not locate the scoring joint(s) {', '.join(missing)}",
                hint=f"a joint locator's landmarks must include {', '.join(SCORING_JOINTS)}",
            )
        shape = config.get("mean_shape")
        self.mean_shape = None if shape is None else np.asarray(shape, dtype=float)

    def locate(self, hand: Image.Image, offset: int) -> LocatedHand:
        """Locate the joints of one hand image (a radiograph, or one side of a two-hand film)."""
        size, equalize = self.config["image_size"], self.config["equalize"]
        pixels = prepare(hand, size, equalize)
        x = torch.from_numpy(pixels.copy())[None, None].to(self.device).float().div_(255.0)
        with torch.inference_mode():
            predicted = self.model.predict(self.model(x.contiguous(memory_format=torch.channels_last)))
        unit = predicted["pred"][0].float().cpu().numpy()
        confidence = predicted["confidence"][0].float().cpu().numpy()
        positions = to_pixels(unit[None], np.array([hand.size]))[0] + np.array([offset, 0.0])
        index = {name: k for k, name in enumerate(self.names)}
        joints = {
            name: (float(positions[index[name], 0]), float(positions[index[name], 1]), float(confidence[index[name]]))
            for name in SCORING_JOINTS
        }
        extra = {n: (float(positions[k, 0]), float(positions[k, 1])) for n, k in index.items() if n not in joints}
        found = sum(c >= FOUND_CONFIDENCE for _, _, c in joints.values())
        distance, mirrored = (0.0, False) if self.mean_shape is None else procrustes(unit, self.mean_shape)
        reason = ""
        if distance > MAX_SHAPE_DISTANCE:
            reason = f"the located points do not form a hand (shape distance {distance:.2f} > {MAX_SHAPE_DISTANCE})"
        elif found < MIN_FOUND:
            reason = f"only {found} of the ten scoring joints found (at least {MIN_FOUND} make a hand)"
        return LocatedHand(joints, offset, distance, found, not reason, "R" if mirrored else "L", reason, extra)


def joint_crops(image: Image.Image, hand: LocatedHand, size: int) -> dict[str, Image.Image]:
    """The found scoring joints' crops, `size` px, right hands mirrored to look like left ones."""
    found = {n: (x, y) for n, (x, y, c) in hand.joints.items() if c >= FOUND_CONFIDENCE}
    box = auto_box(np.array(list(found.values())))
    crops = {name: crop_square(image, x, y, box, size) for name, (x, y) in found.items()}
    if hand.side == "R":
        crops = {name: ImageOps.mirror(crop) for name, crop in crops.items()}
    return crops


STAGE_COLOURS = ["#2ca02c", "#bcbd22", "#ff7f0e", "#d62728", "#9467bd", "#8c564b"]


def draw_overlay(
    image: Image.Image, hands: list[LocatedHand], stages: dict[tuple[int, str], float], path: Path
) -> None:
    """The radiograph with each scoring joint marked: its stage (`stages`, by hand number from 1
    and joint; '?' when not found or not scored) and its confidence; where a hand was not found,
    the reason."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    radius = max(4, round(max(image.size) / 160))
    font = ImageFont.load_default(size=max(12, round(max(image.size) / 70)))
    for number, hand in enumerate(hands, start=1):
        if not hand.is_hand:
            draw.text((hand.offset + 10, 10), f"no hand found: {hand.reason}", fill="#ff3030", font=font)
            continue
        for x, y in hand.extra.values():
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill="#808080")
        for name, (x, y, confidence) in hand.joints.items():
            stage = stages.get((number, SCORING_JOINTS[name]))
            found = confidence >= FOUND_CONFIDENCE
            colour = STAGE_COLOURS[int(stage)] if found and stage is not None and np.isfinite(stage) else "#ff3030"
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=colour, width=2)
            shown = int(stage) if found and stage is not None and np.isfinite(stage) else "?"
            label = f"{SCORING_JOINTS[name]}: {shown} ({confidence:.0%})"
            draw.text((x + radius + 3, y - radius), label, fill=colour, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)


def load_locator(reference: str | Path, registry: Registry, device: torch.device) -> Locator:
    """A locator from a trained model's name or folder; a model that locates nothing is refused."""
    from zoo.compose.bundles import find
    from zoo.training.model import load

    model, config = load(find(reference, registry), registry)
    if not TARGETS[config["target"]].points:
        raise UsageError(f"'{reference}' does not locate joints", hint="--locator takes a landmarks model")
    if "confidence" not in model.head.outputs:
        raise UsageError(
            f"'{reference}' gives no confidence with its points: a joint it did not find could not be told",
            hint="--locator takes a landmarks model whose head gives a confidence with each point",
        )
    return Locator(model, config, device)


def locate_folder(
    folder: Path, reference: str | Path, registry: Registry, device: torch.device
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scoring joints of every radiograph in `folder` (`zoo data crop --locate`): a joints table
    (image, joint, x, y, confidence, side, hand, found) and the problems (no hand, unreadable)."""
    locator = load_locator(reference, registry, device)
    rows, problems = [], []
    for path in track(images_in(folder), "locating joints"):
        name = str(path.relative_to(folder))
        try:
            image = load_gray(path)
        except UnreadableImage as exc:
            problems.append({"image": name, "joint": "", "problem": str(exc)})
            continue
        hands = split_hands(image)
        for number, (hand, offset) in enumerate(hands, start=1):
            located = locator.locate(hand, offset)
            if not located.is_hand:
                problems.append({"image": name, "joint": "", "problem": f"no hand found: {located.reason}"})
                continue
            for landmark, (x, y, confidence) in located.joints.items():
                found = confidence >= FOUND_CONFIDENCE
                rows.append(
                    {
                        "image": name,
                        "joint": SCORING_JOINTS[landmark],
                        "x": x,  # unrounded: the crops are cut exactly where `zoo predict` cuts them
                        "y": y,
                        "confidence": round(confidence, 3),
                        "side": located.side,
                        "hand": number if len(hands) > 1 else None,
                        "found": found,
                    }
                )
                if not found:
                    problems.append(
                        {
                            "image": name,
                            "joint": SCORING_JOINTS[landmark],
                            "problem": f"not found (confidence {confidence:.2f} < {FOUND_CONFIDENCE})",
                        }
                    )
    columns = ["image", "joint", "x", "y", "confidence", "side", "hand", "found"]
    return pd.DataFrame(rows, columns=columns), pd.DataFrame(problems, columns=["image", "joint", "problem"])
