"""How far the phantom is from real radiographs: `zoo data realism`.

Real healthy finger-joint crops are measured against phantom crops three ways:

- **Transfer.** A fixed small CNN (the recipe `transfer.yaml` beside this module) is trained on
  the phantom's Ratingen stages and scores the real crops; a realistic phantom gives stage 0 for
  healthy joints. Trained runs given with `--run` score them too. Each model also scores the
  healthy crops of a held-out phantom, the reference its share on the real crops is read against.
- **Two-sample test.** The same small CNN (`two_sample.yaml`) and a logistic regression on image
  statistics try to tell phantom stage-0 crops from real crops; the cross-validated AUC (folds
  grouped by source radiograph, and by patient for the phantom) is 0.5 when they cannot. It is
  the mean of `TWO_SAMPLE_REPEATS` repeats, each with its own matched phantom crops, folds and
  trainings.
- **Image statistics** side by side (`statistics`).

Every model trains through the zoo's own recipe path (`Pipeline.run`, as `zoo run` does): the
report writes a manifest of crop files with their labels and splits, and runs its recipe on it
with `--set` overrides; trained models score through `Pipeline.predict`, as `zoo predict` does.
Real crops are only measured here: they are the test split of every training, never trained on
for the transfer, and nothing in this module feeds them to the phantom's generator or fits
anything of the phantom to them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NotRequired, SupportsFloat, TypedDict

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from zoo.clinical import ratingen_stages
from zoo.errors import UsageError
from zoo.images import UnreadableImage, images_in, load_prepared
from zoo.paths import safe_name
from zoo.protocols import Pipeline

from ..phantom.generator import write_phantom
from ..phantom.population import JOINTS
from ..phantom.render import IMAGE_PATTERN
from . import statistics

TRANSFER_RECIPE = Path(__file__).with_name("transfer.yaml")
TWO_SAMPLE_RECIPE = Path(__file__).with_name("two_sample.yaml")
MIN_REAL = 10
STAGE_MIDPOINTS = np.array([0.0, 10.0, 30.0, 50.0, 70.0, 90.0])  # a stage's percent range, centred
# Real joint names (IP, MP, PIP2, MCP3, ...) as the phantom calls them (thesis Fig. 1).
JOINT_NAMES = {"ip": "pip1", "mp": "mcp1", **{j: j for j in JOINTS}}
FOLDS = 5
TRANSFER_PER_CLASS = 400
TRANSFER_SEEDS = 5  # the report shows the spread between trainings (10 % to 28 % on the shipped phantom)
TWO_SAMPLE_REPEATS = 5  # one draw of matched crops and folds alone swings: the CNN's 0.854 to 0.936 (version 3, seed 0)
HELD_OUT_SEED = 1000  # the held-out phantom's seed is the report's seed plus this
HELD_OUT_SHARE = 5  # the held-out phantom has a fifth of the measured phantom's patients ...
HELD_OUT_MIN_PATIENTS = 10  # ... and at least this many


# -- report.json ----------------------------------------------------------------------------------


class Shares(TypedDict):
    """How a model scores healthy crops: the share scored stage 0, and the mean predicted percent."""

    stage0_share: float
    mean_percent: float


class StageSummary(Shares):
    """`Shares`, and the count of crops per stage."""

    stages: dict[str, int]


class JointSummary(StageSummary):
    """`StageSummary` of all crops, and of each joint's ("unnamed": the joint is not known)."""

    joints: dict[str, StageSummary]


class TrainingShares(Shares):
    """One training of the transfer model: its seed, its shares on the real crops and on the
    held-out phantom's healthy crops."""

    seed: int
    phantom_healthy: Shares


class ModelScores(JointSummary):
    """A model's scores of the real crops, and under `phantom_healthy` of the held-out phantom's
    healthy crops; the transfer model's pool its trainings, which `trainings` lists one by one."""

    phantom_healthy: JointSummary
    trainings: NotRequired[list[TrainingShares]]


class Repeat(TypedDict):
    """One repeat of the two-sample test."""

    seed: int
    cnn_auc: float
    statistics_auc: float


