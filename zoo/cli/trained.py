"""Commands that use finished runs: `zoo predict`, `zoo analyze`, `zoo export`, `zoo ensemble`."""

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

RunDir = Annotated[
    Path, typer.Argument(metavar="RUN_DIR", help="A run folder made by 'zoo run', or a trained model's name.")
]
# The joints table, its columns in order; tables short of width drop the lowest priority first.
JOINT_COLUMNS = (
    Column("sample_id", cut=32, tail=True),  # a path, for images
    Column("patient_id", priority=40),
    Column("joint", priority=60),
    Column("date", priority=30),
    Column("status", cut=20),
    Column("side", priority=35),
    Column("confidence", "conf", "the locator's confidence in the joint's position", priority=45, numeric=True),
    Column("stage", priority=80, numeric=True),
    Column("percent", priority=80, numeric=True),
    Column("percent_low80", "low80", "lower end of the 80 % interval of percent", priority=20, numeric=True),
    Column("percent_high80", "high80", "upper end of the 80 % interval of percent", priority=20, numeric=True),
    Column("svdh_erosion", "erosion", "Sharp/van der Heijde erosion score", priority=80, numeric=True),
    Column("jsn", priority=80, numeric=True),
    Column("eroded", priority=80, numeric=True),
    Column("p_eroded", priority=70, numeric=True),
    Column("unsure", priority=50),
)


def _as_json(joints: pd.DataFrame, visits: pd.DataFrame, changes: pd.DataFrame, caveat: str | None) -> str:
    """Joints, visits and changes as one JSON document (NaN becomes null), with the scorer's caveat."""
    frames = (("joints", joints), ("visits", visits), ("changes", changes))
    records: dict[str, object] = {name: json.loads(frame.to_json(orient="records")) for name, frame in frames}
    if caveat:
        records = {"caveat": caveat, **records}
    return json.dumps(records, indent=2) + "\n"


class InputKind(StrEnum):
    """What `zoo predict`'s inputs are."""

    auto = "auto"
    crop = "crop"
    radiograph = "radiograph"


