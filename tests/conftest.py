"""Shared fixtures: run the CLI in-process or as a real subprocess, and trained runs that several
tests read (trained once per session, shared by the xdist workers)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from zoo.cli import run_cli
from zoo.compose.plugins import reset_plugins

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REAL_DATA = SHARED / "data" / "real"


def pytest_configure(config: pytest.Config) -> None:
    """Give each xdist worker (and the subprocesses it starts) its share of the cores.

    torch's default, one thread per core in every worker, oversubscribes the cores, and tiny CPU
    models then run many times slower. The workers inherit this process's environment; a thread
    count set by the caller wins.
    """
    try:
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or getattr(config.option, "numprocesses", 0) or 1)
    except ValueError:  # `-n auto` before xdist has counted the cores
        workers = os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(workers, 1))))


@dataclass
class Result:
    """Exit code and output of one CLI call."""

    code: int
    out: str
    err: str


def session_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary folder that every xdist worker sees (each worker's own lies inside)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def _test_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache folder for the whole session (subprocesses and xdist workers share it, as the zoo's
    file locks allow), never the user's."""
    folder = session_folder(tmp_path_factory) / "zoo-cache"
    folder.mkdir(exist_ok=True)
    previous = os.environ.get("ZOO_CACHE_DIR")
    os.environ["ZOO_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        del os.environ["ZOO_CACHE_DIR"]
    else:
        os.environ["ZOO_CACHE_DIR"] = previous


def needs_real_data(*parts: str) -> Path:
    """The path under ../shared/data/real, or skip the test when it is absent."""
    path = REAL_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real radiographs not available here ({path} is absent)")
    return path


@pytest.fixture(autouse=True)
def _fresh_plugins() -> Iterator[None]:
    """Every test starts from the plugins of its own environment."""
    reset_plugins()
    yield
    reset_plugins()


def zoo_in_process(*args: str) -> Result:
    """Run `zoo ARGS...` in this process, outside any fixture's capture; return its exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_cli(list(args))
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def zoo(capsys: pytest.CaptureFixture[str]):
    """Run `zoo ARGS...` in this process; return its exit code and output."""

    def call(*args: str) -> Result:
        code = run_cli(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call


def run_zoo(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Run `python -m zoo ARGS...` as a subprocess (a fresh interpreter, real entry points)."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "zoo", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=300,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def phantom_crops(count: int) -> list[Path]:
    """The first `count` crops of a phantom dataset in the session's cache that has that many."""
    from zoo.paths import cache_root

    for images in sorted((cache_root() / "phantom").glob("phantom-*/images")):
        crops = sorted(images.glob("*.jpg"))
        if len(crops) >= count:
            return crops[:count]
    raise AssertionError(f"no cached phantom dataset has {count} crops")


def folder_digest(folder: Path) -> str:
    """One hash of every file's name and bytes under a folder: equal digests, equal files."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def write(path: Path, text: str) -> Path:
    """Write a text file, creating folders; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """Folder `name`, filled by `build(folder)` once per session: the first xdist worker to ask builds
    it, under a file lock, and the others wait for it and read it."""
    root = session_folder(tmp_path_factory)
    folder = root / name
    with FileLock(str(root / f".{name}.lock")):
        if not (folder / ".built").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


TINY_CDF = """\
name: tiny_cdf
data:
  dataset: {name: phantom, params: {patients: 40, visits: 2, size: 48}}
  target: percent
  image_size: 64
model:
  backbone: {name: thesis_vgg, params: {filters: [8, 8, 16, 16, 32, 32]}}
  head: {name: cdf, params: {hidden: [32]}}
loss: crps
train: {batch_size: 32, stages: [{epochs: 1}]}
eval: {bootstrap: 10}
"""


@dataclass
class TrainedRun:
    """A finished run and what `zoo run --format json` printed for it."""

    folder: Path
    result: Result


@pytest.fixture(scope="session")
def tiny_cdf_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """A tiny trained CDF model, trained once for the session; tests only read it (or copy it)."""

    def train(folder: Path) -> None:
        result = zoo_in_process(
            "run", str(write(folder / "r.yaml", TINY_CDF)), "--runs-dir", str(folder / "runs"), "--format", "json"
        )
        (folder / "result.json").write_text(json.dumps(result.__dict__))

    folder = built_once(tmp_path_factory, "tiny-cdf", train)
    result = Result(**json.loads((folder / "result.json").read_text()))
    assert result.code == 0, result.err
    run = next(p for p in (folder / "runs").iterdir() if p.is_dir())
    return TrainedRun(run, result)
