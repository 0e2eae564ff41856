"""`zoo analyze`: one self-contained HTML report of a finished run, with PNG figures beside it.

Figures show the test split ("shown" below), or the first split the recipe evaluated when it
left test out. Sections (thesis sections 4.2-4.7):
- results: the metrics with intervals and the trivial baseline; the normalised confusion matrix
  (stages, binary) or predicted against true percent; the label histogram; training curves;
- attention maps: Grad-CAM of the backbone's feature layer (`Backbone.feature_layer`) for a fixed
  random sample of shown crops of each class, overlaid on the crop (thesis Fig. 13);
- embeddings: t-SNE of the last hidden layer coloured by the true label (Fig. 14); for sample
  shown crops their nearest training crops, and the kNN accuracy of the embedding (4.6.1);
- a locator (landmarks target) gets its own sections instead of the three above: the radial
  errors per landmark and their distribution, and the located points drawn on shown images;
- disease activity: when the data has DAS28, the Rau score per visit (true, and predicted on the
  shown visits) against DAS28-ESR and DAS28-CRP with Pearson and Spearman correlations (Fig. 15).
Grad-CAM explains the head's `severity(outputs)` (expected stage, expected percent, or
P(eroded)). The run's files are read through `RunFolder`; the trainer is not imported.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy.stats import pearsonr, spearmanr
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors
from torch import nn

from zoo.clinical import ratingen_stages, rau_score
from zoo.compose.plugins import Plugins, call_isolated
from zoo.compose.recipe import load_run_recipe
from zoo.data.loader import unit_floats
from zoo.data.prepare import Prepared, prepare
from zoo.data.targets import classes
from zoo.formatting import format_interval, format_number
from zoo.landmarks import to_unit
from zoo.output import warn
from zoo.paths import safe_name
from zoo.progress import task
from zoo.runs import RunFolder, SplitResult, how_calibrated, how_chosen
from zoo.targets import TARGETS
from zoo.training.ensemble import EnsembleModel
from zoo.training.model import TrainedModel, ZooModel, load

PER_CLASS = 4
SHOWN_IMAGES = 4
TSNE_POINTS = 1000
NEIGHBOURS = 5
QUERIES = 4
EMBED_TRAIN = 4000
BATCH = 128


def _batched(model: TrainedModel, pixels: np.ndarray, fn: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    outputs = []
    with torch.no_grad(), task("embedding crops", len(pixels)) as step:
        for start in range(0, len(pixels), BATCH):
            x = unit_floats(torch.from_numpy(np.asarray(pixels[start : start + BATCH])).unsqueeze(1))
            outputs.append(fn(x).float().numpy())
            step.advance(len(x))
    return np.concatenate(outputs) if outputs else np.zeros((0,))


def grad_cam(model: ZooModel, images: torch.Tensor) -> np.ndarray:
    """Grad-CAM heat maps (B, H, W) in [0, 1], at the input's size, of the head's severity.

    The map is the backbone's `feature_layer()` output (B, C, h, w), its channels weighted by the
    mean gradient of `head.severity` over each channel, rectified, resized to (H, W) and scaled to
    a maximum of 1 per image. Parameter gradients are left untouched."""
    saved: dict[str, torch.Tensor] = {}

    def keep(_module: nn.Module, _inputs: tuple[object, ...], output: torch.Tensor) -> None:
        saved["activation"] = output

    handle = model.backbone.feature_layer().register_forward_hook(keep)
    averaged, model.tta = model.tta, ()  # one forward pass per image: the map explains that one
    try:
        with torch.enable_grad():
            x = images.clone().requires_grad_(True)
            score = model.head.severity(model.split(model(x))[model.targets[0]]).sum()
            activation = saved.get("activation")
            if not isinstance(activation, torch.Tensor) or activation.dim() != 4:
                raise ValueError("the backbone's feature_layer() must output a (B, C, h, w) feature map in forward")
            (gradient,) = torch.autograd.grad(score, activation)
    finally:
        handle.remove()
        model.tta = averaged
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=images.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.flatten(1).max(dim=1).values.clamp(min=1e-8)[:, None, None]
    return cam.detach().numpy()


class Report:
    """Collects sections and figures, then writes report.html (a `zoo.protocols.ReportWriter`)."""

    def __init__(self, folder: Path, title: str) -> None:
        self.folder = folder
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str) -> None:
        """A section heading."""
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str) -> None:
        """A paragraph."""
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """A small table."""
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def figure(self, figure: Figure, name: str, caption: str) -> None:
        """Save a figure as `<name>.png` beside the report and embed it (the HTML stays self-contained)."""
        path = self.folder / f"{safe_name(name)}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        data = base64.b64encode(path.read_bytes()).decode()
        self.parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(name)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def write(self) -> Path:
        """Write report.html."""
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;"
            "text-align:right}th{background:#eee}img{max-width:100%}figcaption{color:#555;font-size:90%}"
        )
        page = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(self.title)}</h1>{''.join(self.parts)}</body></html>"
        )
        path = self.folder / "report.html"
        path.write_text(page, encoding="utf-8")
        return path


def _metric_tables(report: Report, run: RunFolder) -> None:
    """Every evaluated split's metrics with their intervals and the trivial baseline."""
    metrics = run.read_metrics()
    report.heading("Results")
    point = metrics.get("threshold")
    if point is not None:
        report.text(
            f"Operating point: a joint counts as eroded from P(eroded) {format_number(point['value'])} "
            f"({how_chosen(point)}); every metric below uses it."
        )
    for evaluated, result in metrics["splits"].items():
        baseline = metrics["baselines"].get(evaluated)
        trivial = {} if baseline is None else baseline.get("metrics", {})
        rows = _metric_rows(result, trivial)
        samples = "images" if TARGETS[result["target"]].points else "crops"
        report.text(f"{evaluated}: {result['n']} {samples} of {result['patients']} patients")
        predictor = "" if baseline is None else baseline.get("predictor", "")
        report.table(["metric", "value", "95 % CI (patients)", predictor], rows)
    for target, extra in metrics.get("extra_targets", {}).items():  # a multi-target run's other targets
        for evaluated, result in extra["splits"].items():
            extra_baseline = extra["baselines"].get(evaluated)
            trivial = {} if extra_baseline is None else extra_baseline.get("metrics", {})
            report.text(f"{target}, {evaluated}: {result['n']} crops of {result['patients']} patients")
            report.table(["metric", "value", "95 % CI (patients)", "baseline"], _metric_rows(result, trivial))


