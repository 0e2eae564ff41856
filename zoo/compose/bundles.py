"""Trained models that ship: bundles, found by name wherever a run folder is taken.

A bundle is a finished run's folder, pared down and signed for use: the weights
(`model.safetensors`, half precision where the metrics held), `config.json`, the recipe that made
it (`recipe.yaml`, `resolved.yaml`), its metrics with their intervals (`metrics.json`,
`history.csv`; the split and the predictions only when exported with them: they name every
sample and patient), a model card (`card.md`: intended use,
training data, measured limits, licence) and `bundle.json`, which names it and records the
weights' sha256 and the data fingerprint. Because it is a run folder, every command that takes
one (`zoo predict`, `analyze`, `export`, a recipe's `model.pretrained`) takes a bundle.

Bundles come from three places, in this order: registered by a plugin (`zoo_register_models`,
kind `models`: the zoo's own ship in `zoo_plugins.models`), installed into the models store
(`zoo models install`, `$ZOO_MODELS_DIR`, else `models/` in the zoo's cache folder), or given as
a folder. `find` turns a name or a folder into a folder, a bundle's weights checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zoo.compose.recipe import Target
from zoo.compose.registry import Registry, suggest
from zoo.errors import UsageError
from zoo.paths import cache_root, sha256_file
from zoo.targets import TARGETS

MODELS_ENV = "ZOO_MODELS_DIR"
BUNDLE_FILE = "bundle.json"
CARD_FILE = "card.md"
FORMAT = 1
REQUIRED_FILES = ("config.json", "model.safetensors", "recipe.yaml", "resolved.yaml", "metrics.json", CARD_FILE)
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
DEFAULT = "default"  # the tag of the trained models `zoo predict` uses unless told otherwise


class Headline(BaseModel):
    """The metric a bundle is known by, as measured on its evaluation split."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(max_length=100)
    split: str = Field(max_length=20)
    value: float | None
    bootstrap_95: list[float | None] | None = None


class BundleInfo(BaseModel):
    """bundle.json."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1]
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
    description: Annotated[str, Field(max_length=300)]
    target: Target
    run: Annotated[str, Field(max_length=300)]  # the run folder it was exported from
    recipe: Annotated[str, Field(max_length=200)]
    zoo_version: Annotated[str, Field(max_length=50)]
    weights_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    weights_dtype: Literal["float32", "float16"]
    data_fingerprint: Annotated[str, Field(max_length=64)]
    licence: Annotated[str, Field(max_length=200)]
    caveat: Annotated[str, Field(max_length=300)] | None = None
    headline: Headline


def store_dir() -> Path:
    """Where `zoo models install` puts bundles: `$ZOO_MODELS_DIR`, else `models/` in the cache folder."""
    explicit = os.environ.get(MODELS_ENV)
    return Path(explicit).expanduser() if explicit else cache_root() / "models"


def read_bundle(folder: Path, check_weights: bool = True) -> BundleInfo:
    """A bundle's bundle.json, checked with its files (and the weights' sha256); a `UsageError` says
    what is wrong."""
    hint = "a bundle is written by 'zoo models export'; export or install it again"
    missing = [name for name in (BUNDLE_FILE, *REQUIRED_FILES) if not (folder / name).is_file()]
    if missing:
        raise UsageError(f"'{folder}' is not a model bundle (no {', '.join(missing)})", hint=hint)
    try:
        info = BundleInfo.model_validate(json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        field = ""
        if isinstance(exc, ValidationError):
            error = exc.errors(include_url=False, include_input=False)[0]
            field = ": " + ".".join(str(p) for p in error["loc"]) + f": {error['msg']}"
        raise UsageError(f"'{folder / BUNDLE_FILE}' is not a readable bundle description{field}", hint=hint) from None
    if check_weights and sha256_file(folder / "model.safetensors") != info.weights_sha256:
        raise UsageError(
            f"'{folder / 'model.safetensors'}' is not the file its bundle.json describes (sha256 differs)",
            hint="the weights were changed or damaged; " + hint,
        )
    return info


def installed() -> dict[str, Path]:
    """The bundles in the models store, by name (folders that are not bundles are left out)."""
    store = store_dir()
    if not store.is_dir():
        return {}
    return {p.name: p for p in sorted(store.iterdir()) if (p / BUNDLE_FILE).is_file()}


def available(registry: Registry) -> dict[str, tuple[Path, str]]:
    """Every bundle by name, with where it comes from ("plugin NAME" or "installed")."""
    found = {spec.name: (Path(spec.build()), f"plugin {spec.plugin}") for spec in registry.components("models")}
    for name, path in installed().items():
        found.setdefault(name, (path, "installed"))
    return found


def default_model(registry: Registry, locator: bool) -> str:
    """The name of the trained model `zoo predict` uses unless told: the first registered (in the
    plugins' load order) that provides `default` and locates points (`locator`) or scores joints."""
    for spec in registry.registered("models"):
        points = spec.targets is not None and any(TARGETS[t].points for t in spec.targets if t in TARGETS)
        if DEFAULT in spec.provides and points == locator:
            return spec.name
    role = "joint locator" if locator else "scorer"
    raise UsageError(
        f"no plugin provides a default {role}",
        hint=f"name one with {'--locator' if locator else '--scorer'} (a trained model's name or a run folder)",
    )


def find(reference: str | Path, registry: Registry) -> Path:
    """The folder of a trained model: a bundle's name, or a run or bundle folder; a bundle's weights
    are checked against its bundle.json (`read_bundle`)."""
    path = Path(reference).expanduser()
    if path.is_dir():
        if (path / BUNDLE_FILE).is_file():
            read_bundle(path)
        return path
    text = str(reference)
    bundles = available(registry)
    if text in bundles:
        read_bundle(bundles[text][0])
        return bundles[text][0]
    close = suggest(text, bundles)
    raise UsageError(
        f"no trained model '{text}': not a folder, nor a bundle's name"
        + (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""),
        hint=f"bundles: {', '.join(sorted(bundles)) or 'none'} ('zoo models list'); or give a run folder",
    )
