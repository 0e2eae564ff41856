"""The leaderboard: an append-only JSONL store of evaluated runs, one row per run and split.

The store is `<runs dir>/leaderboard.jsonl`. Rows are appended under an exclusive file lock
(`filelock`, on the sibling `leaderboard.jsonl.lock`), so runs finishing at the same moment never
lose or interleave a row; a (run, split) pair already present is not written twice (a resumed run
that had already appended its rows).

Metrics without a finite value (NaN is stored as null) are left out of a row, so they can never
rank. Each row carries the provenance needed to trust a comparison: recipe name and hash, the
components, the dataset and a hash of its params, the split and its size, every metric with its
intervals, parameter count, image size, epochs, training time, device, the weights' sha256, the
zoo's git sha and version, the plugins' versions, and when it was made.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple, TypedDict

from filelock import FileLock

from zoo.compose.recipe import Recipe
from zoo.compose.registry import Registry
from zoo.errors import UsageError, ZooError
from zoo.runs import Env, MetricResult, Results, SplitResult

STORE = "leaderboard.jsonl"


class _RowKeys(TypedDict):  # what every row read back has
    run_id: str
    split: str
    target: str
    metrics: dict[str, MetricResult]  # only those with a value


class LeaderboardRow(_RowKeys, total=False):
    """One row of the store: a run's evaluated split, with its provenance. A row read back is sure
    to have run_id, split, target and metrics only (rows of other writers may lack the rest)."""

    recipe: str
    recipe_sha256: str
    backbone: str
    head: str
    loss: str
    imbalance: str | None
    dataset: str
    dataset_params_sha256: str
    dataset_fingerprint: str
    n: int
    patients: int
    params: int
    image_size: int
    epochs: int
    train_seconds: float
    device: str
    device_name: str
    weights_sha256: str
    git_sha: str | None
    zoo_version: str | None
    plugin_versions: dict[str, str | None]
    created_at: str
    threshold: float  # a binary run's operating point (P(eroded) from which a joint counts as eroded)
    dataset_name: str  # the name the recipe gave its data (`data.name`)


def store_path(runs_dir: Path) -> Path:
    """Where the leaderboard of a runs folder lives."""
    return runs_dir / STORE


def lock_path(store: Path) -> Path:
    """The lock file beside a store (`<store>.lock`), which `append` and `read` hold."""
    return store.with_name(f"{store.name}.lock")


def params_hash(params: Mapping[str, object]) -> str:
    """A short, order-independent hash of a params dict."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def rows_for_run(recipe: Recipe, results: Results, env: Env) -> list[LeaderboardRow]:
    """One leaderboard row per evaluated split of a finished run, and of each extra target of a
    multi-target run (with that target's head, loss and labelled samples' fingerprint, so that it
    ranks beside the single-target runs of that target on the same data)."""
    imbalance = recipe.imbalance.name if recipe.imbalance else None
    fingerprint = results["dataset"]["fingerprint"]
    main = _Scored(recipe.data.target, recipe.model.head.name, recipe.loss.name, imbalance, fingerprint)
    groups = [(main, results["splits"])]
    for target, extra in results.get("extra_targets", {}).items():
        chosen = recipe.extra_targets[target]  # type: ignore[index]  # a target name: a key of the recipe's
        scored = _Scored(target, chosen.head.name, chosen.loss.name, None, extra["fingerprint"])  # balanced: the main
        groups.append((scored, extra["splits"]))
    return [
        _run_row(recipe, results, env, scored, split, result)
        for scored, splits in groups
        for split, result in splits.items()
    ]


class _Scored(NamedTuple):
    """What a row says of the target it scores."""

    target: str
    head: str
    loss: str
    imbalance: str | None
    fingerprint: str


