"""`zoo data realism`: how far the phantom is from real healthy joint crops, as a table or JSON."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from zoo.errors import UsageError
from zoo.output import (
    Column,
    FormatOption,
    OutputFormat,
    output_format,
    print_json,
    print_rows,
    warn,
    writable_folder,
)
from zoo.protocols import Pipeline

if TYPE_CHECKING:  # the report's module imports numpy, pandas and scikit-learn: only the command needs them
    from .report import Report, Shares, StageSummary

Share = Literal["stage0_share", "mean_percent"]
SHARES: tuple[tuple[str, Share], ...] = (
    ("healthy crops scored stage 0", "stage0_share"),
    ("mean predicted percent", "mean_percent"),
)
AUCS: tuple[tuple[str, Literal["cnn_auc", "statistics_auc"]], ...] = (
    ("small CNN (0.5: indistinguishable)", "cnn_auc"),
    ("image statistics", "statistics_auc"),
)

REALISM_COLUMNS = (  # long cells (the joints' shares, the strongest statistics) end in "..." in a narrow table
    Column("measure", cut=28),
    Column("phantom", numeric=True),
    Column("real", numeric=True, cut=22),
    Column("distance", numeric=True, cut=16),
)


def realism_command(pipeline: Pipeline) -> Callable[..., None]:
    """The `zoo data realism` command, training through `pipeline` (the zoo's own recipe path)."""

    def realism(
        real: Annotated[
            list[Path],
            typer.Option(
                "--real",
                metavar="DIR",
                help="Folder of real healthy joint crops (repeatable); a crops.csv in it names joints and radiographs.",
            ),
        ],
        runs: Annotated[
            list[Path] | None,
            typer.Option(
                "--run",
                metavar="RUN",
                help="A trained run to score the real crops and the held-out phantom's healthy crops (repeatable).",
            ),
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Folder for report.json and the matched-crops figure.")
        ] = None,
        patients: Annotated[
            int,
            typer.Option(
                "--patients",
                min=20,
                max=20_000,
                help="Phantom patients to measure (10 crops each); the held-out phantom has a fifth, at least 10.",
            ),
        ] = 600,
        size: Annotated[
            int, typer.Option("--size", min=32, max=256, help="Crop size the measures use, in pixels.")
        ] = 64,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same report).")] = 0,
        workers: Annotated[
            int | None, typer.Option("--workers", min=1, help="Processes for the phantom (default: all cores).")
        ] = None,
        output: FormatOption = None,
    ) -> None:
        """Measure how far the phantom is from real healthy joint crops: transfer, two-sample AUC, image statistics."""
        from .report import measure, read_real, require_enough

        shown = output_format(output)
        for run in runs or []:
            if not (run / "config.json").is_file():
                raise UsageError(
                    f"--run '{run}' is not a finished run folder", hint="give a folder that 'zoo run' wrote"
                )
        if out is not None:
            writable_folder(out, "--out")
        crops = read_real(real, size)
        for path, problem in crops.unreadable:
            warn(f"unreadable real crop '{path}': {problem}")
        for path, earlier in crops.copies:
            copy = "is listed twice" if path == earlier else f"has the same pixels as '{earlier}'"
            warn(f"real crop '{path}' {copy}: measured once")
        require_enough(crops, real)
        with tempfile.TemporaryDirectory() as work:  # phantoms, manifests and runs, gone with the report
            report = measure(pipeline, crops, runs or [], patients, size, seed, workers, Path(work), out)
        report["real"]["folders"] = [str(folder) for folder in real]
        if out is not None:
            (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        if shown is OutputFormat.json:
            print_json(report)
            return
        print_rows(
            shown,
            REALISM_COLUMNS,
            realism_rows(report),
            title="phantom against real healthy crops",
            notes=realism_notes(report),
        )

    return realism


def realism_rows(report: Report) -> list[list[str]]:
    """The report as rows of measure, phantom, real, distance."""
    rows = []
    for name, scores in report["transfer"].items():
        trainings = scores.get("trainings", [])  # the fixed model's: the range from seed to seed
        each_held_out = [one["phantom_healthy"] for one in trainings]
        for what, key in SHARES:
            held_out, real = _pooled(scores["phantom_healthy"], each_held_out, key), _pooled(scores, trainings, key)
            rows.append([f"transfer {name}: {what}", held_out, real, ""])
        held_out, real = _by_joint(scores["phantom_healthy"]["joints"]), _by_joint(scores["joints"])
        rows.append([f"transfer {name}: stage 0 by joint", held_out, real, ""])
    test = report["two_sample"]
    for what, model in AUCS:
        each = [one[model] for one in test["repeats"]]
        rows.append([f"two-sample AUC, {what}", "", "", f"{test[model]:.3f} ({min(each):.3f} to {max(each):.3f})"])
    strongest = ", ".join(f"{name} {auc:.2f}" for name, auc in list(test["by_statistic"].items())[:3])
    rows.append(["statistics that tell them apart best, each alone (AUC)", "", "", strongest])
    for row in report["statistics"]:
        distance = "" if row["distance"] is None else f"{row['distance']:.2f}"
        rows.append([
            row["measure"],
            f"{row['phantom']['mean']:.3f} ± {row['phantom']['sd']:.3f}",
            f"{row['real']['mean']:.3f} ± {row['real']['sd']:.3f}",
            distance,
        ])  # fmt: skip
    return rows


def _by_joint(joints: dict[str, StageSummary]) -> str:
    """Each joint's share of crops scored stage 0, as percentages."""
    return ", ".join(f"{joint} {100 * one['stage0_share']:.0f} %" for joint, one in joints.items())


def _pooled(scores: Shares, trainings: Sequence[Shares], key: Share) -> str:
    """A pooled share (as a percentage) or mean percent, with the lowest and highest training in brackets."""
    scale, unit = (100, " %") if key == "stage0_share" else (1, "")
    text = f"{scale * scores[key]:.1f}{unit}"
    if trainings:
        values = [scale * one[key] for one in trainings]
        text += f" ({min(values):.1f} to {max(values):.1f})"
    return text


def realism_notes(report: Report) -> list[str]:
    """What the numbers were measured on."""
    phantom, real, test, held_out = report["phantom"], report["real"], report["two_sample"], report["held_out"]
    return [
        f"phantom: {phantom['crops']} crops of {phantom['patients']} patients at {phantom['size']} px, "
        f"seed {phantom['seed']}; "
        f"real: {real['crops']} crops of {real['radiographs']} radiographs"
        + (f" (copies left out: {len(report['copies'])})" if report["copies"] else ""),
        f"transfer small_cnn: {len(report['transfer']['small_cnn']['trainings'])} trainings of the recipe "
        f"transfer.yaml with seeds from "
        f"{phantom['seed']}, pooled (in brackets: the lowest and highest training)",
        f"transfer, phantom column: the {held_out['healthy_crops']} healthy crops of a held-out phantom "
        f"({held_out['patients']} patients, seed {held_out['seed']}) that no model trained on",
        f"two-sample test: {test['crops']['phantom']} phantom stage-0 crops (same joints) against the real ones, "
        f"{test['folds']} folds grouped by radiograph and patient; the mean of {len(test['repeats'])} repeats, each "
        "with its own phantom crops, folds and trainings (in brackets: the lowest and highest)",
        "distances: earth mover's distance in grey levels (intensity) and grey levels per pixel (gradient)",
    ]
