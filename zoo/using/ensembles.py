"""`zoo ensemble`: finished runs made into one run whose model averages theirs, judged like any run.

Members must share what makes their outputs comparable: the target (and extra targets), the
heads (averaged by the first member's), the image size and preprocessing, the data (its
fingerprint) and the split of its patients. Each difference is one error naming the member.

The new run folder holds every member's weights in one `model.safetensors` and in `config.json`
each member's own config, run and weights' sha256 (`zoo.training.ensemble`); the first member's
recipe, renamed, whose data and evaluation settings the ensemble takes (a member's test-time
augmentation and temperature stay in the member; `eval.calibrate` fits the ensemble's own); the
split; and what judging writes for any run: predictions, metrics.json (with `ensemble`: the
members) and leaderboard rows, whose training time and epochs are the members' summed.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch

from zoo.compose.recipe import AVERAGEABLE, NAME_PATTERN, Recipe, load_run_recipe
from zoo.compose.run_checks import check_splits
from zoo.data.prepare import prepare
from zoo.errors import UsageError
from zoo.judging.leaderboard import backbone_label
from zoo.judging.results import judge
from zoo.paths import sha256_file
from zoo.runs import EnsembleMember, Results, RunFolder, SavedModelConfig
from zoo.trained import TrainedRun
from zoo.training import model as model_io
from zoo.training.device import environment
from zoo.training.ensemble import EnsembleModel
from zoo.training.model import ZooModel
from zoo.using.bundles import raw_outputs

if TYPE_CHECKING:
    from zoo.compose.plugins import PluginInfo
    from zoo.compose.registry import Registry

SHARED_HINT = "an ensemble's members share target, heads, image size, data and split: give runs of one recipe's data"
MEMBER_OWN = ("temperature", "rau_margin", "tta", "threshold")  # a member's own config.json entries


@dataclass(frozen=True)
class Member:
    """A finished run read as an ensemble member."""

    path: Path  # as the user gave it
    folder: RunFolder
    model: ZooModel
    config: SavedModelConfig
    results: Results
    recipe: Recipe
    split: pd.DataFrame  # split.csv


def read_member(path: Path, registry: Registry) -> Member:
    """A finished run: its model, config, metrics and recipe; any problem names the member."""
    if not path.is_dir():
        raise UsageError(f"member '{path}' is not a run folder (no such folder)", hint="give folders made by 'zoo run'")
    folder = RunFolder(path)
    try:
        model, config = model_io.load(path, registry)
        results = folder.read_metrics()
        recipe = load_run_recipe(folder, registry)
        split = folder.read_split()
    except UsageError as error:
        raise UsageError(f"member '{path}': {error.message}", hint=error.hint) from None
    if isinstance(model, EnsembleModel):
        raise UsageError(f"member '{path}' is an ensemble itself", hint="give the runs it was made of")
    return Member(path, folder, model, config, results, recipe, split)


def _heads(config: SavedModelConfig) -> dict[str, str]:
    """The head of each target of a model config."""
    extra = config.get("extra_targets", {})
    return {config["target"]: config["head"]["name"], **{t: e["head"]["name"] for t, e in extra.items()}}


def check_members(members: list[Member], registry: Registry) -> None:
    """Members must share target, heads, image size, preprocessing, data and split (one error each)."""
    first = members[0]
    for member in members:
        for target, head in _heads(member.config).items():
            if AVERAGEABLE not in registry.get("heads", head).provides:
                raise UsageError(
                    f"member '{member.path}': its {target} head '{head}' cannot average passes",
                    hint="ensembles need heads that provide 'averageable' ('zoo list heads')",
                )
    shared: list[tuple[str, Callable[[Member], object]]] = [
        ("target", lambda m: m.config["target"]),
        ("heads", lambda m: _heads(m.config)),
        ("image size", lambda m: m.config["image_size"]),
        ("preprocessing", lambda m: m.config["equalize"]),
        ("data (fingerprint)", lambda m: m.results["dataset"]["fingerprint"]),
    ]
    for member in members[1:]:
        for what, read in shared:
            mine, theirs = read(member), read(first)
            if mine != theirs:
                raise UsageError(
                    f"member '{member.path}' differs from '{first.path}' in its {what}: {mine} against {theirs}",
                    hint=SHARED_HINT,
                )
        if not member.split.equals(first.split):
            raise UsageError(
                f"member '{member.path}' split its patients differently from '{first.path}'",
                hint="train the members on one split: give their recipes one data.split.seed (docs/recipes.md)",
            )


def ensemble_label(members: list[Member]) -> str:
    """How the leaderboard names an ensemble's backbones: `3 x tf_efficientnet_lite0`."""
    labels = Counter(backbone_label(m.config["backbone"]["name"], m.config["backbone"]["params"]) for m in members)
    return " + ".join(f"{count} x {label}" for label, count in labels.items())