def _metric_rows(result: SplitResult, trivial: dict[str, float | None]) -> list[list[str]]:
    """A split's metrics: value, interval and the trivial baseline's value."""
    return [
        [name, format_number(e["value"]), format_interval(e.get("bootstrap_95")), format_number(trivial.get(name))]
        for name, e in result["metrics"].items()
    ]


PROGRESSION_ROWS = (  # metrics.json's progression entries the report shows: (label, model key, reader key)
    ("ICC(A,1) of the change", "model_icc", "reader_icc"),
    ("progressor kappa", "model_kappa", "reader_kappa"),
    ("progressor sensitivity", "model_sensitivity", "reader_sensitivity"),
    ("progressor specificity", "model_specificity", "reader_specificity"),
)
SHOWN_PATIENTS = 30  # patients drawn in the progression figure


def progression_section(report: Report, run: RunFolder, split: str) -> None:
    """Change between visits: the agreement of the model's changes and progressors with the
    truth's (the first reader's beside them: the ceiling), and each patient's score over visits."""
    summary = run.read_metrics().get("progression", {}).get(split)
    if summary is None:
        return
    report.heading("Progression")
    if "note" in summary:  # fewer than two patients with two visits
        report.text(f"{split}: {summary['note']} ({summary.get('one_visit_patients')} patients with one visit).")
        return
    reference = summary.get("reference", "reader")
    report.text(
        f"{split}: {summary.get('patients')} patients with two or more visits "
        f"({summary.get('one_visit_patients')} with one visit: no change); score: the sum of "
        f"{summary.get('score')} over each visit's joints; changes from the first to the last visit, judged "
        f"against the {'true change (the truth behind the labels)' if reference == 'truth' else 'reader'}. "
        + (f"Smallest detectable change {summary['sdc']} (two readings of the same images); "
           f"{summary.get('progressors')} progressors." if "sdc" in summary else str(summary.get("sdc_note", "")))
    )  # fmt: skip
    rows = []
    for label, model_key, reader_key in PROGRESSION_ROWS:
        if model_key in summary:
            rows.append([label, _entry(summary[model_key]), _entry(summary.get(reader_key))])
    report.table(["", "model", "reader (ceiling)"], rows)
    path = run.progression_file(split)
    if not path.is_file():
        return
    changes = pd.read_csv(path, dtype={"patient_id": str})
    fig, (over, against) = plt.subplots(1, 2, figsize=(10, 4))
    shown = changes.sample(min(SHOWN_PATIENTS, len(changes)), random_state=0)
    for k, row in enumerate(shown.itertuples(index=False)):
        colour = f"C{k % 10}"
        over.plot([0, 1], [row.model_first, row.model_last], color=colour, lw=1)
        if hasattr(row, "reader_first"):
            over.plot([0, 1], [row.reader_first, row.reader_last], color=colour, lw=1, ls="--")
    over.set_xticks([0, 1], ["first visit", "last visit"])
    over.set_ylabel(f"score ({summary.get('score')})")
    over.set_title("model (solid) and reader (dashed)")
    truth = changes[f"{reference}_change"].to_numpy(float)
    against.scatter(truth, changes["model_change"], s=10, alpha=0.6, label="model")
    if reference == "truth" and "reader_change" in changes.columns:
        against.scatter(truth, changes["reader_change"], s=10, alpha=0.4, marker="x", label="reader")
    low, high = float(np.nanmin(truth)), float(np.nanmax(truth))
    against.plot([low, high], [low, high], color="black", lw=1)
    sdc = summary.get("sdc")
    if isinstance(sdc, int | float):
        against.axhline(float(sdc), color="grey", ls=":", lw=1)
        against.axvline(float(sdc), color="grey", ls=":", lw=1)
    against.set_xlabel(f"{reference} change")
    against.set_ylabel("change")
    against.legend()
    report.figure(
        fig,
        "progression",
        f"Left: {len(shown)} {split} patients' scores at their first and last visit. Right: each patient's change "
        f"against the {reference}'s; dotted: the smallest detectable change.",
    )


