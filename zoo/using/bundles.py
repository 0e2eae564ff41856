"""Making and installing model bundles (zoo.compose.bundles): `zoo models export` and `install`.

`export_bundle` turns a finished run into a bundle. With `half`, the weights are stored in half
precision (half the size) and the metrics are measured again with exactly those weights on the
run's own data and splits: a bundle's metrics.json and predictions are always those of the
weights it holds, and the export reports how far the headline metric moved. Without the run's
data a half-precision export is refused (its metrics could not be checked).

The model card is the `card` file given, or one written from the run: its recipe, training data
and fingerprint, the headline metrics with intervals, the licence and the caveat. Cards that say
more (intended use, measured limits) are written by whoever publishes the model.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from safetensors.torch import save_file

import zoo
from zoo.compose.bundles import BUNDLE_FILE, CARD_FILE, BundleInfo, Headline, read_bundle, store_dir
from zoo.compose.recipe import Recipe, load_run_recipe
from zoo.compose.registry import Registry
from zoo.data.loader import batches, to_model_input
from zoo.data.prepare import Prepared, prepare
from zoo.errors import UsageError
from zoo.judging.evaluate import evaluate
from zoo.judging.leaderboard import default_metric
from zoo.judging.results import split_predictions
from zoo.paths import sha256_file
from zoo.runs import Env, Results, RunFolder
from zoo.trained import SplitOutputs, TrainedRun
from zoo.training.model import TrainedModel, load

COPIED = ("recipe.yaml", "resolved.yaml", "history.csv", "env.json")
SAMPLE_FILES = ("split.csv",)  # with the predictions: every sample's and patient's id, only on request
TEXT_LIMITS = {"name": 100, "description": 300, "licence": 200, "caveat": 300}  # as BundleInfo allows
BATCH = 32


@dataclass
class Exported:
    """The bundle written, and how far half precision moved its headline metric."""

    folder: Path
    info: BundleInfo
    headline_before: float | None  # the run's own value (float32 weights)


def raw_outputs(model: TrainedModel, prepared: Prepared, rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """The model's raw outputs on prepared rows, in order."""
    chunks = []
    with torch.inference_mode():
        for images, _, _, _ in batches(prepared.crops(rows), BATCH):
            chunks.append(model(to_model_input(images, device, channels_last=True)).float().cpu())
    return torch.cat(chunks)


def _measure(folder: Path, recipe: Recipe, results: Results, registry: Registry, device: torch.device) -> Results:
    """metrics.json of the model in `folder` on its recipe's evaluated splits (predictions written
    beside it); the run's baselines and training record are kept."""
    model, config = load(folder, registry)
    model.to(device).to(memory_format=torch.channels_last)
    prepared = prepare(recipe, registry)
    if prepared.fingerprint() != results["dataset"]["fingerprint"]:
        raise UsageError(
            f"the data of '{recipe.name}' changed since the run was trained (its fingerprint differs): the "
            "half-precision weights cannot be measured on it",
            hint="export without --half (the run's own metrics are kept), or train the recipe again",
        )
    run = RunFolder(folder)
    measured: Results = {**results, "splits": {}}
    threshold = config.get("threshold")
    for split in results["splits"]:
        rows = prepared.rows(split)
        outputs = SplitOutputs(
            samples=prepared.table.iloc[rows].reset_index(drop=True),
            targets=prepared.targets(rows).astype(float),
            outputs=raw_outputs(model, prepared, rows, device),
        )
        trained = TrainedRun(
            folder=run, model=model, target=recipe.data.target, scale=prepared.scale, splits={split: outputs},
            empty_splits=[], train_targets=prepared.targets(prepared.rows("train")),
            fingerprint=prepared.fingerprint(), history=[], training=results["training"], env=cast(Env, {}),
        )  # fmt: skip
        predictions, frame, _ = split_predictions(trained, outputs, threshold, recipe.data.landmarks)
        run.write_predictions(split, frame)
        measured["splits"][split] = evaluate(
            predictions, registry, recipe.eval.metrics, recipe.eval.bootstrap, recipe.seed
        )
    return measured


def headline(results: Results, registry: Registry) -> Headline:
    """The ranking metric of the run's target on its test split (else its first evaluated split)."""
    splits = results["splits"]
    split = "test" if "test" in splits else next(iter(splits))
    metric = default_metric(registry, results["target"]) or next(iter(splits[split]["metrics"]))
    entry = splits[split]["metrics"][metric]
    return Headline(metric=metric, split=split, value=entry["value"], bootstrap_95=entry.get("bootstrap_95"))


