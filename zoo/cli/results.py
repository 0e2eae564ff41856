"""`zoo evaluate` and `zoo leaderboard`: score predictions, compare runs."""

from __future__ import annotations

import csv
import difflib
import json
import math
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from zoo.cli.components import loaded_plugins
from zoo.errors import UsageError
from zoo.formatting import format_interval, format_number
from zoo.output import (
    Cell,
    Column,
    ColumnsOption,
    FormatOption,
    JsonOption,
    OutputFormat,
    abbreviate,
    output_format,
    pick_columns,
    print_json,
    print_rows,
    spreadsheet_safe,
    warn,
)
from zoo.targets import TARGETS

if TYPE_CHECKING:  # the registry imports pydantic, which `zoo --help` does without
    from zoo.compose.registry import Registry
    from zoo.judging.leaderboard import LeaderboardRow
    from zoo.runs import MetricResult, Results

# The leaderboard's columns besides the metrics; tables short of width drop recipe (the run id
# begins with it), then model, then the metrics after the ranking one, then n, then the interval.
BOARD_COLUMNS = ("rank", "run", "ci", "n", "image_size", "threshold", "recipe", "model")
EVALUATE_COLUMNS = (
    Column("metric"),
    Column("value", numeric=True),
    Column("bootstrap_95", "95 % CI", "patient-bootstrap interval", priority=20),
    Column("wilson_95", "Wilson 95 %", "Wilson score interval", priority=10),
)

# What predictions predict: the target table's names (zoo.data.targets.TARGETS).
Target = StrEnum("Target", {name: name for name in TARGETS})  # type: ignore[misc]


class Split(StrEnum):
    """The splits a run scores."""

    val = "val"
    test = "test"


TargetName = StrEnum("TargetName", {name: name for name in TARGETS})  # type: ignore[misc]


def metric_labels(registry: Registry) -> dict[str, str]:
    """Each metric's short label for tables (its plugin's `display`), by name."""
    return {spec.name: spec.display or spec.name for spec in registry.components("metrics")}


def print_results(output: OutputFormat, folder: Path, results: Results, labels: Mapping[str, str]) -> None:
    """The metrics of a finished run per split, with intervals, the trivial baseline and the reader
    ceiling (table or markdown; `labels` shortens the metric names)."""
    from zoo.runs import how_calibrated, how_chosen

    sections = [(results["target"], results["splits"], results["baselines"], results.get("ceilings", {}))]
    for target, extra in results.get("extra_targets", {}).items():  # a multi-target run's other targets
        sections.append((target, extra["splits"], extra["baselines"], extra.get("ceilings", {})))
    notes = [f"run folder: {folder}"]
    point = results.get("threshold")
    if point is not None:
        notes.insert(
            0,
            f"operating threshold: a joint counts as eroded from P(eroded) {format_number(point['value'])} "
            f"({how_chosen(point)}); every decision above uses it",
        )
    calibration = results.get("calibration")
    if calibration is not None:
        notes.insert(
            0,
            f"calibrated: {how_calibrated(calibration)}",
        )
    for split, covered in results.get("rau", {}).items():
        joints = covered.get("joint_inside_80")
        notes.insert(
            0,
            f"Rau score 80 % intervals ({split}): the true Rau score lies inside for {covered.get('inside_80')} "
            f"of {covered.get('visits')} visits"
            + ("" if joints is None else f"; the true percent inside a joint's 80 % interval: {joints}"),
        )
    if any(ceilings for *_, ceilings in sections):
        notes.insert(
            0,
            "reader ceiling: the score of a model that knew each joint's truth (its true erosion or narrowing), "
            "against the same noisy reader labels (the data's own truth column); no model can expect to beat it",
        )
    tables = [(target, split, result, baselines, ceilings) for target, splits, baselines, ceilings in sections
              for split, result in splits.items()]  # fmt: skip
    for place, (target, split, result, baselines, ceilings) in enumerate(tables, start=1):
        baseline = baselines.get(split)
        predictor = "baseline" if baseline is None else baseline.get("predictor", "baseline")
        trivial = {} if baseline is None else baseline.get("metrics", {})
        best = ceilings.get(split)
        ceiling = None if best is None else best.get("metrics")
        columns = [
            Column("metric"),
            Column("value", numeric=True),
            Column("bootstrap_95", "95 % CI", "patient-bootstrap interval"),
            Column("baseline", predictor, "trivial baseline", numeric=True),
            *([Column("ceiling", "reader ceiling", numeric=True)] if ceiling is not None else []),
        ]
        rows: list[tuple[Cell, ...]] = [
            (
                abbreviate(name, labels),
                format_number(entry["value"]),
                format_interval(entry.get("bootstrap_95")),
                format_number(trivial.get(name)),
                *([format_number(ceiling.get(name))] if ceiling is not None else []),
            )
            for name, entry in result["metrics"].items()
        ]
        samples = "images" if result["target"] in TARGETS and TARGETS[result["target"]].points else "crops"
        named = f"{target}, " if len(sections) > 1 else ""  # a multi-target run's tables say their target
        title = f"{results['recipe']}: {named}{split} ({result['n']} {samples}, {result['patients']} patients)"
        print_rows(output, columns, rows, title=title, notes=notes if place == len(tables) else ())


