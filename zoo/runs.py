"""Run folders: every file a run writes, named in one place, with their readers and writers.

A run folder `runs/<recipe>-<YYYYmmdd-HHMMSS>/` holds:

- `recipe.yaml` (as given), `resolved.yaml` (every default filled in), `env.json` (versions,
  device), `split.csv` (sample, patient, split) and `skipped.csv` (samples left out, and why);
- `checkpoint/` (the latest checkpoint, and the stage's best weights while early stopping);
- `history.csv` (one row per epoch);
- `model.safetensors` and `config.json` (the trained model);
- `predictions-<split>.csv` and `metrics.json` (the evaluation);
- `report/` (written by `zoo analyze`).

Training writes the folder, judging adds the predictions and metrics, and the readers of a
finished run (analyze, predict, export) use `RunFolder` too; none of them imports the trainer.
The JSON files' contents are typed here (`Env`, `SavedModelConfig`, `Results`), for all of them.
Part of the shared vocabulary: plugins that follow runs (trackers) read the folder through it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

from zoo.errors import UsageError
from zoo.paths import atomic_write, read_csv

if TYPE_CHECKING:  # pandas is imported by the methods that need it: `zoo validate` does without
    import pandas as pd

    from zoo.images import Equalize
    from zoo.protocols import JsonValue

DEFAULT_RUNS_DIR = Path("runs")


# -- the JSON files of a run ----------------------------------------------------------------------


class Env(TypedDict):
    """env.json: versions, git sha and device (also read for the leaderboard's provenance)."""

    zoo_version: str
    git_sha: str | None
    python: str
    platform: str
    packages: dict[str, str | None]
    device: str
    device_name: str
    plugins: dict[str, str | None]  # each loaded plugin's version
    command: list[str]
    started_at: str


class SavedComponent(TypedDict):
    """A component in config.json: its name and params, as the resolved recipe gave them."""

    name: str
    params: dict[str, JsonValue]


class SavedModelConfig(TypedDict):
    """config.json: what rebuilds the model without the recipe or its data."""

    zoo_version: str
    recipe: str
    target: str
    backbone: SavedComponent
    head: SavedComponent
    image_size: int
    equalize: Equalize
    in_chans: int
    input: str
    labels: list[str] | str  # the class names, the range of a continuous target, or the points located
    threshold: NotRequired[float]  # a binary run's operating point, added by judging
    temperature: NotRequired[float]  # scales the main head's outputs (`eval.calibrate`), added by judging
    rau_margin: NotRequired[float]  # widens a visit's Rau score interval, Rau points (`eval.calibrate: intervals`)
    tta: NotRequired[list[str]]  # test-time augmentation: the transforms the outputs are averaged over
    landmarks: NotRequired[list[str]]  # a landmarks run's points, in the order its head gives them
    mean_shape: NotRequired[list[list[float]]]  # a landmarks run's mean training shape, unit coordinates
    joints: NotRequired[list[str]]  # the joints the training data named (lower case), where it named them
    caveat: NotRequired[str]  # one line every score of the model carries (a model trained on synthetic data)
    extra_targets: NotRequired[dict[str, ExtraHead]]  # a multi-target model's other targets, in output order
    ensemble: NotRequired[list[EnsembleMember]]  # an ensemble's members (`zoo ensemble`), in output order


class EnsembleMember(TypedDict):
    """A member of an ensemble in its config.json: its run, its weights' hash and its own config."""

    run: str
    weights_sha256: str
    config: SavedModelConfig


class ExtraHead(TypedDict):
    """An extra target's head in config.json."""

    head: SavedComponent
    labels: list[str] | str


class MetricResult(TypedDict):
    """One metric of an evaluated split, with its intervals (metrics.json, the leaderboard)."""

    value: float | None  # None where undefined (NaN)
    higher_is_better: bool
    bootstrap_95: NotRequired[list[float | None]]
    bootstrap_undefined: NotRequired[int]  # resamples the interval leaves out
    wilson_95: NotRequired[list[float | None]]


class SplitResult(TypedDict):
    """An evaluated split: every metric with its intervals, the counts, the confusion matrix."""

    target: str
    n: int
    patients: int
    bootstrap_resamples: int
    metrics: dict[str, MetricResult]
    confusion_matrix: NotRequired[list[list[float]]]  # targets with classes
    landmarks: NotRequired[dict[str, dict[str, float | None]]]  # landmarks: every metric of each point alone
    threshold: NotRequired[OperatingPoint]  # `zoo evaluate --threshold`: the cut-off its decisions used


class Baseline(TypedDict):
    """A trivial predictor's metrics: the training split's majority class, median or mean shape."""

    predictor: str
    value: float | None  # the constant predicted (None: the mean shape, a position per point)
    metrics: dict[str, float | None]


class Ceiling(TypedDict):
    """The reader ceiling: the metrics of predicting the true values behind noisy labels."""

    predictor: str
    n: int
    metrics: dict[str, float | None]


class OperatingPoint(TypedDict):
    """A binary run's threshold, and the rule that chose it."""

    rule: str
    value: float
    chosen_on: str


def how_chosen(point: OperatingPoint) -> str:
    """How an operating point was chosen, for people: the default, or its rule and split."""
    if point["chosen_on"] == "none":
        return "the default"
    return f"rule: {point['rule']}, chosen on the {point['chosen_on']} split"


class DatasetUsed(TypedDict):
    """The dataset a run was judged on."""

    name: str
    params: dict[str, JsonValue]
    fingerprint: str  # the labelled samples' sha256


class Training(TypedDict):
    """How the model was trained: metrics.json's "training"."""

    epochs: int
    seconds: float
    params: int
    image_size: int
    device: str
    device_name: str
    weights_sha256: str


class Results(TypedDict):
    """metrics.json: every evaluated split's metrics with their intervals, baselines and provenance."""

    run: str
    recipe: str
    recipe_sha256: str
    target: str
    dataset: DatasetUsed
    splits: dict[str, SplitResult]
    baselines: dict[str, Baseline]
    threshold: NotRequired[OperatingPoint]
    calibration: NotRequired[Calibration]
    empty_splits: NotRequired[list[str]]
    ceilings: NotRequired[dict[str, Ceiling]]
    extra_targets: NotRequired[dict[str, TargetResults]]  # a multi-target run's other targets, judged alike
    progression: NotRequired[dict[str, dict[str, JsonValue]]]  # by split: change between visits (judging.progression)
    rau: NotRequired[dict[str, dict[str, JsonValue]]]  # by split: how often the true Rau score is in its interval
    ensemble: NotRequired[Ensemble]  # an ensemble's members (`zoo ensemble`)
    training: NotRequired[Training]  # always there once judged; added last, as metrics.json orders it


class Ensemble(TypedDict):
    """What an ensemble is made of, in metrics.json and on its leaderboard rows."""

    members: list[str]  # the member runs' folder names, in output order
    backbone: str  # how the leaderboard names its backbones (`3 x tf_efficientnet_lite0`)


class Calibration(TypedDict):
    """How a run's probabilities were calibrated (`eval.calibrate`), in metrics.json."""

    method: str  # temperature or intervals
    temperature: float  # scales the main head's outputs; also in config.json
    fitted_on: str  # the split it was chosen on: val
    val_nll_before: NotRequired[float]  # temperature
    val_nll_after: NotRequired[float]
    val_coverage_80_before: NotRequired[float]  # intervals: the joints' 80 % intervals
    val_coverage_80_after: NotRequired[float]
    rau_margin: NotRequired[float]  # intervals: Rau points each visit's interval is widened by; also in config.json
    val_rau_inside_80_before: NotRequired[float]
    val_rau_inside_80_after: NotRequired[float]


def how_calibrated(calibration: Calibration) -> str:
    """What calibration fitted and changed, for people."""
    fitted = f"temperature {calibration['temperature']} fitted on the {calibration['fitted_on']} split"
    if "val_nll_before" in calibration:
        return f"{fitted} (negative log-likelihood {calibration['val_nll_before']} -> {calibration['val_nll_after']})"
    text = (
        f"{fitted} for the joints' 80 % intervals (labels inside {calibration.get('val_coverage_80_before')} -> "
        f"{calibration.get('val_coverage_80_after')})"
    )
    if "rau_margin" in calibration:
        text += (
            f", and the Rau score's widened by {calibration['rau_margin']} points (visits inside "
            f"{calibration.get('val_rau_inside_80_before')} -> {calibration.get('val_rau_inside_80_after')})"
        )
    return text


class TargetResults(TypedDict):
    """An extra target of a multi-target run in metrics.json: judged on its labelled samples."""

    scale: str  # the dataset's label scale it was learned from
    fingerprint: str  # its labelled samples' sha256, as a single-target run of it would have
    splits: dict[str, SplitResult]
    baselines: dict[str, Baseline]
    ceilings: NotRequired[dict[str, Ceiling]]


class RunFolder:
    """One run's folder and the names of everything in it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def new(cls, runs_dir: Path, name: str) -> RunFolder:
        """A new folder `runs_dir/<name>-<YYYYmmdd-HHMMSS>` (with a suffix if that exists already)."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        runs_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            folder = runs_dir / (f"{name}-{stamp}" + (f"-{attempt}" if attempt else ""))
            try:
                folder.mkdir()
                return cls(folder)
            except FileExistsError:
                continue
        raise FileExistsError(f"cannot create a run folder in {runs_dir}")

    @property
    def name(self) -> str:
        """The run's id: the folder's name."""
        return self.path.name

    # -- file names --------------------------------------------------------------------------

    @property
    def recipe_file(self) -> Path:
        """The recipe as the user gave it."""
        return self.path / "recipe.yaml"

    @property
    def resolved_file(self) -> Path:
        """The recipe with every default filled in: what the run actually ran."""
        return self.path / "resolved.yaml"

    @property
    def env_file(self) -> Path:
        """Versions, git sha and device."""
        return self.path / "env.json"

    @property
    def split_file(self) -> Path:
        """Each sample's patient and split."""
        return self.path / "split.csv"

    @property
    def skipped_file(self) -> Path:
        """Samples the data preparation left out, and why."""
        return self.path / "skipped.csv"

    @property
    def history_file(self) -> Path:
        """One row per epoch."""
        return self.path / "history.csv"

    @property
    def checkpoints(self) -> Path:
        """The folder of the latest checkpoint."""
        return self.path / "checkpoint"

    @property
    def best_weights(self) -> Path:
        """The current stage's best weights so far (kept for a resume while early stopping)."""
        return self.checkpoints / "best.safetensors"

    @property
    def weights_file(self) -> Path:
        """The trained model's weights."""
        return self.path / "model.safetensors"

    @property
    def config_file(self) -> Path:
        """What rebuilds the model: components, target, input size, preprocessing."""
        return self.path / "config.json"

    @property
    def metrics_file(self) -> Path:
        """The evaluation of every split, with intervals, baselines and provenance."""
        return self.path / "metrics.json"

    @property
    def report_folder(self) -> Path:
        """Where `zoo analyze` writes report.html by default."""
        return self.path / "report"

    def predictions_file(self, split: str, target: str | None = None) -> Path:
        """The predictions of one evaluated split: of the main target, or of a multi-target run's
        extra target `target` (`predictions-<split>-<target>.csv`)."""
        return self.path / (f"predictions-{split}.csv" if target is None else f"predictions-{split}-{target}.csv")

    # -- writers -----------------------------------------------------------------------------

    def write_recipe(self, given: str, resolved: str) -> None:
        """recipe.yaml (as given) and resolved.yaml."""
        self.recipe_file.write_text(given)
        self.resolved_file.write_text(resolved)

    def write_env(self, env: Env) -> None:
        """env.json."""
        self.env_file.write_text(json.dumps(env, indent=2) + "\n")

    def write_split(self, table: pd.DataFrame, skipped: pd.DataFrame) -> None:
        """split.csv, and skipped.csv when samples were left out."""
        table[["sample_id", "patient_id", "split"]].to_csv(self.split_file, index=False)
        if len(skipped):
            skipped.to_csv(self.skipped_file, index=False)

    def write_history(self, history: list[dict[str, float]]) -> None:
        """history.csv, replaced atomically."""
        import pandas as pd

        atomic_write(self.history_file, lambda p: pd.DataFrame(history).to_csv(p, index=False))

    def progression_file(self, split: str) -> Path:
        """Each patient's change between visits in one evaluated split."""
        return self.path / f"progression-{split}.csv"

    def write_predictions(self, split: str, frame: pd.DataFrame, target: str | None = None) -> None:
        """predictions-<split>.csv (an extra target's: predictions-<split>-<target>.csv)."""
        frame.to_csv(self.predictions_file(split, target), index=False)

    def add_to_config(self, values: dict[str, JsonValue]) -> None:
        """Add entries to config.json (judging adds a binary run's operating threshold)."""
        config = json.loads(self.config_file.read_text())
        self.config_file.write_text(json.dumps({**config, **values}, indent=2) + "\n")

    def write_metrics(self, results: Results) -> None:
        """metrics.json."""
        self.metrics_file.write_text(json.dumps(results, indent=2) + "\n")

    # -- readers -----------------------------------------------------------------------------

    def read_split(self) -> pd.DataFrame:
        """split.csv, every column as text."""
        return self._read_table(self.split_file, "the run's split", ("sample_id", "split"), str)

    def read_history(self) -> pd.DataFrame:
        """history.csv (its epochs and training losses numbers)."""
        table = self._read_table(self.history_file, "the run's history", ("epoch", "train_loss"))
        _numbers(table, ("epoch", "train_loss"), self.history_file)
        return table

    def read_metrics(self) -> Results:
        """metrics.json of a finished run, checked for the fields its readers use."""
        if not self.metrics_file.is_file():
            raise UsageError(
                f"'{self.path}' is not a finished run (no metrics.json)",
                hint="give a run folder whose 'zoo run' ended; 'zoo run --resume RUN_DIR' finishes one",
            )
        try:
            data = json.loads(self.metrics_file.read_text())
        except (OSError, ValueError):
            data = None
        problem = "not JSON" if data is None else results_problem(data)
        if problem is not None:
            raise UsageError(
                f"'{self.metrics_file.resolve()}' is not readable ({problem}: damaged or edited?)",
                hint="run the recipe again, or 'zoo run --resume RUN_DIR' to judge it again",
            )
        results: Results = data
        return results

    def evaluated_splits(self) -> list[str]:
        """The splits the run evaluated, in the recipe's order."""
        return list(self.read_metrics()["splits"])

    def read_predictions(self, split: str) -> pd.DataFrame:
        """predictions-<split>.csv, with ids kept as text (y_true and y_pred numbers; a locator's
        true_x, true_y, pred_x and pred_y, one row per image and landmark)."""
        from zoo.predictions import ID_TYPES

        path = self.predictions_file(split)
        table = self._read_table(path, f"the run's {split} predictions", ("sample_id",), ID_TYPES)
        numbers = ("true_x", "true_y", "pred_x", "pred_y") if "landmark" in table.columns else ("y_true", "y_pred")
        _has_columns(table, numbers, path)
        _numbers(table, numbers, path)
        return table

    def _read_table(
        self, path: Path, what: str, columns: tuple[str, ...], dtype: type[str] | dict[str, type[str]] | None = None
    ) -> pd.DataFrame:
        """A CSV of the run folder with these columns, or one `UsageError` naming the file."""
        hint = "the run folder was damaged or edited; run the recipe again"
        table = read_csv(path, what, hint=hint, dtype=dtype)
        _has_columns(table, columns, path)
        return table


def _has_columns(table: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    """Columns a file of the run folder must have, or one `UsageError` naming the file."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise UsageError(
            f"'{path.resolve()}' lacks column(s) {', '.join(missing)}",
            hint="the run folder was damaged or edited; run the recipe again",
        )


def _numbers(table: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    """Columns that must hold numbers in every row, or one `UsageError` naming the file."""
    import pandas as pd

    for column in columns:
        if pd.to_numeric(table[column], errors="coerce").isna().any():
            raise UsageError(
                f"'{path.resolve()}': column {column} holds something other than numbers",
                hint="the run folder was damaged or edited; run the recipe again",
            )


def results_problem(data: object) -> str | None:
    """What is wrong with a metrics.json's content for its readers (None: nothing)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    splits = data.get("splits")
    if not isinstance(splits, dict) or not splits:
        return "no evaluated split"
    for name, result in splits.items():
        if not isinstance(result, dict) or not isinstance(result.get("metrics"), dict):
            return f"split '{name}' has no metrics"
        if not all(isinstance(result.get(key), int) for key in ("n", "patients")):
            return f"split '{name}' has no counts"
        for metric, entry in result["metrics"].items():
            if not isinstance(entry, dict) or not _number_or_none(entry.get("value")):
                return f"metric '{metric}' of split '{name}' has no value"
            interval = entry.get("bootstrap_95")
            if interval is not None and not (
                isinstance(interval, list) and len(interval) == 2 and all(_number_or_none(v) for v in interval)
            ):
                return f"metric '{metric}' of split '{name}' has no interval"
        matrix = result.get("confusion_matrix")
        if matrix is not None and not (
            isinstance(matrix, list) and all(isinstance(row, list) and all(_number(v) for v in row) for row in matrix)
        ):
            return f"split '{name}' has no confusion matrix"
    baselines = data.get("baselines", {})
    if not isinstance(baselines, dict) or not all(
        isinstance(b, dict) and isinstance(b.get("metrics", {}), dict) for b in baselines.values()
    ):
        return "its baselines are not readable"
    threshold = data.get("threshold")
    if threshold is not None and not (isinstance(threshold, dict) and _number(threshold.get("value"))):
        return "its threshold is not a number"
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_or_none(value: object) -> bool:
    return value is None or _number(value)


@dataclass(frozen=True)
class RunInfo:
    """A run as the lifecycle hooks see it (docs/hooks.md): its folder and resolved recipe."""

    folder: RunFolder
    recipe: dict[str, JsonValue]  # the resolved recipe, JSON-ready (what resolved.yaml holds)
    resumed: bool  # True when `zoo run --resume` continues it

    @property
    def name(self) -> str:
        """The run's id: its folder's name."""
        return self.folder.name
