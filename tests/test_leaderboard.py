"""The leaderboard store (append-only, locked, deduplicated) and its views."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any, NoReturn

import pytest

from zoo.judging import leaderboard


def row(
    run: str, split: str = "test", value: float = 0.5, interval: tuple[float, float] = (0.4, 0.6), target: str = "stage"
) -> dict:
    metric = "class_normalised_accuracy" if target == "stage" else "mse"
    return {
        "run_id": run, "recipe": f"recipe-{run}", "target": target, "backbone": "thesis_vgg", "head": "softmax",
        "loss": "cross_entropy", "imbalance": None, "dataset": "phantom", "split": split, "n": 100,
        "metrics": {metric: {"value": value, "bootstrap_95": list(interval), "higher_is_better": target == "stage"}},
    }  # fmt: skip


def _append_many(args: tuple[str, int]) -> None:
    store, worker = args
    for i in range(25):
        leaderboard.append(Path(store), [row(f"w{worker}-{i}")])


def test_concurrent_appends_lose_and_corrupt_nothing(tmp_path: Path) -> None:
    store = tmp_path / "leaderboard.jsonl"
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        pool.map(_append_many, [(str(store), w) for w in range(6)])
    lines = store.read_text().splitlines()
    assert len(lines) == 150
    assert len({json.loads(line)["run_id"] for line in lines}) == 150


def test_a_run_and_split_is_written_once(tmp_path: Path) -> None:
    store = tmp_path / "leaderboard.jsonl"
    assert leaderboard.append(store, [row("a"), row("a", "val")]) == 2
    assert leaderboard.append(store, [row("a"), row("b")]) == 1
    assert [(r["run_id"], r["split"]) for r in leaderboard.read(store)] == [("a", "test"), ("a", "val"), ("b", "test")]


def test_ranking_and_the_no_difference_marker(zoo, tmp_path: Path) -> None:
    store = tmp_path / "leaderboard.jsonl"
    leaderboard.append(
        store,
        [
            row("low", value=0.3, interval=(0.25, 0.35)),
            row("best", value=0.6, interval=(0.5, 0.7)),
            row("close", value=0.55, interval=(0.45, 0.65)),
            row("reg", target="percent", value=9.0),
        ],
    )
    groups = leaderboard.ranked(leaderboard.read(store), None, default_sorts())
    label = "phantom (data ?)"
    metric, members = groups[("stage", label)]
    assert metric == "class_normalised_accuracy" and [r["run_id"] for r in members] == ["best", "close", "low"]
    assert leaderboard.overlaps(members[0], members[1], metric) and not leaderboard.overlaps(
        members[0], members[2], metric
    )
    assert groups[("percent", label)][0] == "mse"
    table = zoo("leaderboard", "--runs-dir", str(tmp_path))
    assert table.code == 0
    lines = [line for line in table.out.splitlines() if any(f"│ {run} " in line for run in ("best", "close", "low"))]
    assert "│ 1 " in lines[0] and "best" in lines[0] and "~" in lines[1] and "~" not in lines[2]
    markdown = zoo("leaderboard", "--runs-dir", str(tmp_path), "--format", "markdown")
    assert "| 2 ~ | close |" in markdown.out and "CNA = class_normalised_accuracy" in markdown.out
    csv = zoo("leaderboard", "--runs-dir", str(tmp_path), "--format", "csv")
    assert csv.out.splitlines()[0].startswith("run_id,recipe,target")
    as_json = json.loads(zoo("leaderboard", "--runs-dir", str(tmp_path), "--format", "json").out)
    assert as_json[1]["target"] == "stage" and as_json[1]["sort"] == "class_normalised_accuracy"
    assert zoo("leaderboard", "--runs-dir", str(tmp_path), "--split", "val").err.startswith("No runs to show")
    other = zoo("leaderboard", "--runs-dir", str(tmp_path), "--dataset", "scqm")
    assert other.out == "" and "and dataset 'scqm'" in other.err


def test_empty_or_missing_store_is_a_helpful_message(zoo, tmp_path: Path) -> None:
    result = zoo("leaderboard", "--runs-dir", str(tmp_path / "nothing"))
    assert result.code == 0
    assert "does not exist yet" in result.err and "zoo run recipes/quickstart.yaml" in result.err
    bad = zoo("leaderboard", "--format", "xml")
    assert bad.code == 2


def test_runs_on_different_data_are_never_ranked_together(zoo, tmp_path: Path) -> None:
    store = tmp_path / "leaderboard.jsonl"
    first = {**row("a"), "dataset": "manifest", "dataset_params_sha256": "p1" * 6, "dataset_fingerprint": "aaaa" * 16}
    second = {**row("b"), "dataset": "manifest", "dataset_params_sha256": "p2" * 6, "dataset_fingerprint": "bbbb" * 16}
    moved = {**row("c"), "dataset": "manifest", "dataset_params_sha256": "p3" * 6, "dataset_fingerprint": "aaaa" * 16}
    leaderboard.append(store, [first, second, moved])
    groups = leaderboard.ranked(leaderboard.read(store), None, default_sorts())
    assert len(groups) == 2, "two manifests are two tables; the same data in another folder is one"
    table = zoo("leaderboard", "--runs-dir", str(tmp_path))
    assert "data aaaaaaaa" in table.out and "data bbbbbbbb" in table.out
    only = json.loads(zoo("leaderboard", "--runs-dir", str(tmp_path), "--dataset", "bbbb", "--format", "json").out)
    assert [r["run_id"] for group in only for r in group["rows"]] == ["b"]


def test_sort_and_split_are_checked(zoo, tmp_path: Path) -> None:
    leaderboard.append(tmp_path / "leaderboard.jsonl", [row("a")])
    bad_sort = zoo("leaderboard", "--runs-dir", str(tmp_path), "--sort", "kappa_quadratic")
    assert bad_sort.code == 2 and "--sort: no metric 'kappa_quadratic'" in bad_sort.err
    typo = zoo("leaderboard", "--runs-dir", str(tmp_path), "--sort", "accuracyy")
    assert "did you mean 'accuracy'?" in typo.err
    assert zoo("leaderboard", "--runs-dir", str(tmp_path), "--split", "train").code == 2


def test_a_torn_last_line_is_fenced_off_not_glued_to(tmp_path: Path) -> None:
    store = tmp_path / "leaderboard.jsonl"
    leaderboard.append(store, [row("a")])
    with open(store, "a") as handle:
        handle.write('{"run_id": "torn", "spl')  # a writer killed mid-row
    leaderboard.append(store, [row("b")])
    assert [r["run_id"] for r in leaderboard.read(store)] == ["a", "b"]


def test_short_writes_are_continued(tmp_path: Path, monkeypatch) -> None:
    import os

    real = os.write
    monkeypatch.setattr(leaderboard.os, "write", lambda fd, data: real(fd, bytes(data[:7])))
    store = tmp_path / "leaderboard.jsonl"
    assert leaderboard.append(store, [row("a"), row("b")]) == 2
    assert [r["run_id"] for r in leaderboard.read(store)] == ["a", "b"]


def test_a_full_disk_is_an_error_and_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch) -> None:
    import errno
    import os

    import pytest

    from zoo.errors import ZooError

    store = tmp_path / "leaderboard.jsonl"
    leaderboard.append(store, [row("a")])
    before = store.read_bytes()
    real = os.write
    calls = []

    def full(fd: int, data: bytes) -> int:
        calls.append(1)
        if len(calls) == 1:
            return real(fd, bytes(data[:10]))  # part of a row, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(leaderboard.os, "write", full)
    with pytest.raises(ZooError, match="No space left on device") as caught:
        leaderboard.append(store, [row("b")])
    assert caught.value.exit_code == 1 and "zoo run --resume" in (caught.value.hint or "")
    assert store.read_bytes() == before, "no torn row is left behind"


def test_a_binary_or_foreign_store_is_read_without_crashing(zoo, tmp_path: Path) -> None:
    store = tmp_path / "leaderboard.jsonl"
    store.write_bytes(b"\x00\xff\xfe garbage\n[1, 2, 3]\n" + json.dumps(row("a")).encode() + b"\n")
    assert [r["run_id"] for r in leaderboard.read(store)] == ["a"]
    result = zoo("leaderboard", "--runs-dir", str(tmp_path))
    assert result.code == 0 and "recipe-a" in result.out


def test_concurrent_appends_from_threads_lose_nothing_and_reads_see_whole_rows(tmp_path: Path) -> None:
    import threading

    store = tmp_path / "leaderboard.jsonl"
    seen: list[int] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            seen.append(len(leaderboard.read(store)))

    def writer(worker: int) -> None:
        for i in range(20):
            leaderboard.append(store, [row(f"t{worker}-{i}"), row(f"t{worker}-{i}", "val")])

    watching = threading.Thread(target=reader)
    watching.start()
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    watching.join()
    lines = store.read_text().splitlines()
    assert len(lines) == 240 and len({(json.loads(line)["run_id"], json.loads(line)["split"]) for line in lines}) == 240
    assert all(n % 2 == 0 for n in seen), "a read never sees half of an append"
    assert seen == sorted(seen)


def test_append_waits_for_the_lock_beside_the_store(tmp_path: Path) -> None:
    import threading

    from filelock import FileLock

    store = tmp_path / "leaderboard.jsonl"
    assert leaderboard.lock_path(store) == tmp_path / "leaderboard.jsonl.lock"
    held = FileLock(str(leaderboard.lock_path(store)))
    held.acquire()
    appending = threading.Thread(target=leaderboard.append, args=(store, [row("a")]))
    appending.start()
    appending.join(0.5)
    assert appending.is_alive() and not store.exists(), "the store is not touched while another process holds the lock"
    held.release()
    appending.join(30)
    assert [r["run_id"] for r in leaderboard.read(store)] == ["a"]


def _unlockable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lock files cannot be created (a read-only runs folder; root cannot simulate one with chmod)."""
    import errno

    from filelock import FileLock

    def refuse(self: FileLock, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError(errno.EACCES, "Permission denied", str(self.lock_file))

    monkeypatch.setattr(FileLock, "acquire", refuse)


def test_a_read_only_runs_folder_is_read_without_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.errors import ZooError

    store = tmp_path / "leaderboard.jsonl"
    leaderboard.append(store, [row("a")])
    before = store.read_bytes()
    _unlockable(monkeypatch)
    assert [r["run_id"] for r in leaderboard.read(store)] == ["a"]
    with pytest.raises(ZooError, match=r"cannot open the leaderboard .*\(Permission denied\)") as caught:
        leaderboard.append(store, [row("b")])
    assert caught.value.hint == "check the runs folder's permissions; the run folder itself is complete"
    assert store.read_bytes() == before


def test_a_read_only_runs_folder_for_real(tmp_path: Path) -> None:
    """As an unprivileged user (root runs it as nobody): `zoo leaderboard` reads, a run's append is a clear error."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from tests.conftest import ROOT

    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot drop privileges")
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        reachable = subprocess.run([*prefix, sys.executable, "-c", "import zoo"], capture_output=True, cwd=ROOT)
        if reachable.returncode != 0:  # e.g. a checkout under a folder only root may enter (mktemp -d)
            pytest.skip("this checkout is not readable by an unprivileged user: cannot drop privileges here")
    else:
        prefix = []
    base = Path(tempfile.mkdtemp(prefix="zoo-readonly-"))  # not under tmp_path, which only root may enter
    try:
        runs = base / "runs"
        leaderboard.append(leaderboard.store_path(runs), [row("a")])
        os.chmod(base, 0o755)
        os.chmod(leaderboard.store_path(runs), 0o644)
        os.remove(leaderboard.lock_path(leaderboard.store_path(runs)))
        os.chmod(runs, 0o555)
        env = {**os.environ, "ZOO_CACHE_DIR": str(base / "cache"), "HOME": str(base)}
        shown = subprocess.run(
            [*prefix, sys.executable, "-m", "zoo", "leaderboard", "--runs-dir", str(runs)],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        assert "recipe-a" in shown.stdout and "Traceback" not in shown.stderr
        code = (
            "import sys; from pathlib import Path; from zoo.judging import leaderboard; from zoo.errors import ZooError\n"
            "try:\n"
            f"    leaderboard.append(Path({str(leaderboard.store_path(runs))!r}), [{{'run_id': 'b', 'split': 'test'}}])\n"
            "except ZooError as exc:\n"
            "    print(exc, exc.hint, sep='|')\n"
        )
        appended = subprocess.run(
            [*prefix, sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
        )
        assert appended.returncode == 0, appended.stderr
        assert "cannot open the leaderboard" in appended.stdout and "(Permission denied)" in appended.stdout
        assert "check the runs folder's permissions" in appended.stdout
        assert [r["run_id"] for r in leaderboard.read(leaderboard.store_path(runs))] == ["a"]
    finally:
        os.chmod(base / "runs", 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_the_lock_is_released_after_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins
    import errno

    from filelock import FileLock

    from zoo.errors import ZooError

    store = tmp_path / "leaderboard.jsonl"
    leaderboard.append(store, [row("a")])
    real_open = builtins.open

    def unreadable(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("leaderboard.jsonl"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, mode, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(builtins, "open", unreadable)
        with pytest.raises(ZooError, match=r"cannot read the leaderboard .*\(Permission denied\)"):
            leaderboard.read(store)
        with pytest.raises(ZooError, match=r"cannot open the leaderboard .*\(Permission denied\)"):
            leaderboard.append(store, [row("b")])
    probe = FileLock(str(leaderboard.lock_path(store)), timeout=0)
    probe.acquire()  # raises filelock.Timeout if either call had kept the lock
    probe.release()


def default_sorts() -> dict[str, str]:
    """Each target's ranking metric, as the metric plugins declare it."""
    from zoo.compose.plugins import get_registry
    from zoo.judging.leaderboard import default_metric
    from zoo.targets import TARGETS

    return {target: default_metric(get_registry(), target) or "" for target in TARGETS}


def test_the_target_option_shows_one_targets_runs(zoo, tmp_path: Path) -> None:
    leaderboard.append(tmp_path / "leaderboard.jsonl", [row("a"), row("b", target="percent")])
    only = json.loads(zoo("leaderboard", "--runs-dir", str(tmp_path), "--target", "percent", "--format", "json").out)
    assert [(group["target"], [r["run_id"] for r in group["rows"]]) for group in only] == [("percent", ["b"])]
    none = zoo("leaderboard", "--runs-dir", str(tmp_path), "--target", "svdh_jsn")
    assert none.code == 0 and "and target svdh_jsn" in none.err
    bad = zoo("leaderboard", "--runs-dir", str(tmp_path), "--target", "jsn")
    assert bad.code == 2 and "--target" in bad.err and "svdh_jsn" in bad.err
