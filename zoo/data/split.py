"""Patient-grouped, seeded, stratified train/val/test splits.

Every sample of a patient lands in the same split. Patients are stratified by their most severe
class, shuffled with the seed, and dealt out along the fractions with a random offset per
stratum, so even small strata are spread as evenly as their size allows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


def split_patients(
    patients: pd.Series,
    classes: np.ndarray,
    fractions: dict[str, float],
    seed: int,
    stratify: bool = True,
) -> np.ndarray:
    """Return the split name of every sample."""
    frame = pd.DataFrame({"patient": patients.astype(str).to_numpy(), "cls": classes})
    severity = frame.groupby("patient", sort=True)["cls"].max()
    strata = severity if stratify else severity * 0
    rng = np.random.default_rng([seed, 7])
    edges = np.cumsum([fractions[name] for name in SPLITS])
    assignment: dict[str, str] = {}
    for _, members in strata.groupby(strata, sort=True):
        names = members.index.to_numpy().copy()
        rng.shuffle(names)
        positions = (np.arange(len(names)) + rng.random()) / len(names)
        chosen = np.searchsorted(edges, positions % 1.0, side="right")
        for name, index in zip(names, chosen, strict=True):
            assignment[name] = SPLITS[min(index, len(SPLITS) - 1)]
    return frame["patient"].map(assignment).to_numpy()
