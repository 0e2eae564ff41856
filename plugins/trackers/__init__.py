"""Built-in trackers: MLflow. Off unless a recipe says `track: mlflow` (or `zoo run --track mlflow`)."""

from __future__ import annotations

import importlib.util

from zoo import hookimpl
from zoo.errors import UsageError
from zoo.protocols import RegisterComponent


def require_mlflow(params: object) -> None:
    """`track: mlflow` needs MLflow: say so before any work when it is not installed."""
    if importlib.util.find_spec("mlflow") is None:
        raise UsageError(
            "track: mlflow needs MLflow, which is not installed",
            hint="pip install 'erosion-zoo[mlflow]', or drop track from the recipe",
        )


@hookimpl
def zoo_register_trackers(register: RegisterComponent) -> None:
    """Register the MLflow tracker."""
    register(
        "mlflow",
        "zoo_plugins.trackers.mlflow:MlflowTracker",
        params="zoo_plugins.trackers.params:MlflowParams",
        description="log params, per-epoch and final metrics (with intervals) and the run folder to MLflow",
        preflight=require_mlflow,
    )