def _card(info: BundleInfo, recipe: Recipe, results: Results) -> str:
    """A model card written from the run, for a model whose publisher gave none."""
    lines = [
        f"# {info.name}",
        "",
        info.description,
        "",
        "## Training data",
        f"Dataset `{recipe.data.dataset.name}` ({json.dumps(recipe.data.dataset.params)}), target "
        f"`{recipe.data.target}`; data fingerprint `{info.data_fingerprint}`.",
        "",
        "## Metrics (95 % patient-bootstrap intervals)",
    ]
    for split, result in results["splits"].items():
        for name, entry in result["metrics"].items():
            interval = entry.get("bootstrap_95")
            shown = "" if not interval else f" ({interval[0]} - {interval[1]})"
            lines.append(f"- {split} {name}: {entry['value']}{shown}")
    lines += ["", "## Licence", info.licence]
    if info.caveat:
        lines += ["", "## Caveat", info.caveat]
    return "\n".join(lines) + "\n"


def export_bundle(
    run_dir: Path,
    out: Path,
    registry: Registry,
    *,
    name: str,
    description: str,
    licence: str,
    caveat: str | None = None,
    card: Path | None = None,
    half: bool = False,
    samples: bool = False,
    device: torch.device | None = None,
) -> Exported:
    """Write the bundle of a finished run into the new folder `out`. With `samples`, the split and
    the predictions (every sample's and patient's id, with its label) go in too: what `zoo analyze`
    of the bundle draws from; leave them out of a model trained on patients' data."""
    given = {"name": name, "description": description, "licence": licence, "caveat": caveat or ""}
    for option, text in given.items():
        if len(text) > TEXT_LIMITS[option] or "\n" in text:
            raise UsageError(
                f"--{option} is longer than {TEXT_LIMITS[option]} characters or has a line break",
                hint=f"give --{option} as one line of at most {TEXT_LIMITS[option]} characters",
            )
    run = RunFolder(run_dir)
    model, config = load(run_dir, registry)
    recipe = load_run_recipe(run, registry)
    results = run.read_metrics()
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"'{out}' is not empty", hint="give a new folder for the bundle")
    if card is not None and not card.is_file():
        raise UsageError(f"model card '{card}' is not a file", hint="give a Markdown file, or leave --card out")
    out.mkdir(parents=True, exist_ok=True)
    try:
        for file in COPIED + (SAMPLE_FILES if samples else ()):
            if (run.path / file).is_file():
                shutil.copyfile(run.path / file, out / file)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        save_file(state, str(out / "model.safetensors"))
        saved = {**config, **({"caveat": caveat} if caveat else {})}
        (out / "config.json").write_text(json.dumps(saved, indent=2) + "\n")
        if half:
            measured = _measure(out, recipe, results, registry, device or torch.device("cpu"))
            if not samples:
                for split in results["splits"]:
                    (out / run.predictions_file(split).name).unlink(missing_ok=True)
        else:
            measured = results
            for split in results["splits"] if samples else ():
                shutil.copyfile(run.predictions_file(split), out / run.predictions_file(split).name)
        (out / "metrics.json").write_text(json.dumps(measured, indent=2) + "\n")
        info = BundleInfo(
            format=1,
            name=name,
            description=description,
            target=config["target"],
            run=run.name,
            recipe=recipe.name,
            zoo_version=zoo.__version__,
            weights_sha256=sha256_file(out / "model.safetensors"),
            weights_dtype="float16" if half else "float32",
            data_fingerprint=results["dataset"]["fingerprint"],
            licence=licence,
            caveat=caveat,
            headline=headline(measured, registry),
        )
        (out / CARD_FILE).write_text(card.read_text(encoding="utf-8") if card else _card(info, recipe, measured))
        (out / BUNDLE_FILE).write_text(info.model_dump_json(indent=2) + "\n")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return Exported(out, info, headline(results, registry).value)


def install(source: Path, name: str | None = None, replace: bool = False) -> tuple[BundleInfo, Path]:
    """Check a bundle folder and copy it into the models store under its name (or `name`)."""
    info = read_bundle(source)
    chosen = name or info.name
    target = store_dir() / chosen
    if target.exists() and not replace:
        raise UsageError(f"a bundle named '{chosen}' is already installed ({target})", hint="add --replace, or --name")
    staging = target.with_name(f".{chosen}.installing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    if chosen != info.name:
        info = info.model_copy(update={"name": chosen})
        (staging / BUNDLE_FILE).write_text(info.model_dump_json(indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return info, target