class TwoSample(TypedDict):
    """The two-sample test: mean AUCs over the repeats, each repeat's, and each statistic's alone."""

    cnn_auc: float
    statistics_auc: float
    repeats: list[Repeat]
    by_statistic: dict[str, float]
    crops: dict[str, int]  # phantom, real
    folds: int


class Spread(TypedDict):
    """Mean and standard deviation of a statistic over a set of crops."""

    mean: float
    sd: float


class StatisticRow(TypedDict):
    """An image statistic of both sets, with a distance between them where one is defined."""

    measure: str
    phantom: Spread
    real: Spread
    distance: float | None
    distance_kind: NotRequired[str]


class RealInfo(TypedDict):
    """The real crops measured."""

    crops: int
    radiographs: int
    folders: NotRequired[list[str]]  # added by the command


class Report(TypedDict):
    """report.json: the whole realism report."""

    phantom: dict[str, int]  # patients, crops, size, seed
    held_out: dict[str, int]  # patients, healthy_crops, seed
    real: RealInfo
    unreadable: list[dict[str, str]]  # path, problem
    copies: list[dict[str, str]]  # path, same_as
    transfer: dict[str, ModelScores]  # small_cnn, then each --run
    two_sample: TwoSample
    statistics: list[StatisticRow]


@dataclass
class RealCrops:
    """Real crops as the models see them, with their source radiograph and joint."""

    pixels: np.ndarray  # (N, size, size) uint8
    paths: list[str]
    groups: list[str]
    joints: list[str | None]
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    copies: list[tuple[str, str]] = field(default_factory=list)  # (crop, the earlier crop with its pixels)


def _phantom_joint(name: object) -> str | None:
    text = str(name).strip().lower() if isinstance(name, str) else ""
    return JOINT_NAMES.get(text)


def _listed(folder: Path) -> pd.DataFrame:
    """The folder's crops: from its crops.csv when there is one, else every image file under it."""
    listing = folder / "crops.csv"
    if listing.is_file():
        table = pd.read_csv(listing, dtype=str)
        column = next((c for c in ("path", "image") if c in table.columns), None)
        if column is None:
            raise UsageError(f"'{listing}' has no 'path' or 'image' column", hint="list the crops' file names")
        group = next((c for c in ("source_radiograph", "patient_id") if c in table.columns), column)
        return pd.DataFrame({
            "path": [str(folder / name) for name in table[column]],
            "group": [f"{folder.name}/{g}" for g in table[group]],
            "joint": [_phantom_joint(j) for j in table["joint"]] if "joint" in table.columns else None,
        })  # fmt: skip
    files = images_in(folder)
    return pd.DataFrame({"path": [str(p) for p in files], "group": [str(p) for p in files], "joint": None})


def read_real(folders: list[Path], size: int) -> RealCrops:
    """Load the real crops of every folder. Unreadable ones are kept in `unreadable`, not dropped
    silently. A crop listed again, or with the same pixels at `size` as an earlier one (the same
    radiograph given twice, say), is measured once and kept in `copies`, so that no crop counts
    twice in a share or sits on both sides of a cross-validation split."""
    if not folders:
        raise UsageError("no real crops given", hint="give --real DIR, a folder of real healthy joint crops")
    tables = []
    for folder in folders:
        if not folder.is_dir():
            raise UsageError(f"--real '{folder}' is not a folder", hint="give a folder of real healthy joint crops")
        tables.append(_listed(folder))
    table = pd.concat(tables, ignore_index=True)
    pixels, unreadable, copies = [], [], []
    keep: list[tuple[str, str, str | None]] = []  # path, group, joint
    first_with: dict[bytes, str] = {}  # a crop's pixels -> the first crop that has them
    for path, group, joint in zip(table["path"], table["group"], table["joint"], strict=True):
        try:
            image = load_prepared(path, size)
        except UnreadableImage as exc:
            unreadable.append((str(path), str(exc)))
            continue
        key = image.tobytes()
        if key in first_with:
            copies.append((str(path), first_with[key]))
            continue
        first_with[key] = str(path)
        pixels.append(image)
        keep.append((path, group, joint))
    return RealCrops(
        pixels=np.stack(pixels) if pixels else np.zeros((0, size, size), np.uint8),
        paths=[path for path, _, _ in keep],
        groups=[group for _, group, _ in keep],
        joints=[joint for _, _, joint in keep],
        unreadable=unreadable,
        copies=copies,
    )


