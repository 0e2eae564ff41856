"""Shared fixtures: run the CLI in-process or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from zoo.cli import run_cli
from zoo.compose.plugins import reset_plugins

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
REAL_DATA = SHARED / "data" / "real"


@dataclass
class Result:
    """Exit code and output of one CLI call."""

    code: int
    out: str
    err: str


@pytest.fixture(scope="session", autouse=True)
def _test_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cache folder for the whole session (subprocesses inherit it), never the user's."""
    folder = tmp_path_factory.mktemp("zoo-cache")
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


def write(path: Path, text: str) -> Path:
    """Write a text file, creating folders; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