def _is_model(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def predict(
    inputs: Annotated[
        list[Path],
        typer.Argument(metavar="INPUT...", help="Radiographs, joint crops, folders of them, or a dataset CSV."),
    ],
    scorer: Annotated[
        str | None,
        typer.Option(
            "--scorer", help="The erosion model: a trained model's name or a run folder [default: the default scorer]."
        ),
    ] = None,
    locator: Annotated[
        str | None,
        typer.Option(
            "--locator", help="The joint locator of radiographs: a model's name or a run folder [default: the default]."
        ),
    ] = None,
    kind: Annotated[
        InputKind, typer.Option("--as", help="What the inputs are; auto tells crops from radiographs by their size.")
    ] = InputKind.auto,
    overlays: Annotated[
        Path,
        typer.Option("--overlays", help="Folder for one overlay picture per radiograph."),
    ] = Path("overlays"),
    no_overlays: Annotated[
        bool, typer.Option("--no-overlays", help="Draw no overlay pictures (radiographs stay where they are).")
    ] = False,
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
    """Score radiographs and joint crops: stage per joint, Rau score per patient and visit.

    A radiograph goes through the joint locator first; its ten scoring joints are cut out and
    scored. `zoo predict RUN_DIR INPUT...` (a run folder first) scores with that run.
    """
    from zoo.training.device import pick_device
    from zoo.using.predict import predict as run_predict

    if scorer is None and len(inputs) > 1 and _is_model(inputs[0]):  # `zoo predict RUN_DIR INPUT...`
        scorer, inputs = str(inputs[0]), inputs[1:]
    if out is not None:
        if output in (OutputFormat.table, OutputFormat.markdown):
            raise UsageError(f"--out writes csv or json, not {output}", hint="drop --out to print the result")
        writable_file(out)
    shown = output or (OutputFormat.csv if out is not None else OutputFormat.table)
    scored = run_predict(
        inputs,
        loaded_plugins().registry,
        pick_device(device),
        scorer=scorer,
        locator=locator,
        overlays=None if no_overlays else overlays,
        kind=str(kind),
    )
    joints, visits, changes, caveat = scored.joints, scored.visits, scored.changes, scored.caveat
    if caveat:
        joints = joints.assign(caveat=caveat)
    for note in scored.notes:
        warn(note)
    if out is not None:
        if shown is OutputFormat.json:
            out.write_text(_as_json(joints, visits, changes, caveat))
        else:
            spreadsheet_safe_frame(joints).to_csv(out, index=False)
            for frame, suffix in ((visits, "-visits.csv"), (changes, "-changes.csv")):
                if len(frame):
                    spreadsheet_safe_frame(frame).to_csv(out.with_name(out.stem + suffix), index=False)
        sys.stdout.write(
            f"wrote {len(joints)} joint rows to {out}"
            + (f", {len(visits)} visits" if len(visits) else "")
            + (f", {len(changes)} patients' changes" if len(changes) else "")
            + "\n"
        )
    elif shown is OutputFormat.json:
        sys.stdout.write(_as_json(joints, visits, changes, caveat))
    else:
        columns = [column for column in JOINT_COLUMNS if column.key in joints.columns]
        keys = [column.key for column in columns]
        shown_joints = joints[keys].round(3).astype(object).where(joints[keys].notna(), None)
        notes = [f"caveat: {caveat}"] if caveat else []
        print_rows(shown, columns, shown_joints.itertuples(index=False), title="joints", notes=notes)
        if len(visits) and shown is not OutputFormat.csv:  # csv is the joints alone; json and --out add the visits
            print_rows(
                shown,
                [Column(str(name)) for name in visits.columns],
                visits.astype(object).where(visits.notna(), None).itertuples(index=False),
                title="patients and visits (Rau score, SvdH sums; 80 % intervals)",
            )
        if len(changes) and shown is not OutputFormat.csv:
            print_rows(
                shown,
                [Column(str(name)) for name in changes.columns],
                changes.astype(object).where(changes.notna(), None).itertuples(index=False),
                title=f"patients between visits (change of {changes.attrs.get('score', 'the score')}, 80 % interval)",
            )
    if scored.overlays:  # on stderr, so that a CSV or JSON on stdout stays whole
        sys.stderr.write(f"overlays: {len(scored.overlays)} picture(s) in {overlays}\n")
    failed = int(joints["status"].str.startswith(("error", "no hand")).sum())
    if failed:
        scored_any = failed < len(joints)
        raise UsageError(
            f"{failed} of {len(joints)} inputs could not be scored; they are listed with their reason",
            hint="the other inputs were scored" if scored_any else "none was scored: see the reasons in the table",
        )


def analyze(
    run_dir: RunDir,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for report.html and PNGs (default RUN_DIR/report; a model: NAME-report)."),
    ] = None,
) -> None:
    """Write an HTML report: results, attention maps, t-SNE, neighbours, disease activity."""
    from zoo.using.analyze import analyze as write_report

    folder, bundle = _trained(run_dir)
    if bundle and not list(folder.glob("predictions-*.csv")):
        raise UsageError(
            f"model '{bundle}' was exported without its samples: its report needs the predictions",
            hint="the run folder it came from has them ('zoo analyze RUN_DIR'), or export with --with-samples",
        )
    out = out or (Path(f"{bundle}-report") if bundle else None)  # a bundle's folder is not ours to write
    if out is not None:
        writable_folder(out, "--out")
    path = write_report(folder, loaded_plugins(), out)
    sys.stdout.write(f"report: {path}\n")


def _trained(reference: Path) -> tuple[Path, str | None]:
    """A run folder, or a trained model's name, as a folder; and the bundle's name where it is one."""
    from zoo.compose.bundles import BUNDLE_FILE, find, read_bundle

    folder = find(str(reference), loaded_plugins().registry)
    return folder, read_bundle(folder, check_weights=False).name if (folder / BUNDLE_FILE).is_file() else None


class ExportFormat(StrEnum):
    """Export formats."""

    onnx = "onnx"


def export(
    run_dir: RunDir,
    output: Annotated[ExportFormat, typer.Option("--format", help="onnx.")] = ExportFormat.onnx,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default RUN_DIR/model.onnx; a model: NAME.onnx).")
    ] = None,
) -> None:
    """Export the model (with its prediction step where it can) and check it against PyTorch."""
    from zoo.using.export import export_onnx

    folder, bundle = _trained(run_dir)
    out = out or (Path(f"{bundle}.onnx") if bundle else None)  # a bundle's folder is not ours to write
    if out is not None:
        writable_file(out)
    result = export_onnx(folder, loaded_plugins().registry, out)
    sys.stdout.write(
        f"wrote {result.path}: input 'image' (batch, 1, size, size) in [0, 1]; outputs {', '.join(result.outputs)}\n"
        f"onnxruntime matches PyTorch within {result.max_difference:.1e}\n"
    )
    if not result.with_prediction:
        sys.stdout.write("the head's prediction step did not export; apply it to 'outputs' yourself\n")


def ensemble(
    runs: Annotated[
        list[Path], typer.Argument(metavar="RUN_DIR...", help="Finished runs of one target, data and split.")
    ],
    name: Annotated[str, typer.Option("--name", help="The ensemble's name; its run folder is NAME-<time>.")],
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="Where the run folder is made (and its leaderboard row).")
    ] = Path("runs"),
    output: Annotated[
        OutputFormat, typer.Option("--format", help="The results: table, markdown, or json.")
    ] = OutputFormat.table,
) -> None:
    """Average finished runs into one model: a new run folder, judged and ranked like any run."""
    from zoo.cli.results import metric_labels, print_results
    from zoo.output import print_json
    from zoo.using.ensembles import make_ensemble

    if output is OutputFormat.csv:
        raise UsageError("--format: zoo ensemble prints its results as table, markdown or json", hint="see --help")
    writable_folder(runs_dir, "--runs-dir")
    plugins = loaded_plugins()
    records = [record.as_dict() for record in plugins.records]
    folder, results = make_ensemble(runs, name, runs_dir, plugins.registry, records)
    if output is OutputFormat.json:
        print_json({"run_dir": str(folder), **results})
    else:
        print_results(output, folder, results, metric_labels(plugins.registry))