def _entry(entry: object) -> str:
    if not isinstance(entry, dict):
        return format_number(entry if isinstance(entry, int | float) else None)
    return f"{format_number(entry.get('value'))} ({format_interval(entry.get('bootstrap_95'))})"


def _results(
    report: Report, run: RunFolder, target: str, prepared: Prepared, predictions: pd.DataFrame, split: str
) -> None:
    metrics = run.read_metrics()
    _metric_tables(report, run)
    y_true, y_pred = predictions["y_true"].to_numpy(), predictions["y_pred"].to_numpy()
    if not TARGETS[target].whole:
        fig, ax = plt.subplots(figsize=(5, 5))
        jitter = np.random.default_rng(0).uniform(-1, 1, len(y_true))
        ax.scatter(y_true + jitter, y_pred, s=8, alpha=0.4)
        ax.plot([0, 100], [0, 100], color="black", lw=1)
        ax.set_xlabel("true eroded percent (jittered)")
        ax.set_ylabel("predicted (expected) percent")
        caption = f"{split.capitalize()} crops: predicted against true percent."
        report.figure(fig, "predicted-vs-true", caption)
    else:
        matrix = np.array(metrics["splits"][split]["confusion_matrix"])
        fig, ax = plt.subplots(figsize=(5, 4.5))
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(
                j, i, f"{value:.2f}", ha="center", va="center", color="white" if value > 0.5 else "black", fontsize=8
            )
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(range(len(matrix)))
        ax.set_yticks(range(len(matrix)))
        report.figure(fig, "confusion", "Test confusion matrix, normalised per true class.")
    table = prepared.table
    fig, ax = plt.subplots(figsize=(6, 3))
    values = table["label"].to_numpy()
    scale = TARGETS[prepared.scale]
    bins = np.arange(scale.low, scale.high + 5, 5) if not scale.whole else np.arange(-0.5, values.max() + 1.5)
    ax.hist(
        [values[table["split"] == s] for s in ("train", "val", "test")],
        bins=bins.tolist(),
        stacked=True,
        label=["train", "val", "test"],
    )
    ax.set_yscale("log")
    ax.set_xlabel(f"label ({prepared.scale})")
    ax.set_ylabel("crops (log)")
    ax.legend()
    report.figure(fig, "labels", "Labels by split.")
    curves(report, run)
    calibration_section(report, run, target, predictions, split)