def make_ensemble(
    paths: list[Path], name: str, runs_dir: Path, registry: Registry, plugins: list[PluginInfo]
) -> tuple[Path, Results]:
    """A new run folder `runs_dir/<name>-<time>` whose model averages the runs in `paths`, judged
    like any run (its leaderboard: `runs_dir`'s); return the folder and its metrics.json."""
    if len(paths) < 2:
        raise UsageError(
            f"an ensemble needs two runs or more; got {'one' if paths else 'none'}"
            + (f": '{paths[0]}'" if paths else ""),
            hint="zoo ensemble RUN RUN ... --name NAME",
        )
    if not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(f"--name '{name}' is not a run name", hint="letters, digits, '_', '.' and '-'")
    seen: set[Path] = set()
    for path in paths:
        if path.resolve() in seen:
            raise UsageError(f"member '{path}' is given twice", hint="give each run once")
        seen.add(path.resolve())
    members = [read_member(path, registry) for path in paths]
    check_members(members, registry)
    first = members[0]
    recipe = first.recipe.model_copy(update={"name": name, "eval": first.recipe.eval.model_copy(update={"tta": None})})
    prepared = prepare(recipe, registry)
    if prepared.fingerprint() != first.results["dataset"]["fingerprint"]:
        raise UsageError(
            f"the data of member '{first.path}' changed since it was trained (its fingerprint differs)",
            hint="train the members again on today's data",
        )
    if not prepared.splits_as(first.split):
        raise UsageError(
            f"the data of member '{first.path}' no longer splits as its split.csv",
            hint="train the members again on today's data",
        )
    empty = check_splits(recipe, prepared)
    judged = [split for split in recipe.eval.judged_splits if split not in empty]
    model = EnsembleModel([m.model for m in members]).eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device).to(memory_format=torch.channels_last)
    run = RunFolder.new(runs_dir, name)
    try:
        given = f"# zoo ensemble of {', '.join(m.folder.name for m in members)}: the recipe of the first member\n"
        run.write_recipe(given + recipe.to_yaml(), recipe.to_yaml())
        run.write_split(prepared.table, prepared.problems)
        env = environment(device, plugins)
        run.write_env(env)
        config: SavedModelConfig = {k: v for k, v in first.config.items() if k not in MEMBER_OWN}  # type: ignore[assignment]
        config["recipe"] = name
        config["ensemble"] = [
            EnsembleMember(run=m.folder.name, weights_sha256=sha256_file(m.folder.weights_file), config=m.config)
            for m in members
        ]
        model_io.save(model, run, config)
        outputs = {split: raw_outputs(model, prepared, prepared.rows(split), device) for split in judged}
        trained = TrainedRun(
            folder=run,
            model=model,
            target=recipe.data.target,
            scale=prepared.scale,
            splits={split: prepared.split_outputs(split, found) for split, found in outputs.items()},
            empty_splits=empty,
            train_targets=prepared.targets(prepared.rows("train")),
            fingerprint=prepared.fingerprint(),
            history=[],
            training={
                "epochs": sum(m.results.get("training", {}).get("epochs", 0) for m in members),
                "seconds": round(sum(m.results.get("training", {}).get("seconds", 0.0) for m in members), 1),
                "params": sum(p.numel() for p in model.parameters()),
                "image_size": recipe.data.image_size,
                "device": env["device"],
                "device_name": env["device_name"],
                "weights_sha256": sha256_file(run.weights_file),
            },
            env=env,
            extra_targets=prepared.judged_extra_targets(),
            ensemble={"members": [m.folder.name for m in members], "backbone": ensemble_label(members)},
        )
        results = judge(recipe, trained, registry)
    except BaseException:
        shutil.rmtree(run.path, ignore_errors=True)  # no half-made run folder
        raise
    return run.path, results