def require_enough(real: RealCrops, folders: list[Path]) -> None:
    """At least `MIN_REAL` distinct readable crops, or a `UsageError`."""
    if len(real.paths) < MIN_REAL:
        raise UsageError(
            f"only {len(real.paths)} distinct readable real crop(s) in {', '.join(map(str, folders))}; "
            f"the measures need at least {MIN_REAL}",
            hint="give folders of real joint crops (png, jpg or tif); unreadable files and copies are listed above",
        )


@dataclass
class Phantom:
    """A phantom written for the measures into the report's working folder, read back as the
    models see it."""

    pixels: np.ndarray
    paths: list[Path]  # the crops' files, in `truth` order
    truth: pd.DataFrame  # ground_truth.csv rows, in `pixels` order


def make_phantom(folder: Path, patients: int, size: int, seed: int, workers: int | None) -> Phantom:
    """Write a one-visit phantom into `folder` and read it back."""
    write_phantom(folder, patients, 1, size, seed, workers)
    truth = _ground_truth(folder)
    paths = _crop_files(folder, truth)
    return Phantom(pixels=np.stack([load_prepared(path, size) for path in paths]), paths=paths, truth=truth)


def _ground_truth(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "ground_truth.csv", dtype={"sop_iuid": str})


def _crop_files(folder: Path, truth: pd.DataFrame) -> list[Path]:
    """The image file of each ground-truth row of the phantom in `folder`, in the rows' order."""
    return [folder / "images" / IMAGE_PATTERN.format(sop_iuid=r.sop_iuid, joint=r.joint) for r in truth.itertuples()]


@dataclass
class HeldOut:
    """Healthy crops (true percentage 0) of a second phantom that no measure trains on: the
    reference a transfer share is read against, what a model gives healthy phantom joints."""

    paths: list[Path]  # the crops' files (valid while the report's working folder exists)
    joints: list[str]
    patient_ids: list[str]
    patients: int
    seed: int


def held_out_healthy(patients: int, size: int, seed: int, workers: int | None, folder: Path) -> HeldOut:
    """Write a one-visit phantom of `patients` (seed `seed`) into `folder`; its healthy crops."""
    write_phantom(folder, patients, 1, size, seed, workers)
    truth = _ground_truth(folder)
    healthy = truth[truth["true_percent"] == 0]
    if healthy.empty:
        raise UsageError("the held-out phantom has no healthy crops", hint="give more --patients")
    return HeldOut(
        paths=_crop_files(folder, healthy),
        joints=healthy["joint"].tolist(),
        patient_ids=healthy["patient_id"].astype(str).tolist(),
        patients=patients,
        seed=seed,
    )


@dataclass
class Sample:
    """One row of a manifest the report trains on."""

    path: Path
    label: float
    patient: str
    split: str


