"""`zoo data`: check a recipe's data, cut joint crops (plugins add more, e.g. `phantom`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zoo.cli.components import loaded_plugins
from zoo.cli.recipes import SetOption
from zoo.errors import UsageError
from zoo.output import (
    Column,
    ColumnsOption,
    FormatOption,
    JsonOption,
    OutputFormat,
    output_format,
    pick_columns,
    print_json,
    print_rows,
    writable_folder,
)

if TYPE_CHECKING:  # pandas is imported by the commands, not by `zoo --help`
    import pandas as pd

data_app = typer.Typer(help="Prepare and check data.", no_args_is_help=True)
PROBLEM_COLUMNS = (
    Column("sample_id"),
    Column("problem"),
    Column("detail", priority=20, cut=24),
    Column("image", priority=10, cut=16, tail=True),
)
NOT_CROPPED_COLUMNS = (Column("image"), Column("joint"), Column("problem", cut=24))


@data_app.command("check")
def check(
    recipe_path: Annotated[Path, typer.Argument(metavar="RECIPE", help="The recipe whose data to check.")],
    overrides: SetOption = None,
    output: FormatOption = None,
    as_json: JsonOption = False,
    columns: ColumnsOption = None,
) -> None:
    """Report every bad sample before training: files, images, labels, ids, patient leakage."""
    from zoo.compose.recipe import load_recipe
    from zoo.data.prepare import DataProblems, prepare

    shown = output_format(output, as_json)
    chosen = pick_columns(columns, [column.key for column in PROBLEM_COLUMNS])
    registry = loaded_plugins().registry
    recipe = load_recipe(recipe_path, registry, overrides)
    try:
        prepared = prepare(recipe, registry, skip_bad=True)
    except DataProblems as every:  # no sample is usable: list them all, here more than anywhere
        if shown is OutputFormat.json:
            print_json({"samples": every.problems["sample_id"].nunique(), "notes": every.notes,
                        "problems": every.problems.to_dict(orient="records")})  # fmt: skip
        else:
            _print_problems(shown, every.problems, chosen)
        raise UsageError(
            every.message, hint="fix the samples listed above; skipping bad samples would leave none"
        ) from None
    problems = prepared.problems
    if shown is OutputFormat.json:
        print_json(
            {
                "samples": len(prepared.table) + problems["sample_id"].nunique(),
                "notes": prepared.notes,
                "problems": problems.to_dict(orient="records"),
            }
        )
    else:
        if shown is not OutputFormat.csv:  # csv is the problems alone
            for note in prepared.notes:
                sys.stdout.write(f"note: {note}\n")
            table = prepared.table
            counts = ", ".join(f"{s} {int((table['split'] == s).sum())}" for s in ("train", "val", "test"))
            sys.stdout.write(
                f"{len(table)} usable samples of {table['patient_id'].nunique()} patients ({counts}); "
                f"labels: {prepared.scale}, target: {prepared.target}\n"
            )
        if len(problems) or shown is OutputFormat.csv:
            _print_problems(shown, problems, chosen)
    if len(problems):
        raise UsageError(
            f"{len(problems)} problem(s) in {problems['sample_id'].nunique()} sample(s)",
            hint="fix them, or set data.on_bad_sample: skip to leave those samples out of runs",
        )


def _print_problems(shown: OutputFormat, problems: pd.DataFrame, chosen: list[str] | None) -> None:
    """The bad samples, one row per problem."""
    keys = [column.key for column in PROBLEM_COLUMNS]
    print_rows(shown, PROBLEM_COLUMNS, problems[keys].itertuples(index=False), title="problems", chosen=chosen)


@data_app.command("crop")
def crop(
    images: Annotated[Path, typer.Option("--images", help="Folder of full radiographs.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the crops and crops.csv.")],
    joints: Annotated[
        Path | None, typer.Option("--joints", help="CSV of image, joint, x, y (pixels); or --locate.")
    ] = None,
    locate: Annotated[
        bool, typer.Option("--locate", help="Locate the ten scoring joints with the joint locator (no --joints).")
    ] = False,
    locator: Annotated[
        str | None,
        typer.Option("--locator", help="With --locate: a trained model's name or a run folder [default: the default]."),
    ] = None,
    size: Annotated[int, typer.Option("--size", min=16, max=1024, help="Crop size in pixels.")] = 150,
    box: Annotated[
        int | None,
        typer.Option(
            "--box",
            min=8,
            help="Square side in source pixels (default: from the hand's joint spacing).",
        ),
    ] = None,
    output: FormatOption = None,
) -> None:
    """Cut one square crop per joint from full radiographs (the step before scoring).

    With --locate the joint locator finds the ten scoring joints; their positions and confidences
    go to OUT/joints.csv, and joints it does not find are listed, not cropped.
    """
    import pandas as pd

    from zoo.data.crop import crop_joints, read_joints

    shown = output_format(output)
    if not images.is_dir():
        raise UsageError(f"--images '{images}' is not a folder", hint="give the folder of radiographs")
    if (joints is None) == (not locate):
        raise UsageError("give either --joints CSV or --locate", hint="--locate finds the joints with the locator")
    if locator is not None and not locate:
        raise UsageError("--locator is the model of --locate", hint="add --locate, or drop --locator")
    located = pd.DataFrame(columns=["image", "joint", "problem"])
    if joints is not None:
        table = read_joints(joints)
    else:
        from zoo.compose.bundles import default_model
        from zoo.training.device import pick_device
        from zoo.using.radiograph import locate_folder

        writable_folder(out, "--out")
        registry = loaded_plugins().registry
        chosen = locator or default_model(registry, locator=True)
        table, located = locate_folder(images, chosen, registry, pick_device("auto"))
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "joints.csv", index=False)
        table = table[table["found"]].drop(columns="found")  # joints not found are listed, not cropped
    crops, problems = crop_joints(images, table, out, size, box, mirror_right=joints is None)
    problems = pd.concat([located, problems], ignore_index=True)
    wrists = int(crops["wrist"].sum())
    if shown is OutputFormat.json:
        print_json(
            {
                "out": str(out),
                "size": size,
                "finger_joints": len(crops) - wrists,
                "wrists": wrists,
                "not_cropped": problems.to_dict(orient="records"),
            }
        )
    else:
        if shown is not OutputFormat.csv:  # csv is the joints not cropped alone
            sys.stdout.write(
                f"wrote {len(crops) - wrists} finger-joint crops of {size} px (crops.csv) and {wrists} wrist crops "
                f"(wrists.csv) to {out}\n"
            )
        if len(problems) or shown is OutputFormat.csv:
            keys = [column.key for column in NOT_CROPPED_COLUMNS]
            print_rows(shown, NOT_CROPPED_COLUMNS, problems[keys].itertuples(index=False), title="not cropped")
    if len(problems):
        raise UsageError(
            f"{len(problems)} joint(s) could not be cropped", hint="they are listed above; the others were cropped"
        )
