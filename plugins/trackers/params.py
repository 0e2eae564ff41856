"""The params of the trackers plugin's components: what a recipe may set, checked before any work."""

from __future__ import annotations

from pydantic import Field

from ..common import Params


class MlflowParams(Params):
    """Where an MLflow tracker logs."""

    tracking_uri: str | None = Field(
        None,
        description="any MLflow tracking URI (a server, a database); default: $MLFLOW_TRACKING_URI, "
        "else a local store in ./mlruns (sqlite mlruns/mlflow.db, artifacts beside it)",
    )
    experiment: str | None = Field(None, description="the MLflow experiment (default: the recipe's name)")
