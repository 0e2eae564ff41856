"""How far the phantom is from real healthy finger-joint crops: `zoo data realism` on the shared
real radiographs, printed as the table of docs/data.md, with the matched-crops figure.

The real crops are the 30 of `rsna-finger-crops` and the 120 finger-joint crops that
`zoo data crop` cuts from the 12 radiographs of `rsna-hands` (72 px, as the first set; its wrist
points go to wrists.csv and are left out). Four of those radiographs are copies of four
others, so the report measures 110 distinct crops and lists the 40 copies. `--run RUN` adds
the scores of a trained run (the quickstart's, for instance). The figure is written to
docs/figures/phantom-matched-real.png (with the default seed only). `--seed` writes another
phantom and trains with other seeds: how much a measure moves with the phantom's draw.
`--quick` (a smoke test) measures the 30 crops of `rsna-finger-crops` only, on 20 patients.

Usage: python benchmarks/realism.py [--run RUN ...] [--patients 600] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import arguments, machine

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real"
FIGURE = ROOT / "docs" / "figures" / "phantom-matched-real.png"


def zoo(*args: str) -> str:
    """Run `python -m zoo ARGS` and return its stdout (stops the benchmark on failure)."""
    done = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"zoo {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    """Cut the hands' crops, measure, print the table, keep the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], help="a trained run to score the real crops too")
    parser.add_argument("--patients", type=int, default=600, help="phantom patients (10 crops each)")
    parser.add_argument("--size", type=int, default=64, help="crop size of the measures")
    parser.add_argument("--seed", type=int, default=0, help="the phantom's and the trainings' seed")
    args = arguments(parser, patients=20, size=32)
    print(machine())
    if not REAL.is_dir():
        print(f"\n| measure | value |\n|---|---|\n| skipped | the real radiographs are absent ({REAL}) |")
        return
    with tempfile.TemporaryDirectory() as tmp:
        real = ["--real", str(REAL / "rsna-finger-crops")]
        if not args.quick:
            hands = Path(tmp) / "hands"
            joints = REAL / "rsna-hands" / "joints.csv"
            zoo("data", "crop", "--images", str(REAL / "rsna-hands"), "--joints", str(joints),
                "--out", str(hands), "--size", "72", "--format", "json")  # fmt: skip
            real += ["--real", str(hands)]
        out = Path(tmp) / "report"
        runs = [option for run in args.run for option in ("--run", run)]
        print(zoo("data", "realism", *real, *runs,
                  "--patients", str(args.patients), "--size", str(args.size), "--seed", str(args.seed),
                  "--out", str(out),
                  "--format", "markdown"))  # fmt: skip
        report = json.loads((out / "report.json").read_text())
        if not args.quick and args.seed == 0:
            shutil.copyfile(out / "phantom-matched-real.png", FIGURE)
            print(f"figure: {FIGURE.relative_to(ROOT)}")
    shares = [one["stage0_share"] for one in report["transfer"]["small_cnn"]["trainings"]]
    print(f"small CNN, real crops in stage 0, each training: {', '.join(f'{100 * s:.1f} %' for s in shares)}")


if __name__ == "__main__":
    main()
