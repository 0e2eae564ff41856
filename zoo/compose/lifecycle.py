"""What plugins hear of a run while it happens: the lifecycle hooks, and the recipe's tracker.

`Lifecycle.for_recipe` builds the tracker a recipe names (`track:`) and registers it on the plugin
manager for the run's duration only, as pytest registers plugins at run time; so a tracker is off
unless a recipe names it, and it hears the same hooks as every installed plugin:
`zoo_run_started`, `zoo_epoch_ended` and `zoo_run_finished`, called through pluggy. A hook
implementation that raises is reported as one warning naming its plugin, and the run goes on: the
run folder is the record, a tracker a copy of it.
"""

from __future__ import annotations

from types import TracebackType

import pluggy

from zoo.compose.plugins import Plugins, call_isolated
from zoo.compose.recipe import Recipe
from zoo.errors import ZooError
from zoo.output import warn
from zoo.runs import Results, RunInfo


class Lifecycle:
    """The lifecycle hooks of one run; use it as a context manager around the run."""

    def __init__(self, manager: pluggy.PluginManager, tracker: tuple[str, object] | None = None) -> None:
        self.manager = manager
        self.tracker = tracker  # (its plugin name, the object) while it is registered
        self.run: RunInfo | None = None

    @classmethod
    def for_recipe(cls, plugins: Plugins, recipe: Recipe) -> Lifecycle:
        """The lifecycle of a run of `recipe`, with the tracker it names built (not yet registered)."""
        if recipe.track is None:
            return cls(plugins.manager)
        spec = plugins.registry.get("trackers", recipe.track.name)
        return cls(plugins.manager, (f"tracker:{spec.name}", spec.build(recipe.track.params)))

    def __enter__(self) -> Lifecycle:
        if self.tracker is not None:
            name, tracker = self.tracker
            try:
                self.manager.register(tracker, name=name)
            except (ValueError, pluggy.PluginValidationError) as exc:
                raise ZooError(
                    f"the tracker '{name.removeprefix('tracker:')}' is not a valid plugin object: {exc}",
                    hint="report this to the tracker's authors (docs/hooks.md: zoo_register_trackers)",
                ) from None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.tracker is not None and self.manager.is_registered(self.tracker[1]):
            self.manager.unregister(self.tracker[1])

    def started(self, run: RunInfo) -> None:
        """The run's folder is ready and training starts (or resumes)."""
        self.run = run
        self._call("zoo_run_started", run=run)

    def epoch_ended(self, row: dict[str, float]) -> None:
        """An epoch ended; `row` is its row of history.csv."""
        if self.run is not None:
            self._call("zoo_epoch_ended", run=self.run, epoch=int(row["epoch"]), metrics=dict(row))

    def finished(self, results: Results) -> None:
        """The run was judged: `results` is metrics.json's content."""
        if self.run is not None:
            self._call("zoo_run_finished", run=self.run, results=results)

    def _call(self, hook: str, **arguments: object) -> None:
        for plugin, error in call_isolated(self.manager, hook, **arguments).items():
            shown = plugin.removeprefix("tracker:")
            warn(f"plugin '{shown}' failed in {hook} ({type(error).__name__}: {error}); the run goes on")
