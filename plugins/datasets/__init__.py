"""Built-in datasets: the thesis's SCQM format, a generic manifest CSV and landmark tables (the phantom is a
plugin of its own)."""

from __future__ import annotations

from zoo import hookimpl
from zoo.protocols import RegisterCheck, RegisterComponent


@hookimpl
def zoo_register_datasets(register: RegisterComponent) -> None:
    """Register scqm, manifest and landmark_table."""
    register(
        "scqm",
        "zoo_plugins.datasets.scqm:build",
        params="zoo_plugins.datasets.params:ScqmParams",
        description="the thesis's SCQM export: main CSV + joint crops (+ disease activity CSV)",
    )
    register(
        "manifest",
        "zoo_plugins.datasets.manifest:build",
        params="zoo_plugins.datasets.params:ManifestParams",
        description="any labelled images from a CSV of path, label, patient_id",
    )
    register(
        "landmark_table",
        "zoo_plugins.datasets.landmark_table:build",
        params="zoo_plugins.datasets.params:LandmarkTableParams",
        description="named points on images (joint localisation) from a CSV of image, landmark, x, y",
        targets=["landmarks"],
    )


@hookimpl
def zoo_register_checks(register: RegisterCheck) -> None:
    """Register the datasets' recipe check."""
    register(
        "dataset_labels",
        "zoo_plugins.datasets.checks:labels_reach_targets",
        description="scqm and manifest give the labels every target of the recipe is learned from",
    )
