"""How long `zoo --help`, `zoo list` and `zoo validate` take, against plain Python and against
importing the libraries the CLI is made of, in the same run.

Usage: python benchmarks/cli_startup.py [--repeat N] [--quick]
Prints a markdown table for docs/benchmarks.md. The cases run interleaved (each round runs every
case once), so that the machine's noise hits them alike; each row is the median of the rounds.
`--quick` (a smoke test, not a measurement) runs one round without the warm-up. The target: `zoo
--help` within 2x the time of importing typer, rich, pydantic, pluggy and yaml (the "x libraries"
column); `import torch` is timed beside them to show what the lazy factories save.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ZOO = [sys.executable, "-m", "zoo"]
LIBRARIES = "python -c 'import typer, rich, pydantic, pluggy, yaml' (the libraries)"
CASES = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    LIBRARIES: [sys.executable, "-c", "import typer, rich, pydantic, pluggy, yaml"],
    "zoo --help": [*ZOO, "--help"],
    "zoo list": [*ZOO, "list"],
    "zoo validate recipes/quickstart.yaml": [*ZOO, "validate", "recipes/quickstart.yaml"],
    "python -c 'import torch' (for contrast)": [sys.executable, "-c", "import torch"],
}


def wall_time(command: list[str]) -> float:
    """Seconds one run of a command takes."""
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    """Time each case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="each command once, no warm-up: a smoke test")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    if not args.quick:
        for command in CASES.values():  # warm the file cache
            wall_time(command)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(repeat):
        for name, command in CASES.items():
            times[name].append(wall_time(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["python -c pass (baseline)"]
    libraries = medians[LIBRARIES]
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, repeat {repeat}"
    )
    print("| command | median wall time (s) | x bare python | x libraries |")
    print("|---|---|---|---|")
    for name, seconds in medians.items():
        print(f"| `{name}` | {seconds:.3f} | {seconds / baseline:.1f} | {seconds / libraries:.2f} |")


if __name__ == "__main__":
    main()