RELIABILITY_BINS = 15  # as the expected calibration error's


def calibration_section(report: Report, run: RunFolder, target: str, predictions: pd.DataFrame, split: str) -> None:
    """Whether the probabilities mean what they say: a reliability diagram of the most probable
    class's probability (class targets), or the 80 % interval's coverage per stage (CDF models)."""
    calibration = run.read_metrics().get("calibration")
    report.heading("Calibration")
    if calibration is not None:
        report.text(
            f"Calibrated ({calibration['method']}): {how_calibrated(calibration)}; every probability below and "
            "every later prediction uses it."
        )
    probabilities = [c for c in predictions.columns if c.startswith("p_") and c[2:].isdigit()]
    if TARGETS[target].whole and probabilities:
        probs = predictions[probabilities].to_numpy(float)
        confidence = probs.max(axis=1)
        right = probs.argmax(axis=1) == predictions["y_true"].to_numpy(int)
        bins = np.minimum((confidence * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
        used = np.unique(bins)
        means = np.array([confidence[bins == b].mean() for b in used])
        shares = np.array([right[bins == b].mean() for b in used])
        counts = np.array([(bins == b).sum() for b in used])
        fig, ax = plt.subplots(figsize=(5, 4.5))
        ax.plot([0, 1], [0, 1], color="black", lw=1)
        ax.scatter(means, shares, s=10 + 200 * counts / counts.max())
        ax.set_xlabel("probability of the most probable class (bin mean)")
        ax.set_ylabel("share right")
        report.figure(
            fig,
            "reliability",
            f"Reliability diagram, {split} split: {RELIABILITY_BINS} bins of the most probable class's probability; "
            "a calibrated model lies on the diagonal (dot size: crops in the bin).",
        )
    elif {"lower", "upper"} <= set(predictions.columns):
        truth = predictions["y_true"].to_numpy(float)
        inside = (truth >= predictions["lower"].to_numpy(float)) & (truth <= predictions["upper"].to_numpy(float))
        stages = ratingen_stages(truth)
        rows = [[str(s), str(int((stages == s).sum())), format_number(float(inside[stages == s].mean()))]
                for s in np.unique(stages)]  # fmt: skip
        report.text(f"Coverage of the 80 % interval on the {split} split, per true stage (a calibrated model: 0.8).")
        report.table(["true stage", "crops", "coverage"], rows)


def curves(report: Report, run: RunFolder) -> None:
    """The training and validation curves of history.csv (an ensemble's are its members')."""
    members = run.read_metrics().get("ensemble", {}).get("members")
    if members:
        report.heading("Training curves")
        report.text(f"An ensemble trains no epochs of its own: see its members' reports ({', '.join(members)}).")
        return
    history = run.read_history()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history["epoch"], history["train_loss"], label="train loss")
    if "val_loss" in history.columns:
        ax.plot(history["epoch"], history["val_loss"], label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    others = [c for c in history.columns if c.startswith("val_") and c != "val_loss"]
    if others:
        twin = ax.twinx()
        for column in others[:3]:
            twin.plot(history["epoch"], history[column], ls="--", label=column)
        twin.legend(loc="upper right", fontsize=7)
    ax.legend(loc="upper left", fontsize=7)
    report.figure(fig, "curves", "Training curves (dashed: validation metrics, right axis).")


def _attention(report: Report, model: TrainedModel, prepared: Prepared, target: str, seed: int, split: str) -> None:
    table = prepared.table
    explained = model.first if isinstance(model, EnsembleModel) else model  # an ensemble has no one feature layer
    test = np.flatnonzero(table["split"].to_numpy() == split)
    test_classes = classes(table["target"].to_numpy()[test], target)
    rng = np.random.default_rng(seed)
    present = sorted(set(test_classes.tolist()))
    fig, axes = plt.subplots(len(present), PER_CLASS, figsize=(PER_CLASS * 1.8, len(present) * 1.9), squeeze=False)
    for row, cls in enumerate(present):
        members = test[test_classes == cls]
        chosen = rng.choice(members, min(PER_CLASS, len(members)), replace=False)
        images = (
            torch.from_numpy(np.asarray(prepared.pixels[table["pixel_row"].to_numpy()[chosen]])).unsqueeze(1).float()
            / 255
        )
        maps = grad_cam(explained, images)
        for col in range(PER_CLASS):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(chosen):
                ax.imshow(images[col, 0], cmap="gray", vmin=0, vmax=1)
                ax.imshow(maps[col], cmap="jet", alpha=0.35, vmin=0, vmax=1)
                ax.set_title(f"label {table['label'].to_numpy()[chosen[col]]:g}", fontsize=7)
        axes[row][0].text(
            -0.1, 0.5, f"class {cls}", transform=axes[row][0].transAxes, ha="right", va="center", fontsize=8
        )
    report.heading("Attention maps")
    report.figure(
        fig,
        "attention",
        f"Grad-CAM of the backbone's feature layer on random {split} crops per class (red: what raised the score)"
        + ("." if explained is model else ", of the ensemble's first member."),
    )


def _embeddings(report: Report, model: TrainedModel, prepared: Prepared, target: str, seed: int, split: str) -> None:
    table = prepared.table
    rng = np.random.default_rng(seed)
    rows = table["pixel_row"].to_numpy()
    train = np.flatnonzero(table["split"].to_numpy() == "train")
    test = np.flatnonzero(table["split"].to_numpy() == split)
    train = np.sort(rng.choice(train, min(EMBED_TRAIN, len(train)), replace=False))
    embed_train = _batched(model, prepared.pixels[rows[train]], model.embed)
    embed_test = _batched(model, prepared.pixels[rows[test]], model.embed)
    labels = table["target"].to_numpy()
    cls_train, cls_test = classes(labels[train], target), classes(labels[test], target)
    report.heading("Embeddings")
    sample = np.sort(rng.choice(len(test), min(TSNE_POINTS, len(test)), replace=False))
    if len(sample) > 5:
        points = TSNE(
            n_components=2, init="pca", perplexity=min(30.0, len(sample) / 4), random_state=seed
        ).fit_transform(embed_test[sample])
        fig, ax = plt.subplots(figsize=(6, 5))
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels[test][sample], cmap="viridis", s=10)
        fig.colorbar(scatter, ax=ax, label=f"true {target}")
        ax.set_xticks([])
        ax.set_yticks([])
        report.figure(
            fig,
            "tsne",
            f"t-SNE of the last hidden layer of {split} crops, coloured by the true label.",
        )
    index = NearestNeighbors(n_neighbors=NEIGHBOURS, metric="cosine").fit(embed_train)
    _, found = index.kneighbors(embed_test)
    votes = cls_train[found]
    knn = np.array([np.bincount(v).argmax() for v in votes])
    report.text(
        f"kNN accuracy of the embedding ({split} crop's class = majority of its {NEIGHBOURS} nearest training "
        f"crops): {np.mean(knn == cls_test):.3f} ({len(test)} {split} crops); class-normalised: "
        f"{np.mean([np.mean(knn[cls_test == c] == c) for c in np.unique(cls_test)]):.3f}."
    )
    queries = rng.choice(len(test), min(QUERIES, len(test)), replace=False)
    fig, axes = plt.subplots(
        len(queries), NEIGHBOURS + 1, figsize=((NEIGHBOURS + 1) * 1.6, len(queries) * 1.7), squeeze=False
    )
    for row, query in enumerate(queries):
        images = [rows[test[query]], *rows[train[found[query]]]]
        names = [f"query {labels[test[query]]:g}", *[f"{labels[train[f]]:g}" for f in found[query]]]
        for col, (image, name) in enumerate(zip(images, names, strict=True)):
            axes[row][col].imshow(prepared.pixels[image], cmap="gray", vmin=0, vmax=255)
            axes[row][col].set_title(name, fontsize=7)
            axes[row][col].axis("off")
    report.figure(
        fig,
        "neighbours",
        f"{split.capitalize()} crops (left) and their {NEIGHBOURS} nearest training crops in embedding space, "
        "with labels.",
    )


def predicted_stages(predictions: pd.DataFrame, target: str) -> pd.Series | None:
    """Each sample's predicted Ratingen stage, by sample id: a CDF model's `stage` column, a stage
    model's prediction, a percent model's prediction staged; None for other targets."""
    by_sample = predictions.set_index("sample_id")
    if "stage" in by_sample.columns:
        return by_sample["stage"]
    if target == "stage":
        return by_sample["y_pred"]
    if target == "percent":
        return pd.Series(ratingen_stages(np.clip(by_sample["y_pred"].to_numpy(float), 0, 100)), index=by_sample.index)
    return None


def _activity(report: Report, prepared: Prepared, predictions: pd.DataFrame) -> None:
    table = prepared.table
    columns = [c for c in ("das28bsr_score", "das28crp_score") if c in table.columns]
    if not columns or prepared.scale != "percent" or "joint" not in table.columns:
        return
    table = table.assign(stage=ratingen_stages(table["label"].to_numpy()))
    keys = ["patient_id", "date"] if "date" in table.columns else ["patient_id"]
    visits = (
        table.groupby(keys)
        .agg(rau_true=("stage", lambda s: rau_score(s.tolist())), **{c: (c, "first") for c in columns})
        .reset_index()
    )
    predicted_stage = predicted_stages(predictions, prepared.target)
    if predicted_stage is None:  # a binary or SvdH model gives no Ratingen stage: the true Rau alone
        visits["rau_predicted"] = np.nan
    else:
        tested = table[table["sample_id"].isin(predicted_stage.index)].copy()
        tested["predicted"] = predicted_stage.reindex(tested["sample_id"]).to_numpy()
        rau_pred = tested.groupby(keys)["predicted"].agg(lambda s: rau_score(s.tolist())).rename("rau_predicted")
        visits = visits.merge(rau_pred.reset_index(), on=keys, how="left")
    report.heading("Erosion and disease activity")
    fig, axes = plt.subplots(1, len(columns), figsize=(5 * len(columns), 4), squeeze=False)
    rows = []
    for ax, column in zip(axes[0], columns, strict=True):
        both = visits.dropna(subset=[column])
        das = pd.to_numeric(both[column], errors="coerce")
        ax.scatter(both["rau_true"], das, s=8, alpha=0.4, label="true Rau (all visits)")
        tested_visits = both.dropna(subset=["rau_predicted"])
        ax.scatter(
            tested_visits["rau_predicted"],
            pd.to_numeric(tested_visits[column]),
            s=8,
            alpha=0.6,
            label="predicted Rau (evaluated visits)",
        )
        ax.set_xlabel("Rau score (10 joints of the left hand)")
        ax.set_ylabel(column.replace("_score", "").replace("bsr", "-ESR").replace("crp", "-CRP").upper())
        ax.legend(fontsize=7)
        for name, x, y in (
            ("true", both["rau_true"], das),
            ("predicted", tested_visits["rau_predicted"], pd.to_numeric(tested_visits[column])),
        ):
            if len(x) > 2:
                rows.append(
                    [column, name, len(x), f"{pearsonr(x, y).statistic:.3f}", f"{spearmanr(x, y).statistic:.3f}"]
                )
    report.figure(fig, "activity", "Rau score per visit against DAS28 (thesis Fig. 15).")
    report.table(["DAS28", "Rau", "visits", "Pearson r", "Spearman rho"], rows)


def analyze(run: Path, plugins: Plugins, out: Path | None = None) -> Path:
    """Write the report of `run` into `out` (default RUN_DIR/report), the plugins' sections after
    the zoo's own (`zoo_report_sections`); return report.html."""
    registry = plugins.registry
    run_folder = RunFolder(run)
    model, config = load(run, registry)
    recipe = load_run_recipe(run_folder, registry)
    prepared = prepare(recipe, registry)
    folder = out or run_folder.report_folder
    folder.mkdir(parents=True, exist_ok=True)
    target = config["target"]
    evaluated = run_folder.evaluated_splits()
    split = "test" if "test" in evaluated else evaluated[0]  # the recipe's eval.splits decide
    predictions = run_folder.read_predictions(split)
    report = Report(
        folder, f"{recipe.name}: {config['backbone']['name']} + {config['head']['name']} ({run_folder.name})"
    )
    report.text(
        f"Target: {target}; image size {config['image_size']} px; recipe {recipe.name}. "
        "Figures are written beside this file as PNG."
    )
    sections: list[tuple[str, Callable[[], None]]] = [
        ("results", lambda: _results(report, run_folder, target, prepared, predictions, split)),
        ("attention maps", lambda: _attention(report, model, prepared, target, recipe.seed, split)),
        ("embeddings", lambda: _embeddings(report, model, prepared, target, recipe.seed, split)),
        ("disease activity", lambda: _activity(report, prepared, predictions)),
        ("progression", lambda: progression_section(report, run_folder, split)),
    ]
    if TARGETS[target].points:  # a locator: its errors, per point, and where it put them
        sections = [
            ("results", lambda: _metric_tables(report, run_folder)),
            ("landmarks", lambda: landmark_sections(report, run_folder, prepared, predictions, split)),
            ("curves", lambda: curves(report, run_folder)),
        ]
    with task("report", len(sections) + 1) as step:
        for name, write in sections:
            step.describe(f"report: {name}")
            write()
            step.advance()
        step.describe("report: the plugins' sections")
        for plugin, error in call_isolated(
            plugins.manager, "zoo_report_sections", run=run_folder, report=report
        ).items():
            warn(f"plugin '{plugin}' failed to add its report section ({type(error).__name__}: {error})")
        step.advance()
    return report.write()


def landmark_sections(
    report: Report, run: RunFolder, prepared: Prepared, predictions: pd.DataFrame, split: str
) -> None:
    """A locator's report: every landmark's errors, the errors' distribution, and the located points
    on a few shown images."""
    per_point = run.read_metrics()["splits"][split].get("landmarks", {})
    report.heading("Landmarks")
    if per_point:
        names = next(iter(per_point.values())).keys()
        rows = [[point, *[format_number(values.get(n)) for n in names]] for point, values in per_point.items()]
        report.table(["landmark", *names], rows)
    errors = np.hypot(
        predictions["pred_x"].to_numpy(float) - predictions["true_x"].to_numpy(float),
        predictions["pred_y"].to_numpy(float) - predictions["true_y"].to_numpy(float),
    )
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(errors, bins=60)
    ax.set_xlabel("radial error (pixels of the image)")
    ax.set_ylabel("points")
    report.figure(fig, "radial-errors", f"Radial errors of every {split} point.")
    table = prepared.table
    shown = np.flatnonzero(table["split"].to_numpy() == split)[:SHOWN_IMAGES]
    fig, axes = plt.subplots(1, len(shown), figsize=(3 * len(shown), 3.4), squeeze=False)
    for ax, row in zip(axes[0], shown, strict=False):
        sample = str(table["sample_id"].iloc[row])
        points = predictions[predictions["sample_id"].astype(str) == sample]
        size = prepared.pixels.shape[-1]
        image_size = np.array([[table["width"].iloc[row], table["height"].iloc[row]]])
        ax.imshow(prepared.pixels[table["pixel_row"].iloc[row]], cmap="gray")
        for prefix, colour in (("true", "lime"), ("pred", "red")):
            pixels = points[[f"{prefix}_x", f"{prefix}_y"]].to_numpy(float)
            x, y = (to_unit(pixels[None], image_size)[0] * size).T
            ax.scatter(x, y, s=6, c=colour, label=prefix)
        ax.set_title(sample, fontsize=7)
        ax.axis("off")
    axes[0][0].legend(fontsize=6, loc="lower left")
    report.figure(fig, "located", f"Located (red) and annotated (green) points on {split} images.")
