"""The MLflow tracker: a run of a recipe with `track: mlflow` is logged to MLflow as it happens.

- params: the resolved recipe, flattened (`model.backbone.name`, `train.batch_size`, ...);
- metrics: each epoch's row of history.csv, at the epoch as its step; when the run is judged,
  every evaluated split's metrics with their patient-bootstrap intervals
  (`test_quadratic_weighted_kappa`, `test_quadratic_weighted_kappa_low95`, `..._high95`);
- artifacts: the run folder's files, when the run is judged (`checkpoint/` left out: it is the
  state `--resume` needs, not a result);
- tags: `zoo.run` (the run folder's name) and `zoo.recipe`. A resumed run (`zoo run --resume`)
  finds its MLflow run again by its `zoo.run` tag and goes on logging into it.

The store: the tracker's `tracking_uri`, else `$MLFLOW_TRACKING_URI`, else a local store in
`./mlruns` (an sqlite database, `mlruns/mlflow.db`, with the artifacts beside it): what
`mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db` shows. The tracker talks to MLflow
through its client (`MlflowClient`), never through MLflow's process-wide active run.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from zoo import hookimpl
from zoo.errors import UsageError
from zoo.runs import Results, RunInfo

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from zoo.protocols import JsonValue

    from .params import MlflowParams

LOCAL_STORE = Path("mlruns")
RUN_TAG = "zoo.run"
LEFT_OUT = {"checkpoint"}  # run-folder entries not logged as artifacts
MAX_PARAM = 500  # characters of a param value MLflow is sent (its own limit is 6,000)


def tracking_uri(params: MlflowParams) -> str:
    """The store to log to: the params', MLflow's environment variable's, else ./mlruns."""
    if params.tracking_uri:
        return params.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    LOCAL_STORE.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(LOCAL_STORE / 'mlflow.db').resolve()}"


def flatten(values: dict[str, JsonValue], prefix: str = "") -> dict[str, str]:
    """Nested params as dotted keys with text values (lists as written in YAML)."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM]
    return flat


def final_metrics(results: Results) -> dict[str, float]:
    """Every evaluated split's metrics with their 95 % interval ends, by MLflow metric name."""
    found: dict[str, float] = {}
    for split, result in results.get("splits", {}).items():
        for name, entry in result.get("metrics", {}).items():
            values = [
                ("", entry.get("value")),
                *zip(("_low95", "_high95"), entry.get("bootstrap_95") or (), strict=False),
            ]
            for suffix, value in values:
                if isinstance(value, int | float) and math.isfinite(value):
                    found[f"{split}_{name}{suffix}"] = float(value)
    return found


class MlflowTracker:
    """A tracker object: the zoo registers it on its plugin manager for the run it tracks."""

    def __init__(self, params: MlflowParams) -> None:
        self.params = params
        self.client: MlflowClient | None = None
        self.run_id: str | None = None

    @hookimpl
    def zoo_run_started(self, run: RunInfo) -> None:
        """Create the MLflow run (or find the one a resumed run started) and log the recipe."""
        try:
            from mlflow.entities import Param
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise UsageError(
                "track: mlflow needs MLflow, which cannot be imported", hint="pip install 'erosion-zoo[mlflow]'"
            ) from None

        client = MlflowClient(tracking_uri=tracking_uri(self.params))
        name = self.params.experiment or str(run.recipe["name"])
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(name)
        found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{run.name}'")
        if found:
            self.run_id = found[0].info.run_id
            client.update_run(self.run_id, status="RUNNING")
        else:
            tags = {RUN_TAG: run.name, "zoo.recipe": str(run.recipe["name"])}
            self.run_id = client.create_run(experiment_id, run_name=run.name, tags=tags).info.run_id
            params = [Param(key, value) for key, value in flatten(run.recipe).items()]
            client.log_batch(self.run_id, params=params)
        self.client = client

    @hookimpl
    def zoo_epoch_ended(self, run: RunInfo, epoch: int, metrics: dict[str, float]) -> None:
        """Log the epoch's row of history.csv at step `epoch`."""
        from mlflow.entities import Metric

        if self.client is None or self.run_id is None:
            return
        stamp = _now()
        values = [
            Metric(key, float(value), stamp, epoch)
            for key, value in metrics.items()
            if key != "epoch" and isinstance(value, int | float) and math.isfinite(value)
        ]
        self.client.log_batch(self.run_id, metrics=values)

    @hookimpl
    def zoo_run_finished(self, run: RunInfo, results: Results) -> None:
        """Log the final metrics with their intervals and the run folder's files; end the MLflow run."""
        from mlflow.entities import Metric

        if self.client is None or self.run_id is None:
            return
        stamp = _now()
        step = int(results.get("training", {}).get("epochs", 0))
        metrics = [Metric(key, value, stamp, step) for key, value in final_metrics(results).items()]
        self.client.log_batch(self.run_id, metrics=metrics)
        for entry in sorted(run.folder.path.iterdir()):
            if entry.name in LEFT_OUT or entry.name.startswith("."):
                continue
            if entry.is_dir():
                self.client.log_artifacts(self.run_id, str(entry), artifact_path=entry.name)
            else:
                self.client.log_artifact(self.run_id, str(entry))
        self.client.set_terminated(self.run_id, "FINISHED")


def _now() -> int:
    """Milliseconds since the epoch, MLflow's timestamps."""
    import time

    return int(time.time() * 1000)