def _threshold_rule(text: str) -> float | Literal["youden"]:
    """`--threshold`: a probability strictly between 0 and 1, or 'youden'."""
    if text.strip().lower() == "youden":
        return "youden"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise UsageError(f"--threshold {text!r} is neither a probability between 0 and 1 nor 'youden'",
                         hint="e.g. --threshold 0.3 or --threshold youden")  # fmt: skip
    return value


def predictions_target(path: Path) -> str:
    """The target of a zoo run's predictions file, from its run folder's config.json:
    `predictions-<split>.csv` predicts the run's target, `predictions-<split>-<target>.csv` an
    extra target of a multi-target run."""
    parts = path.name.removesuffix(".csv").split("-")
    config = path.parent / "config.json"
    target: object = None
    if parts[0] == "predictions" and len(parts) in (2, 3) and config.is_file():
        try:
            saved = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None
        if isinstance(saved, dict) and len(parts) == 2:
            target = saved.get("target")
        elif isinstance(saved, dict) and parts[2] in (saved.get("extra_targets") or {}):
            target = parts[2]
    if isinstance(target, str) and target in TARGETS:
        return target
    raise UsageError(
        f"'{path}' does not say its target (it is not a predictions file of a zoo run folder)",
        hint=f"give --target ({', '.join(TARGETS)})",
    )


def _value(entry: MetricResult | None) -> str:
    return format_number(None if entry is None else entry.get("value"))


def _ci(entry: MetricResult | None, key: Literal["bootstrap_95", "wilson_95"] = "bootstrap_95") -> str:
    return format_interval(None if entry is None else entry.get(key))


def evaluate(
    predictions: Annotated[Path, typer.Argument(help="CSV of y_true, y_pred (+ patient_id, p_0.., cdf_0..).")],
    target: Annotated[
        Target | None,
        typer.Option("--target", help="What the predictions predict (a zoo run's predictions file says it itself)."),
    ] = None,
    output: FormatOption = None,
    as_json: JsonOption = False,
    columns: ColumnsOption = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Patient-level resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    threshold: Annotated[
        str | None,
        typer.Option(
            "--threshold",
            help="Binary: call a joint eroded where p_1 reaches this probability, or 'youden' (chosen on the "
            "file's own predictions: optimistic).",
        ),
    ] = None,
) -> None:
    """Score a predictions file (the zoo's or anyone's) with every metric that fits the target."""
    from zoo.judging.evaluate import evaluate as score
    from zoo.judging.thresholds import choose
    from zoo.predictions import decide, read_predictions

    shown = output_format(output, as_json)
    chosen = pick_columns(columns, [column.key for column in EVALUATE_COLUMNS])
    registry = loaded_plugins().registry
    scored = read_predictions(predictions, target.value if target is not None else predictions_target(predictions))
    cut_off = None
    rule = None if threshold is None else _threshold_rule(threshold)
    if rule is not None:
        if not TARGETS[scored.target].decision or scored.probs is None:
            raise UsageError(
                "--threshold needs binary predictions with a p_1 column",
                hint="drop --threshold, or use --target binary",
            )
        cut_off = rule if isinstance(rule, float) else choose(rule, scored.y_true, scored.probs[:, 1])
        scored.y_pred = decide(scored.probs[:, 1], cut_off)
    result = score(scored, registry, None, bootstrap, seed)
    if cut_off is not None:
        chosen_on = "these predictions" if rule == "youden" else "given"
        result["threshold"] = {"rule": str(rule), "value": cut_off, "chosen_on": chosen_on}
    if shown is OutputFormat.json:
        print_json(result)
        return
    labels = metric_labels(registry)
    rows = [(abbreviate(name, labels), _value(e), _ci(e), _ci(e, "wilson_95")) for name, e in result["metrics"].items()]
    title = f"{predictions}: {result['n']} predictions, {result['patients']} patients"
    if cut_off is not None:
        optimistic = " (youden, chosen on these predictions: optimistic)" if rule == "youden" else ""
        title += f"; eroded from P(eroded) {format_number(cut_off)}{optimistic}"
    print_rows(shown, EVALUATE_COLUMNS, rows, title=title, chosen=chosen)
    if "confusion_matrix" in result and shown is not OutputFormat.csv:  # csv is the one table of metrics
        matrix = result["confusion_matrix"]
        print_rows(
            shown,
            [Column("true"), *(Column(str(i), numeric=True) for i in range(len(matrix)))],
            [(str(i), *map("{:.2f}".format, r)) for i, r in enumerate(matrix)],
            title="confusion matrix, normalised per true class (rows: true, columns: predicted)",
        )


