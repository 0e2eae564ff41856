"""`build_once`'s file lock (filelock, on the sibling `.<name>.lock`): a folder is built once."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from zoo.paths import build_once


def _build(args: tuple[str, str]) -> str:
    target, log = args

    def builder(tmp: Path) -> None:
        with open(log, "a") as handle:
            handle.write("built\n")
        time.sleep(0.3)  # long enough for every other caller to arrive and wait
        (tmp / "done").write_text("ok")

    return str(build_once(Path(target), builder))


def test_concurrent_processes_build_a_folder_once(tmp_path: Path) -> None:
    target, log = tmp_path / "thing", tmp_path / "log"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        results = pool.map(_build, [(str(target), str(log))] * 3)
    assert results == [str(target)] * 3
    assert log.read_text() == "built\n"
    assert (target / "done").read_text() == "ok"
    assert (tmp_path / ".thing.lock").is_file(), "the lock is the sibling file `.<name>.lock`"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing.lock", "log", "thing"], "no temporary folder left"


def test_concurrent_threads_build_a_folder_once(tmp_path: Path) -> None:
    target, log = tmp_path / "thing", tmp_path / "log"
    threads = [threading.Thread(target=_build, args=((str(target), str(log)),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.read_text() == "built\n"


def test_a_rejected_folder_is_rebuilt_and_the_lock_file_survives_the_cleanup(tmp_path: Path) -> None:
    target, log = tmp_path / "thing", tmp_path / "log"
    _build((str(target), str(log)))
    (target / "done").unlink()  # damaged since
    build_once(target, lambda tmp: (tmp / "done").write_text("again"), usable=lambda folder: (folder / "done").is_file())
    assert (target / "done").read_text() == "again"
    assert (tmp_path / ".thing.lock").is_file()
