"""The zoo's own recipe path and scoring as an object (`zoo.protocols.Pipeline`), handed to the
commands plugins add through `zoo_register_commands`: `zoo data realism` trains its models with
it, exactly as `zoo run` trains, without importing the core's layers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas and torch are imported by the calls, not by `zoo --help`
    import pandas as pd

    from zoo.runs import Results


class CliPipeline:
    """`run` is `zoo run RECIPE --set ...`; `predict` is `zoo predict RUN INPUT...` (joints only)."""

    def run(
        self, recipe: Path, runs_dir: Path, overrides: Sequence[str] = (), quiet: bool = True
    ) -> tuple[Path, Results]:
        """Validate, train and judge a recipe file; the run folder and metrics.json's content."""
        from zoo.cli.components import loaded_plugins
        from zoo.cli.recipes import run_recipe
        from zoo.compose.recipe import load_recipe, read_recipe_text
        from zoo.output import OutputFormat
        from zoo.progress import quietly

        plugins = loaded_plugins()
        resolved = load_recipe(recipe, plugins.registry, list(overrides))
        with quietly(quiet):
            folder, results = run_recipe(
                resolved, plugins.registry, plugins, runs_dir, OutputFormat.json, text=read_recipe_text(recipe)
            )
        if results is None:
            raise RuntimeError("a pipeline run is judged on its main process; run tools outside torchrun")
        return folder, results

    def predict(self, run: Path, inputs: Sequence[Path]) -> pd.DataFrame:
        """Score images with a finished run: one row per image, with its status."""
        import torch

        from zoo.cli.components import loaded_plugins
        from zoo.using.predict import predict

        return predict(list(inputs), loaded_plugins().registry, torch.device("cpu"), scorer=run, overlays=None).joints
