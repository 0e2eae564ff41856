"""Make the figures of docs/data.md: phantom crops per Ratingen stage beside real crops, and the
histogram of the phantom's labels.

Usage: .venv/bin/python docs/figures/make_data_figures.py
Writes docs/figures/phantom-vs-real.png and docs/figures/phantom-labels.png and prints the
phantom's summary. Real crops come from ../shared/data/real/rsna-finger-crops when present.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image
from zoo_plugins.phantom.generator import describe, write_phantom

from zoo.clinical import ratingen_stages

HERE = Path(__file__).resolve().parent
REAL = HERE.parents[2] / "shared" / "data" / "real" / "rsna-finger-crops"
PER_ROW = 8


def main() -> None:
    """Write the phantom, then both figures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "phantom"
        info = write_phantom(folder, patients=1000, visits=3, size=128, seed=0)
        print(describe(info))
        truth = pd.read_csv(folder / "ground_truth.csv", dtype={"sop_iuid": str}).dropna(subset=["reader_percent"])
        truth["stage"] = ratingen_stages(truth["reader_percent"].to_numpy())
        real = sorted(REAL.glob("*.png"))[:: max(1, len(list(REAL.glob("*.png"))) // PER_ROW)][:PER_ROW]
        rows = 6 + (1 if real else 0)
        fig, axes = plt.subplots(rows, PER_ROW, figsize=(PER_ROW * 1.3, rows * 1.4))
        rng = np.random.default_rng(1)
        for stage in range(6):
            chosen = truth[truth["stage"] == stage]
            chosen = chosen.iloc[rng.choice(len(chosen), PER_ROW, replace=False)]
            for ax, row in zip(axes[stage], chosen.itertuples(), strict=True):
                ax.imshow(
                    Image.open(folder / "images" / f"{row.sop_iuid}_{row.joint}.jpg"),
                    cmap="gray",
                    vmin=0,
                    vmax=255,
                )
                ax.set_title(f"{row.joint} {row.reader_percent:.0f} %", fontsize=7)
            axes[stage][0].set_ylabel(f"phantom\nstage {stage}", fontsize=8)
        for ax, path in zip(axes[-1], real, strict=False):
            ax.imshow(Image.open(path).convert("L"), cmap="gray", vmin=0, vmax=255)
            ax.set_title(path.stem.split("_")[-1], fontsize=7)
        if real:
            axes[-1][0].set_ylabel("real\n(healthy)", fontsize=8)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(HERE / "phantom-vs-real.png", dpi=90)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(truth["reader_percent"], bins=np.arange(0, 105, 5), color="#4a7", edgecolor="black")
        ax.set_yscale("log")
        ax.set_xlabel("reader's eroded percentage (5 % bins)")
        ax.set_ylabel("joints (log scale)")
        ax.set_title(f"phantom labels: {len(truth)} scored joints, seed 0")
        fig.tight_layout()
        fig.savefig(HERE / "phantom-labels.png", dpi=90)
        plt.close(fig)


if __name__ == "__main__":
    main()