def _flat(row: LeaderboardRow, metrics: list[str]) -> dict[str, object]:
    flat: dict[str, object] = {
        k: row.get(k)
        for k in (
            "run_id",
            "recipe",
            "target",
            "backbone",
            "head",
            "loss",
            "imbalance",
            "dataset",
            "dataset_params_sha256",
            "dataset_fingerprint",
            "split",
            "n",
            "patients",
            "params",
            "image_size",
            "threshold",
            "epochs",
            "train_seconds",
            "device_name",
            "weights_sha256",
            "git_sha",
            "zoo_version",
            "created_at",
        )
    }
    for name in metrics:
        entry = row["metrics"].get(name)
        bounds = (None if entry is None else entry.get("bootstrap_95")) or [None, None]
        value = None if entry is None else entry.get("value")
        flat[name], flat[f"{name}_low"], flat[f"{name}_high"] = value, bounds[0], bounds[1]
    return flat


def leaderboard(
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="The runs folder holding leaderboard.jsonl.")] = Path(
        "runs"
    ),
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Only runs on this dataset: its name, or a prefix of its data or params hash."),
    ] = None,
    split: Annotated[Split, typer.Option("--split", help="Which split's scores (val or test).")] = Split.test,
    only_target: Annotated[
        TargetName | None, typer.Option("--target", help="Only runs of this target.")
    ] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="Metric to rank by (default per target).")] = None,
    output: FormatOption = None,
    columns: ColumnsOption = None,
) -> None:
    """Compare runs, best first, with patient-bootstrap intervals; ~ marks no clear difference."""
    from zoo.judging import leaderboard as board

    shown = output_format(output)
    registry = loaded_plugins().registry
    labels = metric_labels(registry)
    if sort is not None and sort not in labels:
        close = difflib.get_close_matches(sort, list(labels), n=1)
        raise UsageError(
            f"--sort: no metric '{sort}'" + (f"; did you mean '{close[0]}'?" if close else ""),
            hint=f"metrics: {', '.join(labels)}",
        )
    chosen = pick_columns(columns, [*BOARD_COLUMNS, *labels])
    split_name = split.value
    if runs_dir.exists() and not runs_dir.is_dir():
        raise UsageError(
            f"--runs-dir '{runs_dir}' is a file, not a folder", hint="give the folder 'zoo run' wrote into"
        )
    store = board.store_path(runs_dir)
    every, skipped = board.read_counting(store)
    if skipped:
        warn(f"{skipped} line(s) of {store} are not rows the zoo writes (torn, foreign or edited); they are skipped")
    rows = [
        r for r in every
        if r["split"] == split_name and (dataset is None or board.on_dataset(r, dataset))
        and (only_target is None or r["target"] == only_target.value)
    ]  # fmt: skip
    if not rows:
        where = f"{store}" + ("" if store.is_file() else " (it does not exist yet)")
        sys.stderr.write(
            f"No runs to show in {where} for split '{split_name}'"
            f"{f' and dataset {dataset!r}' if dataset else ''}"
            f"{f' and target {only_target.value}' if only_target else ''}.\n"
            "Hint: 'zoo run recipes/quickstart.yaml' makes one; --runs-dir picks another folder\n"
        )
        return
    defaults = {target: board.default_metric(registry, target) or "" for target in TARGETS}
    groups = board.ranked(rows, sort, defaults)
    if shown is OutputFormat.json:
        print_json([
            {"target": target, "dataset": label, "sort": metric, "rows": members}
            for (target, label), (metric, members) in groups.items()
        ])  # fmt: skip
        return
    metrics = {
        group: _metrics_shown(registry, group[0], metric, members) for group, (metric, members) in groups.items()
    }
    if shown is OutputFormat.csv:
        flat = [_flat(row, metrics[group]) for group, (_, members) in groups.items() for row in members]
        writer = csv.DictWriter(
            sys.stdout, fieldnames=list(dict.fromkeys(k for row in flat for k in row)), lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in row.items()} for row in flat)
        return
    for (target, label), (metric, members) in groups.items():
        names = metrics[(target, label)]
        decision = target in TARGETS and TARGETS[target].decision  # a binary group shows its cut-offs
        marks = [
            "~" if rank > 1 and board.overlaps(members[0], row, metric) else "" for rank, row in enumerate(members, 1)
        ]
        print_rows(
            shown,
            _board_columns(names, labels, decision),
            [
                (
                    f"{rank} {mark}".strip(),
                    row["run_id"],
                    _value(row["metrics"].get(metric)),
                    _ci(row["metrics"].get(metric)),
                    *[_value(row["metrics"].get(name)) for name in names[1:]],
                    row.get("n"),
                    row.get("image_size"),
                    *([row.get("threshold")] if decision else []),
                    row.get("recipe", ""),
                    _model(row),
                )
                for rank, (row, mark) in enumerate(zip(members, marks, strict=True), start=1)
            ],
            title=f"{target} target, {split_name} split, dataset {label}, ranked by {labels.get(metric, metric)}",
            notes=["~: the interval overlaps the leader's (no clear difference)"]
            if any(marks) and (chosen is None or "rank" in chosen)
            else (),
            chosen=chosen,
        )