def write_manifest(path: Path, samples: Sequence[Sample]) -> Path:
    """A `manifest` dataset's CSV (path, label, patient_id, split): what a recipe of the report reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "path", "label", "patient_id", "split"])
        writer.writerows((f"s{k}", str(s.path), s.label, s.patient, s.split) for k, s in enumerate(samples))
    return path


def train_and_test(
    pipeline: Pipeline, recipe: Path, manifest: Path, work: Path, size: int, seed: int, per_class: int
) -> pd.DataFrame:
    """Run one of the report's recipes on a manifest (through the zoo's recipe path); its test
    split's predictions, by the manifest's sample ids (`s<row>`)."""
    folder, _ = pipeline.run(
        recipe,
        work / "runs",
        [
            f"seed={seed}",
            f"data.dataset.params.csv={manifest}",
            f"data.image_size={size}",
            f"imbalance.params.per_class={per_class}",
        ],
    )
    predictions = pd.read_csv(folder / "predictions-test.csv", dtype={"sample_id": str})
    return predictions.set_index("sample_id")


def transfer(
    pipeline: Pipeline, phantom: Phantom, real: RealCrops, held_out: HeldOut, seed: int, size: int, work: Path
) -> ModelScores:
    """Train the fixed CNN on the phantom's reader stages, `TRANSFER_SEEDS` times with seeds
    `seed`, `seed + 1`, ...; how the trainings score the real healthy crops: pooled (its `stages`
    count every training's answers, `TRANSFER_SEEDS` per crop), by joint (pooled too; "unnamed"
    for crops whose joint is not known) and each training; and, under `phantom_healthy`, how
    they score the held-out phantom's healthy crops, as a whole and by joint.

    The phantom's scored crops are the training split (labelled with the reader's percentage);
    the real crops and the held-out healthy crops are the test split (labelled healthy)."""
    truth = phantom.truth
    scored = np.flatnonzero(truth["reader_percent"].notna().to_numpy())
    stages = ratingen_stages(truth["reader_percent"].to_numpy(float)[scored])
    per_class = min(TRANSFER_PER_CLASS, len(stages) // len(STAGE_MIDPOINTS))
    patients = truth["patient_id"].astype(str).to_numpy()
    samples = [Sample(phantom.paths[i], float(truth["reader_percent"].iloc[i]), f"phantom/{patients[i]}", "train")
               for i in scored]  # fmt: skip
    first_real = len(samples)
    samples += [Sample(Path(p), 0.0, f"real/{g}", "test") for p, g in zip(real.paths, real.groups, strict=True)]
    first_held_out = len(samples)
    samples += [
        Sample(p, 0.0, f"held-out/{pid}", "test") for p, pid in zip(held_out.paths, held_out.patient_ids, strict=True)
    ]
    manifest = write_manifest(work / "transfer" / "manifest.csv", samples)
    real_answers, held_out_answers = [], []  # (stages, percents) of each training
    for run in range(TRANSFER_SEEDS):
        predictions = train_and_test(pipeline, TRANSFER_RECIPE, manifest, work, size, seed + run, per_class)
        real_answers.append(_stages(predictions, range(first_real, first_held_out)))
        held_out_answers.append(_stages(predictions, range(first_held_out, len(samples))))
    trainings: list[TrainingShares] = [
        {
            "seed": seed + run,
            **_share_and_mean(stage_summary(*answers)),
            "phantom_healthy": _share_and_mean(stage_summary(*held_out_answer)),
        }
        for run, (answers, held_out_answer) in enumerate(zip(real_answers, held_out_answers, strict=True))
    ]
    return {
        **_pooled_summary(real_answers, real.joints),
        "trainings": trainings,
        "phantom_healthy": _pooled_summary(held_out_answers, held_out.joints),
    }


def _stages(predictions: pd.DataFrame, rows: range) -> tuple[np.ndarray, np.ndarray]:
    """The stage and the mean predicted percentage the transfer model gave manifest rows `rows`."""
    chosen = predictions.loc[[f"s{k}" for k in rows]]
    probs = chosen[[f"p_{k}" for k in range(len(STAGE_MIDPOINTS))]].to_numpy(float)
    return chosen["y_pred"].to_numpy(int), probs @ STAGE_MIDPOINTS


def _pooled_summary(answers: list[tuple[np.ndarray, np.ndarray]], joints: Sequence[str | None]) -> JointSummary:
    """`stage_summary` of every training's answers together, and `by_joint` of them."""
    stages, percents = (np.concatenate(parts) for parts in zip(*answers, strict=True))
    return {**stage_summary(stages, percents), "joints": by_joint(stages, percents, list(joints) * len(answers))}


def _share_and_mean(summary: Shares) -> Shares:
    return {"stage0_share": summary["stage0_share"], "mean_percent": summary["mean_percent"]}


