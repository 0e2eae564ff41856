"""Every benchmark script runs, with `--quick`, and prints its table: benchmarks that cannot rot.

The scripts are found by glob, so a new one is covered without editing this file. They run as
`make bench` runs them (from the repository root), on the smallest sizes; the numbers are not
checked, only that every code path still works.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REAL_DATA, ROOT

SCRIPTS = sorted(path for path in (ROOT / "benchmarks").glob("*.py") if path.name != "common.py")


def test_benchmarks_are_found() -> None:
    assert {"cli_startup", "loader_speed", "train_throughput"} <= {path.stem for path in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_benchmark_runs_quick(script: Path) -> None:
    if "REAL_DATA" in script.read_text() and not REAL_DATA.is_dir():
        pytest.skip(f"{script.name} measures on the real radiographs, absent here ({REAL_DATA})")
    done = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert len(table) >= 3, done.stdout  # header, separator, at least one row
    assert set(table[1]) <= set("|-:"), done.stdout  # a markdown separator, alignment colons allowed
    columns = table[0].count("|")
    assert all(line.count("|") == columns for line in table), done.stdout
