"""Patient-grouped, seeded, stratified splits: no patient is ever in two splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zoo.data.split import split_patients

FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}


def table(seed: int, patients: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, patients, 4000)
    severity = rng.choice(6, patients, p=[0.6, 0.25, 0.05, 0.04, 0.03, 0.03])
    cls = np.minimum(severity[ids], rng.integers(0, 6, len(ids)))
    return pd.DataFrame({"patient_id": [f"p{i}" for i in ids], "cls": cls})


@pytest.mark.parametrize("seed", range(5))
def test_no_patient_in_two_splits(seed: int) -> None:
    samples = table(seed)
    samples["split"] = split_patients(samples["patient_id"], samples["cls"].to_numpy(), FRACTIONS, seed)
    assert (samples.groupby("patient_id")["split"].nunique() == 1).all()
    assert set(samples["split"]) == {"train", "val", "test"}


def test_fractions_are_by_patient_and_seeded() -> None:
    samples = table(0)
    first = split_patients(samples["patient_id"], samples["cls"].to_numpy(), FRACTIONS, seed=1)
    again = split_patients(samples["patient_id"], samples["cls"].to_numpy(), FRACTIONS, seed=1)
    other = split_patients(samples["patient_id"], samples["cls"].to_numpy(), FRACTIONS, seed=2)
    assert (first == again).all() and (first != other).any()
    per_patient = pd.Series(first, index=samples["patient_id"]).groupby(level=0).first().value_counts(normalize=True)
    for name, share in FRACTIONS.items():
        assert per_patient[name] == pytest.approx(share, abs=0.03)


def test_stratified_by_most_severe_class() -> None:
    samples = table(3, patients=600)
    split = split_patients(samples["patient_id"], samples["cls"].to_numpy(), FRACTIONS, seed=0)
    worst = samples.assign(split=split).groupby("patient_id").agg(cls=("cls", "max"), split=("split", "first"))
    for cls, group in worst.groupby("cls"):
        if len(group) >= 20:
            share = (group["split"] == "test").mean()
            assert share == pytest.approx(0.2, abs=0.06), f"class {cls}"