def stage_summary(stages: np.ndarray, percents: np.ndarray) -> StageSummary:
    """Share of crops scored stage 0, the mean predicted percentage, and the count per stage."""
    return {
        "stage0_share": round(float(np.mean(stages == 0)), 4),
        "mean_percent": round(float(np.mean(percents)), 2),
        "stages": {str(k): int(np.sum(stages == k)) for k in range(len(STAGE_MIDPOINTS))},
    }


def by_joint(stages: np.ndarray, percents: np.ndarray, joints: Sequence[str | None]) -> dict[str, StageSummary]:
    """`stage_summary` of each joint's crops ("unnamed": crops whose joint is not known)."""
    names = np.array([joint or "unnamed" for joint in joints])
    return {joint: stage_summary(stages[names == joint], percents[names == joint]) for joint in sorted(set(names))}


def score_run(pipeline: Pipeline, run: Path, real: RealCrops, held_out: HeldOut) -> ModelScores:
    """How a trained run scores the real crops, and the held-out phantom's healthy crops under
    `phantom_healthy` (through `zoo predict`'s own path), each as a whole and by joint."""
    scores = _run_scores(pipeline, run, [Path(p) for p in real.paths], real.joints)
    return {
        "stage0_share": scores["stage0_share"],
        "mean_percent": scores["mean_percent"],
        "stages": scores["stages"],
        "joints": scores["joints"],
        "phantom_healthy": _run_scores(pipeline, run, held_out.paths, held_out.joints),
    }


def _run_scores(pipeline: Pipeline, run: Path, paths: list[Path], joint_names: Sequence[str | None]) -> JointSummary:
    joint_of_image = {str(path): joint for path, joint in zip(paths, joint_names, strict=True)}
    rows = pipeline.predict(run, paths)
    scored = rows[rows["status"] == "ok"]
    if "stage" not in scored.columns:
        raise UsageError(
            f"run '{run}' does not predict Ratingen stages", hint="give a run with a stage or percent target"
        )
    probability = [c for c in scored.columns if c.startswith("p_stage_")]
    if "percent" in scored.columns:
        percents = scored["percent"].to_numpy(float)
    else:
        percents = scored[probability].to_numpy(float) @ STAGE_MIDPOINTS
    stages = scored["stage"].to_numpy(int)
    return {
        **stage_summary(stages, percents),
        "joints": by_joint(stages, percents, [joint_of_image[str(image)] for image in scored["image"]]),
    }


def matched_phantom(phantom: Phantom, real: RealCrops, seed: int) -> np.ndarray:
    """Indices of phantom crops with no erosion (true and read), one per real crop, of the same joint."""
    truth = phantom.truth
    healthy = (truth["true_percent"] == 0) & (truth["reader_percent"] == 0)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for joint in real.joints:
        pool = np.flatnonzero(healthy & ((truth["joint"] == joint) if joint else True))
        pool = np.setdiff1d(pool, chosen)
        if len(pool) == 0:
            raise UsageError(
                "the phantom has too few healthy crops to match the real ones", hint="give more --patients"
            )
        chosen.append(int(rng.choice(pool)))
    return np.array(chosen)


def two_sample(
    pipeline: Pipeline, phantom: Phantom, first: np.ndarray, real: RealCrops, seed: int, size: int, work: Path
) -> TwoSample:
    """The two-sample test, `TWO_SAMPLE_REPEATS` times: the first repeat on the matched phantom
    crops `first`, each later one on its own draw; each with its own folds and trainings (repeat
    `k` with seed `seed + FOLDS * k`, so that no two trainings share a seed). The mean AUC of each
    model over the repeats, each repeat's, and `by_statistic` over the repeats."""
    repeats: list[Repeat] = []
    alone_each = []
    for k in range(TWO_SAMPLE_REPEATS):
        repeat_seed = seed + FOLDS * k
        chosen = first if k == 0 else matched_phantom(phantom, real, repeat_seed)
        cnn, linear, alone = _two_sample_once(pipeline, phantom, chosen, real, repeat_seed, size, work / f"repeat{k}")
        repeats.append({"seed": repeat_seed, "cnn_auc": round(cnn, 4), "statistics_auc": round(linear, 4)})
        alone_each.append(alone)
    return {
        "cnn_auc": round(float(np.mean([one["cnn_auc"] for one in repeats])), 4),
        "statistics_auc": round(float(np.mean([one["statistics_auc"] for one in repeats])), 4),
        "repeats": repeats,
        "by_statistic": by_statistic(alone_each),
        "crops": {"phantom": len(first), "real": len(real.pixels)},
        "folds": FOLDS,
    }


