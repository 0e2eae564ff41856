"""`zoo data`: check a recipe's data, cut joint crops (plugins add more, e.g. `phantom`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from zoo.cli.components import loaded_plugins
from zoo.cli.output import print_json, print_table
from zoo.cli.recipes import SetOption
from zoo.errors import UsageError

data_app = typer.Typer(help="Prepare and check data.", no_args_is_help=True)


@data_app.command("check")
def check(
    recipe_path: Annotated[Path, typer.Argument(metavar="RECIPE", help="The recipe whose data to check.")],
    overrides: SetOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the problems as JSON.")] = False,
) -> None:
    """Report every bad sample before training: files, images, labels, ids, patient leakage."""
    from zoo.compose.recipe import load_recipe
    from zoo.data.prepare import DataProblems, prepare

    registry = loaded_plugins().registry
    recipe = load_recipe(recipe_path, registry, overrides)
    try:
        prepared = prepare(recipe, registry, skip_bad=True)
    except DataProblems as every:  # no sample is usable: list them all, here more than anywhere
        shown = every.problems[["sample_id", "problem", "detail", "image"]]
        if as_json:
            print_json({"samples": every.problems["sample_id"].nunique(), "notes": every.notes,
                        "problems": every.problems.to_dict(orient="records")})  # fmt: skip
        else:
            print_table("problems", list(shown.columns), shown.itertuples(index=False))
        raise UsageError(
            every.message, hint="fix the samples listed above; skipping bad samples would leave none"
        ) from None
    problems = prepared.problems
    if as_json:
        print_json(
            {
                "samples": len(prepared.table) + problems["sample_id"].nunique(),
                "notes": prepared.notes,
                "problems": problems.to_dict(orient="records"),
            }
        )
    else:
        for note in prepared.notes:
            sys.stdout.write(f"note: {note}\n")
        table = prepared.table
        counts = ", ".join(f"{s} {int((table['split'] == s).sum())}" for s in ("train", "val", "test"))
        sys.stdout.write(
            f"{len(table)} usable samples of {table['patient_id'].nunique()} patients ({counts}); "
            f"labels: {prepared.scale}, target: {prepared.target}\n"
        )
        if len(problems):
            shown = problems[["sample_id", "problem", "detail", "image"]]
            print_table("problems", list(shown.columns), shown.itertuples(index=False))
    if len(problems):
        raise UsageError(
            f"{len(problems)} problem(s) in {problems['sample_id'].nunique()} sample(s)",
            hint="fix them, or set data.on_bad_sample: skip to leave those samples out of runs",
        )


@data_app.command("crop")
def crop(
    images: Annotated[Path, typer.Option("--images", help="Folder of full radiographs.")],
    joints: Annotated[Path, typer.Option("--joints", help="CSV of image, joint, x, y (pixels).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the crops and crops.csv.")],
    size: Annotated[int, typer.Option("--size", min=16, max=1024, help="Crop size in pixels.")] = 150,
    box: Annotated[
        int | None,
        typer.Option(
            "--box",
            min=8,
            help="Square side in source pixels (default: from the hand's joint spacing).",
        ),
    ] = None,
) -> None:
    """Cut one square crop per joint from full radiographs (the step before scoring)."""
    from zoo.data.crop import crop_joints

    if not images.is_dir():
        raise UsageError(f"--images '{images}' is not a folder", hint="give the folder of radiographs")
    crops, problems = crop_joints(images, joints, out, size, box)
    wrists = int(crops["wrist"].sum())
    sys.stdout.write(
        f"wrote {len(crops) - wrists} finger-joint crops of {size} px (crops.csv) and {wrists} wrist crops "
        f"(wrists.csv) to {out}\n"
    )
    if len(problems):
        print_table("not cropped", list(problems.columns), problems.itertuples(index=False))
        raise UsageError(f"{len(problems)} joint(s) could not be cropped", hint="see the table above")