def _run_row(
    recipe: Recipe,
    results: Results,
    env: Env,
    scored: _Scored,
    split: str,
    result: SplitResult,
) -> LeaderboardRow:
    training = results["training"]
    row: LeaderboardRow = {
        "run_id": results["run"],
        "recipe": recipe.name,
        "recipe_sha256": results["recipe_sha256"],
        "target": scored.target,
        "backbone": (
            results["ensemble"]["backbone"]
            if "ensemble" in results
            else backbone_label(recipe.model.backbone.name, recipe.model.backbone.params)
        ),
        "head": scored.head,
        "loss": scored.loss,
        "imbalance": scored.imbalance,
        "dataset": recipe.data.dataset.name,
        "dataset_params_sha256": params_hash(recipe.data.dataset.params),
        "dataset_fingerprint": scored.fingerprint,
        "split": split,
        "n": result["n"],
        "patients": result["patients"],
        "metrics": {k: v for k, v in result["metrics"].items() if v.get("value") is not None},
        "params": training["params"],
        "image_size": training["image_size"],
        "epochs": training["epochs"],
        "train_seconds": training["seconds"],
        "device": training["device"],
        "device_name": training["device_name"],
        "weights_sha256": training["weights_sha256"],
        "git_sha": env.get("git_sha"),
        "zoo_version": env.get("zoo_version"),
        "plugin_versions": env.get("plugins", {}),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if recipe.data.name is not None:
        row["dataset_name"] = recipe.data.name
    point = results.get("threshold")
    if point is not None and scored.target == recipe.data.target:  # the main target's decisions
        row["threshold"] = point["value"]
    return row


def backbone_label(name: str, params: Mapping[str, object]) -> str:
    """A backbone as the leaderboard names it: the component, and the model it builds where its
    params name one (`timm:convnext_tiny`), so that two models of one generic component differ."""
    model = params.get("model")
    return f"{name}:{model}" if isinstance(model, str) and model else name


def append(store: Path, rows: list[LeaderboardRow]) -> int:
    """Append rows not yet in the store (by run and split), under a lock; return how many.

    Rows are whole lines or nothing: a torn last line (a writer killed mid-row) is fenced off
    with a newline first, so a new row is never glued onto it; every byte is written (short
    writes are continued) and synced; and a failed write (a full disk) truncates the store back
    to where it was and is an error, so no torn row is left behind.
    """
    lock = FileLock(str(lock_path(store)))
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        # Creates `<store>.lock` beside the store, so a runs folder that cannot hold it fails here.
        held = lock.acquire()
        handle = open(store, "a+b")  # noqa: SIM115 - closed below, after the lock's work
    except OSError as exc:
        lock.release()  # a no-op when it was not acquired
        raise ZooError(
            f"cannot open the leaderboard '{store.resolve()}' ({exc.strerror or type(exc).__name__})",
            hint="check the runs folder's permissions; the run folder itself is complete",
        ) from None
    with held, handle:  # the store is closed, then the lock released
        handle.seek(0)
        content = handle.read()
        present = {(row["run_id"], row["split"]) for row in _parse(_lines(content))[0]}
        new = [row for row in rows if (row["run_id"], row["split"]) not in present]
        if not new:
            return 0
        fence = b"\n" if content and not content.endswith(b"\n") else b""
        payload = fence + "".join(json.dumps(row, sort_keys=True) + "\n" for row in new).encode("utf-8")
        try:
            _write_all(handle.fileno(), payload)
            os.fsync(handle.fileno())
        except OSError as exc:
            os.ftruncate(handle.fileno(), len(content))
            raise ZooError(
                f"could not append to the leaderboard '{store.resolve()}' "
                f"({exc.strerror or type(exc).__name__}); it was left as it was",
                hint="free some disk space, then 'zoo run --resume RUN_DIR' writes the rows again",
            ) from None
    return len(new)


def _write_all(fd: int, payload: bytes) -> None:
    """os.write until every byte is written (a short write is continued, never ignored)."""
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(0, "no progress writing")
        view = view[written:]


def _lines(content: bytes) -> list[str]:
    """The store's lines: JSON Lines end at a newline only (not at the other line breaks Python knows)."""
    return content.decode("utf-8", errors="replace").split("\n")


# The fields of a row and the types a reader may count on; a line whose fields have other types was
# not written by the zoo (or was edited), and is skipped rather than trusted.
REQUIRED_TEXT = ("run_id", "split", "target")
OPTIONAL_TYPES: dict[str, type | tuple[type, ...]] = {
    "recipe": str, "recipe_sha256": str, "backbone": str, "head": str, "loss": str, "imbalance": (str, type(None)),
    "dataset": str, "dataset_params_sha256": str, "dataset_fingerprint": str, "n": int, "patients": int,
    "params": int, "image_size": int, "epochs": int, "train_seconds": (int, float), "device": str,
    "device_name": str, "weights_sha256": str, "git_sha": (str, type(None)), "zoo_version": (str, type(None)),
    "plugin_versions": dict, "created_at": str, "threshold": (int, float), "dataset_name": str,
}  # fmt: skip


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _metric(entry: object) -> MetricResult | None:
    """A stored metric with a finite value (its interval kept when it is two finite numbers)."""
    if not isinstance(entry, dict) or not _finite(entry.get("value")):
        return None  # NaN, infinity or no number: never listed, never ranked
    kept: MetricResult = {
        "value": float(entry["value"]),
        "higher_is_better": entry.get("higher_is_better") is not False,
    }
    interval = entry.get("bootstrap_95")
    if isinstance(interval, list) and len(interval) == 2 and all(_finite(v) for v in interval):
        kept["bootstrap_95"] = [float(v) for v in interval]
    return kept


def _row(value: object) -> LeaderboardRow | None:
    """A line's row, when every field has the type the zoo writes (else None: skipped)."""
    if not isinstance(value, dict):
        return None
    if not all(isinstance(value.get(key), str) and value[key] for key in REQUIRED_TEXT):
        return None
    metrics = value.get("metrics")
    if not isinstance(metrics, dict):
        return None
    for key, kind in OPTIONAL_TYPES.items():
        if key in value and (not isinstance(value[key], kind) or isinstance(value[key], bool)):
            return None
    kept = {name: metric for name, entry in metrics.items() if (metric := _metric(entry)) is not None}
    row: LeaderboardRow = {**value, "metrics": kept}  # type: ignore[typeddict-item]  # checked field by field above
    return row


def _parse(lines: list[str]) -> tuple[list[LeaderboardRow], int]:
    """The rows of the store's lines, and how many lines were skipped (torn, foreign or edited)."""
    rows, skipped = [], 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            row = _row(json.loads(line))
        except (json.JSONDecodeError, RecursionError):  # a torn line, or an array nested beyond reason
            row = None
        if row is None:
            skipped += 1
        else:
            rows.append(row)
    return rows, skipped


def read(store: Path) -> list[LeaderboardRow]:
    """All rows of a store (none when it does not exist)."""
    return read_counting(store)[0]


def read_counting(store: Path) -> tuple[list[LeaderboardRow], int]:
    """All rows of a store, and the number of its lines skipped as not the zoo's rows."""
    if not store.exists():
        return [], 0
    if not store.is_file():
        raise UsageError(
            f"the leaderboard '{store.resolve()}' is not a file (a folder?)",
            hint="move it away; 'zoo run' writes the store as a file of one JSON row per line",
        )
    lock: FileLock | None
    lock = FileLock(str(lock_path(store)))  # assigned apart from the declaration, so mypy narrows it
    try:
        lock.acquire()
    except OSError:
        # `<store>.lock` cannot be created (a read-only runs folder or file system, someone else's
        # folder): read without the lock rather than fail. Only `read` falls back, never `append`.
        # Appenders write whole rows and sync them, and a row caught half-written is skipped by
        # `_parse`, so an unlocked read sees at worst the store minus a row being appended.
        lock = None
    try:
        with open(store, "rb") as handle:
            return _parse(_lines(handle.read()))
    except OSError as exc:
        raise ZooError(
            f"cannot read the leaderboard '{store.resolve()}' ({exc.strerror or type(exc).__name__})",
            hint="check the file's permissions",
        ) from None
    finally:
        if lock is not None:
            lock.release()


def dataset_label(row: LeaderboardRow) -> str:
    """The data a row was scored on: the dataset plugin and the samples' fingerprint.

    Not the params' hash: params hold absolute paths, which differ between checkouts of the same
    data. The fingerprint says whether the labelled samples are the same.
    """
    data = (row.get("dataset_fingerprint") or "?")[:8]
    named = row.get("dataset_name")
    return f"{named} ({row.get('dataset', '?')}, data {data})" if named else f"{row.get('dataset', '?')} (data {data})"


def on_dataset(row: LeaderboardRow, wanted: str) -> bool:
    """Whether a row's dataset is `wanted`: the name the recipe gave its data, the dataset plugin's
    name, or a prefix of its data fingerprint or params hash."""
    return wanted in (row.get("dataset_name"), row.get("dataset")) or any(
        (value or "").startswith(wanted) for value in (row.get("dataset_fingerprint"), row.get("dataset_params_sha256"))
    )


def shown_metrics(registry: Registry, target: str) -> list[str]:
    """The metrics of a target in the order results views show them: the ranking metric first
    (`default_metric`), then the others as their plugins registered them."""
    names = [spec.name for spec in registry.registered("metrics") if spec.targets is None or target in spec.targets]
    first = default_metric(registry, target)
    return [first, *[name for name in names if name != first]] if first else names


def default_metric(registry: Registry, target: str) -> str | None:
    """The metric that ranks a target by default: the first registered with `ranks=[target]`,
    else the first that scores the target at all."""
    fitting = [spec for spec in registry.registered("metrics") if spec.targets is None or target in spec.targets]
    ranking = [spec for spec in fitting if target in spec.ranks]
    chosen = ranking or fitting
    return chosen[0].name if chosen else None


def ranked(
    rows: list[LeaderboardRow], sort: str | None, defaults: dict[str, str]
) -> dict[tuple[str, str], tuple[str, list[LeaderboardRow]]]:
    """Rows grouped by target and dataset (`dataset_label`), each sorted best first by its metric:
    `sort`, else the target's default in `defaults` (`default_metric`).

    Runs on different data are never ranked in one table. Rows lacking the metric go last.
    """
    groups: dict[tuple[str, str], tuple[str, list[LeaderboardRow]]] = {}
    for target, label in sorted({(row["target"], dataset_label(row)) for row in rows}):
        metric = sort or defaults.get(target, "")
        members = [row for row in rows if row["target"] == target and dataset_label(row) == label]

        def key(row: LeaderboardRow, metric: str = metric) -> tuple[int, float]:
            entry = row["metrics"].get(metric)
            value = None if entry is None else entry.get("value")
            if entry is None or value is None:
                return (1, 0.0)
            return (0, -value if entry.get("higher_is_better", True) else value)

        groups[(target, label)] = (metric, sorted(members, key=key))
    return groups


def overlaps(leader: LeaderboardRow, other: LeaderboardRow, metric: str) -> bool:
    """Whether two rows' bootstrap intervals of `metric` overlap (no clear difference)."""
    a, b = _interval(leader, metric), _interval(other, metric)
    if a is None or b is None:
        return False
    return bool(a[0] <= b[1] and b[0] <= a[1])


def _interval(row: LeaderboardRow, metric: str) -> tuple[float, float] | None:
    """A row's bootstrap interval of `metric`; None when it has none or an end is undefined."""
    entry = row["metrics"].get(metric)
    bounds = None if entry is None else entry.get("bootstrap_95")
    if not bounds or None in bounds:
        return None
    low, high = bounds[0], bounds[1]
    return None if low is None or high is None else (low, high)