def _two_sample_once(
    pipeline: Pipeline, phantom: Phantom, chosen: np.ndarray, real: RealCrops, seed: int, size: int, work: Path
) -> tuple[float, float, np.ndarray]:
    """Cross-validated AUC of the CNN (each fold a run of `two_sample.yaml`: its held-out crops are
    the test split) and of a linear model on image statistics, phantom (0) against real (1), and
    `statistic_aucs` of the crops."""
    pixels = np.concatenate([phantom.pixels[chosen], real.pixels])
    paths = [phantom.paths[i] for i in chosen] + [Path(p) for p in real.paths]
    labels = np.concatenate([np.zeros(len(chosen), int), np.ones(len(real.pixels), int)])
    groups = [f"phantom/{p}" for p in phantom.truth["patient_id"].to_numpy()[chosen]] + real.groups
    stats = np.stack([statistics.features(p.astype(np.float64) / 255.0) for p in pixels])
    folds = list(StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed).split(pixels, labels, groups))
    cnn, linear = np.zeros(len(labels)), np.zeros(len(labels))
    for fold, (train, test) in enumerate(folds):
        split = np.full(len(labels), "test", dtype=object)
        split[train] = "train"
        samples = [Sample(paths[k], float(labels[k]), groups[k], split[k]) for k in range(len(labels))]
        manifest = write_manifest(work / f"fold{fold}" / "manifest.csv", samples)
        predictions = train_and_test(pipeline, TWO_SAMPLE_RECIPE, manifest, work, size, seed + fold, len(train) // 4)
        cnn[test] = predictions.loc[[f"s{k}" for k in test], "p_1"].to_numpy(float)
        classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        linear[test] = classifier.fit(stats[train], labels[train]).decision_function(stats[test])
    return float(roc_auc_score(labels, cnn)), float(roc_auc_score(labels, linear)), statistic_aucs(stats, labels)


def statistic_aucs(stats: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each image statistic's AUC alone, real crops (label 1) as the positives, in `FEATURE_NAMES` order."""
    return np.array([roc_auc_score(labels, column) for column in stats.T])


def by_statistic(repeats: list[np.ndarray]) -> dict[str, float]:
    """How well each image statistic alone tells real from phantom crops: the mean over the repeats
    of its `statistic_aucs`, then either way round (0.5: not at all, 1: perfectly), highest first.
    Averaging before turning it round keeps a statistic whose direction flips from repeat to repeat
    near 0.5. What to make more real next."""
    mean = np.mean(repeats, axis=0)
    aucs = {
        name: round(float(max(auc, 1.0 - auc)), 4) for name, auc in zip(statistics.FEATURE_NAMES, mean, strict=True)
    }
    return dict(sorted(aucs.items(), key=lambda item: -item[1]))


def _spread(values: np.ndarray) -> Spread:
    return {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values)), 4)}