def _model(row: LeaderboardRow) -> str:
    """The leaderboard's model column: backbone / head / loss / imbalance strategy."""
    parts = (row.get("backbone", "?"), row.get("head", "?"), row.get("loss", "?"), row.get("imbalance") or "-")
    return " / ".join(parts)


def _metrics_shown(registry: Registry, target: str, metric: str, members: list[LeaderboardRow]) -> list[str]:
    """The ranking metric, then the target's other metrics that a run of the group has."""
    from zoo.judging import leaderboard as board

    others = board.shown_metrics(registry, target)
    return [metric, *[m for m in others if m != metric and any(m in row["metrics"] for row in members)]]


def _board_columns(metrics: list[str], labels: dict[str, str], decision: bool = False) -> list[Column]:
    """A leaderboard's columns: rank, run, the ranking metric and its interval, the other metrics, n,
    image size, a binary group's cut-off, recipe, model."""

    def metric(name: str, priority: int | None) -> Column:
        label = labels.get(name, name)
        return Column(name, label, name if label.lower() != name.lower() else "", priority=priority, numeric=True)

    first, *others = metrics
    return [
        Column("rank", "#"),
        Column("run"),
        metric(first, None),
        Column("ci", "95 % CI", "patient-bootstrap interval", priority=50),
        *[metric(name, 30 - place) for place, name in enumerate(others)],
        Column("n", priority=40, numeric=True),
        Column("image_size", "px", "image size the model saw, in pixels", priority=3, numeric=True),
        *([Column("threshold", "cut-off", "P(eroded) from which a joint counts as eroded", priority=2, numeric=True)]
          if decision else []),
        Column("recipe", priority=0),
        Column("model", meaning="backbone / head / loss / imbalance", priority=5, cut=24),
    ]
