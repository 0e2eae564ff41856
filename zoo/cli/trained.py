"""Commands that use a finished run: `zoo predict`, `zoo analyze`, `zoo export`."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zoo.cli.components import loaded_plugins
from zoo.errors import UsageError
from zoo.output import (
    Column,
    OutputFormat,
    print_rows,
    spreadsheet_safe_frame,
    warn,
    writable_file,
    writable_folder,
)

if TYPE_CHECKING:  # pandas is imported by the command, not by `zoo --help`
    import pandas as pd

RunDir = Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder made by 'zoo run'.")]
# The joints table, its columns in order; tables short of width drop the lowest priority first.
JOINT_COLUMNS = (
    Column("sample_id", cut=32, tail=True),  # a path, for images
    Column("patient_id", priority=40),
    Column("joint", priority=60),
    Column("date", priority=30),
    Column("status", cut=20),
    Column("stage", priority=80, numeric=True),
    Column("percent", priority=80, numeric=True),
    Column("percent_low80", "low80", "lower end of the 80 % interval of percent", priority=20, numeric=True),
    Column("percent_high80", "high80", "upper end of the 80 % interval of percent", priority=20, numeric=True),
    Column("eroded", priority=80, numeric=True),
    Column("p_eroded", priority=70, numeric=True),
    Column("unsure", priority=50),
)


def _as_json(joints: pd.DataFrame, visits: pd.DataFrame) -> str:
    """Joints and visits as one JSON document (NaN becomes null)."""
    records = {
        name: json.loads(frame.to_json(orient="records")) for name, frame in (("joints", joints), ("visits", visits))
    }
    return json.dumps(records, indent=2) + "\n"


def predict(
    run_dir: RunDir,
    inputs: Annotated[
        list[Path], typer.Argument(metavar="INPUT...", help="Images, folders of images, or a dataset CSV.")
    ],
    out: Annotated[Path | None, typer.Option("--out", help="Write the joints here (and the visits beside).")] = None,
    output: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            help="table (the default), csv, json or markdown; with --out, csv (the default) or json.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Score joint crops: stage (and percent) per joint, Rau score per patient and visit."""
    from zoo.training.device import pick_device
    from zoo.using.predict import predict as run_predict

    if out is not None:
        if output in (OutputFormat.table, OutputFormat.markdown):
            raise UsageError(f"--out writes csv or json, not {output}", hint="drop --out to print the result")
        writable_file(out)
    shown = output or (OutputFormat.csv if out is not None else OutputFormat.table)
    scored = run_predict(run_dir, inputs, loaded_plugins().registry, pick_device(device))
    joints, visits = scored.joints, scored.visits
    for note in scored.notes:
        warn(note)
    if out is not None:
        if shown is OutputFormat.json:
            out.write_text(_as_json(joints, visits))
        else:
            spreadsheet_safe_frame(joints).to_csv(out, index=False)
            if len(visits):
                spreadsheet_safe_frame(visits).to_csv(out.with_name(out.stem + "-visits.csv"), index=False)
        sys.stdout.write(
            f"wrote {len(joints)} joint rows to {out}" + (f" and {len(visits)} visits" if len(visits) else "") + "\n"
        )
    elif shown is OutputFormat.json:
        sys.stdout.write(_as_json(joints, visits))
    else:
        columns = [column for column in JOINT_COLUMNS if column.key in joints.columns]
        keys = [column.key for column in columns]
        shown_joints = joints[keys].round(3).astype(object).where(joints[keys].notna(), None)
        print_rows(shown, columns, shown_joints.itertuples(index=False), title="joints")
        if len(visits) and shown is not OutputFormat.csv:  # csv is the joints alone; json and --out add the visits
            print_rows(
                shown,
                [Column(str(name)) for name in visits.columns],
                visits.astype(object).where(visits.notna(), None).itertuples(index=False),
                title="patients and visits (Rau score, 80 % interval)",
            )
    failed = int((joints["status"] != "ok").sum())
    if failed:
        scored_any = failed < len(joints)
        raise UsageError(
            f"{failed} of {len(joints)} inputs could not be read; they are listed with their reason",
            hint="the other inputs were scored" if scored_any else "none was scored: check the paths in the table",
        )


def analyze(
    run_dir: RunDir,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for report.html and its PNGs (default RUN_DIR/report).")
    ] = None,
) -> None:
    """Write an HTML report: results, attention maps, t-SNE, neighbours, disease activity."""
    from zoo.using.analyze import analyze as write_report

    if out is not None:
        writable_folder(out, "--out")
    path = write_report(run_dir, loaded_plugins(), out)
    sys.stdout.write(f"report: {path}\n")


class ExportFormat(StrEnum):
    """Export formats."""

    onnx = "onnx"


def export(
    run_dir: RunDir,
    output: Annotated[ExportFormat, typer.Option("--format", help="onnx.")] = ExportFormat.onnx,
    out: Annotated[Path | None, typer.Option("--out", help="File to write (default RUN_DIR/model.onnx).")] = None,
) -> None:
    """Export the model (with its prediction step where it can) and check it against PyTorch."""
    from zoo.using.export import export_onnx

    if out is not None:
        writable_file(out)
    result = export_onnx(run_dir, loaded_plugins().registry, out)
    sys.stdout.write(
        f"wrote {result.path}: input 'image' (batch, 1, size, size) in [0, 1]; outputs {', '.join(result.outputs)}\n"
        f"onnxruntime matches PyTorch within {result.max_difference:.1e}\n"
    )
    if not result.with_prediction:
        sys.stdout.write("the head's prediction step did not export; apply it to 'outputs' yourself\n")