def side_by_side(phantom_pixels: np.ndarray, real_pixels: np.ndarray) -> list[StatisticRow]:
    """The image statistics of both sets, with a distance between them where one is defined."""
    sets = {"phantom": phantom_pixels.astype(np.float64) / 255.0, "real": real_pixels.astype(np.float64) / 255.0}

    def row(measure: str, statistic: Callable[[np.ndarray], SupportsFloat]) -> StatisticRow:
        """The statistic's spread over each set's crops (no distance)."""
        phantom, real = (_spread(np.array([statistic(i) for i in images])) for images in sets.values())
        return {"measure": measure, "phantom": phantom, "real": real, "distance": None}

    pooled = {name: images.ravel()[:: max(1, images.size // 200_000)] for name, images in sets.items()}
    gradients = {
        name: np.concatenate([statistics.gradient_magnitude(i).ravel() for i in images])[::7]
        for name, images in sets.items()
    }
    intensity = row("intensity (crop means)", np.mean)
    intensity["distance"] = round(255 * wasserstein_distance(pooled["phantom"], pooled["real"]), 2)
    intensity["distance_kind"] = "earth mover's distance of the intensity histograms, grey levels"
    gradient: StatisticRow = {
        "measure": "gradient magnitude (per pixel)",
        "phantom": _spread(gradients["phantom"]),
        "real": _spread(gradients["real"]),
        "distance": round(255 * wasserstein_distance(gradients["phantom"], gradients["real"]), 2),
        "distance_kind": "earth mover's distance of the gradient distributions, grey levels per pixel",
    }
    return [
        intensity,
        row("power spectrum slope", statistics.spectrum_slope),
        gradient,
        row("bone area fraction", statistics.bone_fraction),
        row("finger axis angle from vertical (degrees)", lambda image: statistics.axis_angle(image)[0]),
    ]


def figure(phantom: Phantom, chosen: np.ndarray, real: RealCrops, path: Path, per_row: int = 10) -> None:
    """Real crops (top row of each pair) above phantom crops of the same joint, for a reader to compare."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = sorted(range(len(real.paths)), key=lambda i: (real.joints[i] or "", real.paths[i]))
    picks = (
        [order[round(k * (len(order) - 1) / (2 * per_row - 1))] for k in range(2 * per_row)]
        if len(order) >= 2 * per_row
        else order
    )
    rows = 2 * ((len(picks) + per_row - 1) // per_row)
    fig, axes = plt.subplots(rows, per_row, figsize=(per_row * 1.2, rows * 1.3), squeeze=False)
    for k, index in enumerate(picks):
        top, column = 2 * (k // per_row), k % per_row
        label = real.joints[index] or "?"
        axes[top][column].imshow(real.pixels[index], cmap="gray", vmin=0, vmax=255)
        axes[top][column].set_title(f"real {label}", fontsize=7)
        axes[top + 1][column].imshow(phantom.pixels[chosen[index]], cmap="gray", vmin=0, vmax=255)
        axes[top + 1][column].set_title(f"phantom {phantom.truth['joint'].iloc[chosen[index]]}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def measure(
    pipeline: Pipeline,
    real: RealCrops,
    runs: list[Path],
    patients: int,
    size: int,
    seed: int,
    workers: int | None,
    work: Path,
    out: Path | None,
) -> Report:
    """The whole realism report, its phantoms, manifests and trainings in the working folder
    `work` (and, with `out`, the matched-crops figure there)."""
    phantom = make_phantom(work / "phantom", patients, size, seed, workers)
    chosen = matched_phantom(phantom, real, seed)  # for the two-sample test's first repeat, the statistics, the figure
    held_out_patients = max(HELD_OUT_MIN_PATIENTS, patients // HELD_OUT_SHARE)
    held_out = held_out_healthy(held_out_patients, size, seed + HELD_OUT_SEED, workers, work / "held-out")
    report: Report = {
        "phantom": {"patients": patients, "crops": len(phantom.truth), "size": size, "seed": seed},
        "held_out": {"patients": held_out.patients, "healthy_crops": len(held_out.paths), "seed": held_out.seed},
        "real": {"crops": len(real.paths), "radiographs": len(set(real.groups))},
        "unreadable": [{"path": path, "problem": problem} for path, problem in real.unreadable],
        "copies": [{"path": path, "same_as": earlier} for path, earlier in real.copies],
        "transfer": {
            "small_cnn": transfer(pipeline, phantom, real, held_out, seed, size, work),
            **{safe_name(run.name): score_run(pipeline, run, real, held_out) for run in runs},
        },
        "two_sample": two_sample(pipeline, phantom, chosen, real, seed, size, work / "two-sample"),
        "statistics": side_by_side(phantom.pixels[chosen], real.pixels),
    }
    if out is not None:
        figure(phantom, chosen, real, out / "phantom-matched-real.png")
    return report
