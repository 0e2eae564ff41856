"""`zoo evaluate` and `zoo leaderboard`: score predictions, compare runs."""

from __future__ import annotations

import csv
import difflib
import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from zoo.cli.components import loaded_plugins
from zoo.cli.output import print_json, print_table
from zoo.errors import UsageError
from zoo.formatting import format_interval, format_number
from zoo.targets import TARGETS

SHOWN_METRICS = 4  # metric columns of a leaderboard table, the ranking metric first

# What predictions predict: the target table's names (zoo.data.targets.TARGETS).
Target = StrEnum("Target", {name: name for name in TARGETS})  # type: ignore[misc]


class Split(StrEnum):
    """The splits a run scores."""

    val = "val"
    test = "test"


class Format(StrEnum):
    """Leaderboard output formats."""

    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


def _value(entry: dict[str, Any] | None) -> str:
    return format_number((entry or {}).get("value"))


def _ci(entry: dict[str, Any] | None, key: str = "bootstrap_95") -> str:
    return format_interval((entry or {}).get(key))


def evaluate(
    predictions: Annotated[Path, typer.Argument(help="CSV of y_true, y_pred (+ patient_id, p_0.., cdf_0..).")],
    target: Annotated[Target, typer.Option("--target", help="What the predictions predict.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Patient-level resamples.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=0, max=1, help="Binary: call a joint eroded where p_1 reaches this."),
    ] = None,
) -> None:
    """Score a predictions file (the zoo's or anyone's) with every metric that fits the target."""
    from zoo.judging.evaluate import evaluate as score
    from zoo.judging.thresholds import apply
    from zoo.predictions import read_predictions

    registry = loaded_plugins().registry
    scored = read_predictions(predictions, target.value)
    if threshold is not None:
        if not TARGETS[scored.target].decision or scored.probs is None:
            raise UsageError(
                "--threshold needs binary predictions with a p_1 column",
                hint="drop --threshold, or use --target binary",
            )
        scored.y_pred = apply(scored.probs[:, 1], threshold)
    result = score(scored, registry, None, bootstrap, seed)
    if as_json:
        print_json(result)
        return
    rows = [(name, _value(e), _ci(e), _ci(e, "wilson_95")) for name, e in result["metrics"].items()]
    title = f"{predictions}: {result['n']} predictions, {result['patients']} patients"
    print_table(title, ["metric", "value", "95 % CI (patient bootstrap)", "95 % CI (Wilson)"], rows)
    if "confusion_matrix" in result:
        matrix = result["confusion_matrix"]
        print_table(
            "confusion matrix, normalised per true class (rows: true, columns: predicted)",
            ["true", *map(str, range(len(matrix)))],
            [(str(i), *map("{:.2f}".format, r)) for i, r in enumerate(matrix)],
        )


def _flat(row: dict[str, Any], metrics: list[str]) -> dict[str, Any]:
    flat = {
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
        entry = row["metrics"].get(name) or {}
        bounds = entry.get("bootstrap_95") or [None, None]
        flat[name], flat[f"{name}_low"], flat[f"{name}_high"] = entry.get("value"), bounds[0], bounds[1]
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
    sort: Annotated[str | None, typer.Option("--sort", help="Metric to rank by (default per target).")] = None,
    output: Annotated[Format, typer.Option("--format", help="table, csv, json or markdown.")] = Format.table,
) -> None:
    """Compare runs, best first, with patient-bootstrap intervals; ~ marks no clear difference."""
    from zoo.judging import leaderboard as board
    registry = loaded_plugins().registry
    if sort is not None:
        known = [spec.name for spec in registry.components("metrics")]
        if sort not in known:
            close = difflib.get_close_matches(sort, known, n=1)
            raise UsageError(
                f"--sort: no metric '{sort}'" + (f"; did you mean '{close[0]}'?" if close else ""),
                hint=f"metrics: {', '.join(known)}",
            )
    split_name = split.value
    store = board.store_path(runs_dir)
    rows = [
        r
        for r in board.read(store)
        if r.get("split") == split_name and (dataset is None or board.on_dataset(r, dataset))
    ]
    if not rows:
        where = f"{store}" + ("" if store.is_file() else " (it does not exist yet)")
        sys.stderr.write(
            f"No runs to show in {where} for split '{split_name}'"
            f"{f' and dataset {dataset!r}' if dataset else ''}.\n"
            "Hint: 'zoo run recipes/quickstart.yaml' makes one; --runs-dir picks another folder\n"
        )
        return
    defaults = {target: board.default_metric(registry, target) or "" for target in TARGETS}
    groups = board.ranked(rows, sort, defaults)
    if output is Format.json:
        print_json([
            {"target": target, "dataset": label, "sort": metric, "rows": members}
            for (target, label), (metric, members) in groups.items()
        ])  # fmt: skip
        return
    for (target, label), (metric, members) in groups.items():
        shown = [metric, *[m for m in board.shown_metrics(registry, target) if m != metric]][:SHOWN_METRICS]
        if output in (Format.csv, Format.markdown):
            flat = [_flat(row, shown) for row in members]
            if output is Format.csv:
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=list(flat[0]))
                writer.writeheader()
                writer.writerows(flat)
                sys.stdout.write(buffer.getvalue())
            else:
                _markdown(target, label, metric, members, shown)
            continue
        table = []
        for rank, row in enumerate(members, start=1):
            mark = "~" if rank > 1 and board.overlaps(members[0], row, metric) else ""
            entry = row["metrics"].get(metric)
            table.append(
                (
                    rank,
                    mark,
                    row["recipe"],
                    f"{row['backbone']} / {row['head']} / {row['loss']} / {row['imbalance'] or '-'}",
                    row["n"],
                    _value(entry),
                    _ci(entry),
                    *[_value(row["metrics"].get(m)) for m in shown[1:]],
                    row["run_id"],
                )
            )
        print_table(
            f"{target} target, {split_name} split, dataset {label}, ranked by {metric} "
            "('~': interval overlaps the leader's)",
            ["#", "~", "recipe", "backbone / head / loss / imbalance", "n", metric, "95 % CI", *shown[1:], "run"],
            table,
        )


def _markdown(target: str, label: str, metric: str, members: list[dict[str, Any]], shown: list[str]) -> None:
    from zoo.judging import leaderboard as board
    header = ["#", "recipe", "backbone", "head", "loss", "imbalance", "n", f"{metric} (95 % CI)", *shown[1:]]
    lines = [
        f"**{target}**, dataset {label} (ranked by {metric}; ~ = interval overlaps the leader's)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for rank, row in enumerate(members, start=1):
        mark = " ~" if rank > 1 and board.overlaps(members[0], row, metric) else ""
        entry = row["metrics"].get(metric)
        cells = [
            f"{rank}{mark}",
            row["recipe"],
            row["backbone"],
            row["head"],
            row["loss"],
            row["imbalance"] or "-",
            str(row["n"]),
            f"{_value(entry)} ({_ci(entry)})",
            *[_value(row["metrics"].get(m)) for m in shown[1:]],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    sys.stdout.write("\n".join(lines) + "\n\n")
