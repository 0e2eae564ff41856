"""The phantom: a synthetic SCQM export of finger-joint crops with known erosion.

`write_phantom(out, ...)` draws the population (`population`), renders every crop
(`render`) in parallel and writes the thesis's format:

    scores.csv         the main CSV: a reader's erosion scores (percent) and joint-space narrowing
                       grades (SvdH 0-4, `jsn_hand_left_<joint>`) per joint, Rau score per visit
    activity.csv       the secondary CSV: disease activity and DAS28 for 75 % of the visits
    ground_truth.csv   the true percentages and JSN grades (what the reader's scores are noisy
                       readings of), and a second reader's independent scores of every joint
    images/            <sop_iuid>_<joint>.jpg, one crop per joint
    phantom.json       params, counts, stage and JSN distributions, a perfect model's error, the
                       second reader's agreement with the first
    README.md          the same, for people

The `phantom` dataset writes it once into the cache (keyed by its params) and loads it through
the `scqm` loader, so the real loading path is always the one exercised.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from zoo.clinical import ratingen_stages, rau_score
from zoo.paths import build_once, cache_root
from zoo.progress import task

from ..datasets import scqm
from .params import PhantomParams
from .population import JOINTS, JSN_PREFIX, sample_population
from .render import IMAGE_PATTERN, render_chunk

GENERATOR_VERSION = 7  # bump whenever the rendered crops change: it keys the cache
CHUNK = 400


class Summary(TypedDict):
    """Counts, the reader's stage and JSN distributions, and a perfect model's error against the
    reader (the reader ceiling), and the second reader's agreement with the first."""

    crops: int
    scored: int
    stage_share: dict[str, float]
    jsn_share: dict[str, float]
    perfect_model_vs_reader: dict[str, float]
    second_reader_vs_reader: dict[str, float]


class PhantomInfo(TypedDict):
    """phantom.json: how the phantom was made, and what it holds."""

    generator_version: int
    params: dict[str, int]  # patients, visits, size, seed
    visits: int
    summary: Summary


def _summary(truth: pd.DataFrame) -> Summary:
    """Counts, the reader's stage distribution, and a perfect model's error against the reader."""
    scored = truth[truth["reader_percent"].notna()]
    reader = scored["reader_percent"].to_numpy(float)
    true = scored["true_percent"].to_numpy(float)
    reader_stage, true_stage = ratingen_stages(reader), ratingen_stages(true)
    per_class = [float(np.mean(true_stage[reader_stage == c] == c)) for c in range(6) if np.any(reader_stage == c)]
    jsn, true_jsn = scored["reader_jsn"].to_numpy(int), scored["true_jsn"].to_numpy(int)
    twice = scored[scored["reader2_percent"].notna()]
    return {
        "crops": len(truth),
        "scored": len(scored),
        "stage_share": {str(c): round(float(np.mean(reader_stage == c)), 4) for c in range(6)},
        "jsn_share": {str(c): round(float(np.mean(jsn == c)), 4) for c in range(5)},
        "perfect_model_vs_reader": {
            "mse": round(float(np.mean((reader - true) ** 2)), 3),
            "mae": round(float(np.mean(np.abs(reader - true))), 3),
            "stage_accuracy": round(float(np.mean(reader_stage == true_stage)), 4),
            "stage_class_normalised_accuracy": round(float(np.mean(per_class)), 4),
            "jsn_accuracy": round(float(np.mean(jsn == true_jsn)), 4),
            "jsn_quadratic_kappa": round(float(cohen_kappa_score(jsn, true_jsn, weights="quadratic")), 4),
        },
        "second_reader_vs_reader": {
            "stage_quadratic_kappa": round(float(cohen_kappa_score(
                ratingen_stages(twice["reader_percent"].to_numpy(float)),
                ratingen_stages(twice["reader2_percent"].to_numpy(float)), weights="quadratic")), 4),
            "jsn_quadratic_kappa": round(float(cohen_kappa_score(
                twice["reader_jsn"].to_numpy(int), twice["reader2_jsn"].to_numpy(int), weights="quadratic")), 4),
        },
    }  # fmt: skip


def describe(info: PhantomInfo) -> str:
    """A short human description of a written phantom."""
    params, summary = info["params"], info["summary"]
    best = summary["perfect_model_vs_reader"]
    shares = ", ".join(f"{c}: {100 * s:.1f} %" for c, s in summary["stage_share"].items())
    jsn = ", ".join(f"{c}: {100 * s:.1f} %" for c, s in summary["jsn_share"].items())
    return (
        f"phantom: {params['patients']} patients, {info['visits']} visits, "
        f"{summary['crops']} crops of {params['size']} px ({summary['scored']} scored), "
        f"seed {params['seed']}\n"
        f"reader's Ratingen stages: {shares}\n"
        f"reader's JSN grades: {jsn}\n"
        f"best achievable against the reader's scores (a model that knows the true percentage): "
        f"MSE {best['mse']}, MAE {best['mae']}, stage accuracy {best['stage_accuracy']}, "
        f"class-normalised stage accuracy {best['stage_class_normalised_accuracy']}; "
        f"JSN accuracy {best['jsn_accuracy']}, JSN quadratic kappa {best['jsn_quadratic_kappa']}"
    )


def write_phantom(
    out: Path, patients: int, visits: int, size: int, seed: int, workers: int | None = None
) -> PhantomInfo:
    """Write a phantom dataset into folder `out` (created); return its description."""
    population = sample_population(seed, patients, visits)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    crops = [
        (
            i,
            str(j["sop_iuid"]),
            str(j["joint"]),
            float(j["true_percent"]),
            float(j["activity"]),
            float(j["bone_scale"]),
            int(j["true_jsn"]),
        )
        for i, j in enumerate(population.joints)
    ]
    jobs = [(seed, size, crops[start : start + CHUNK], str(images)) for start in range(0, len(crops), CHUNK)]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 1 else None
    with task("rendering phantom crops", len(crops)) as step, pool or nullcontext():
        rendered = pool.map(render_chunk, jobs) if pool is not None else map(render_chunk, jobs)
        for start, _ in zip(range(0, len(crops), CHUNK), rendered, strict=True):
            step.advance(min(CHUNK, len(crops) - start))

    main = pd.DataFrame(
        [
            {k: v for k, v in visit.items() if k not in ("activity", "bone_scale", "measures")}
            for visit in population.visits
        ]
    )
    score_columns = [f"hand_left_{joint}" for joint in JOINTS]
    jsn_columns = [f"{JSN_PREFIX}{joint}" for joint in JOINTS]
    main = main[[c for c in main.columns if c not in score_columns + jsn_columns] + score_columns + jsn_columns]
    main["rau_score"] = [
        round(rau_score(ratingen_stages(row[~np.isnan(row)]).tolist()), 2) if (~np.isnan(row)).any() else math.nan
        for row in main[score_columns].to_numpy(float)
    ]
    main[score_columns + jsn_columns] = main[score_columns + jsn_columns].astype("Int64")  # whole numbers
    main.to_csv(out / "scores.csv", index=False)
    activity = pd.DataFrame([
        {"patient_id": visit["patient_id"], "date": visit["date_x"], **measures}
        for visit in population.visits if isinstance(measures := visit["measures"], dict)
    ])  # fmt: skip
    activity.to_csv(out / "activity.csv", index=False)
    truth = pd.DataFrame(population.joints)
    truth.to_csv(out / "ground_truth.csv", index=False)
    info: PhantomInfo = {
        "generator_version": GENERATOR_VERSION,
        "params": {"patients": patients, "visits": visits, "size": size, "seed": seed},
        "visits": len(main),
        "summary": _summary(truth),
    }
    (out / "phantom.json").write_text(json.dumps(info, indent=2) + "\n")
    (out / "README.md").write_text(
        "# erosion zoo phantom\n\nSynthetic finger-joint crops in the SCQM format "
        "(see the zoo's docs/data.md).\n\n```\n" + describe(info) + "\n```\n"
    )
    return info


def cached_phantom(params: PhantomParams) -> Path:
    """The phantom folder for these params, written into the cache the first time."""
    spec = {
        "patients": params.patients,
        "visits": params.visits,
        "size": params.size,
        "seed": params.seed,
        "generator_version": GENERATOR_VERSION,
    }
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(params.cache_dir) if params.cache_dir else cache_root() / "phantom"
    return build_once(
        root / f"phantom-{key}",
        lambda tmp: write_phantom(tmp, params.patients, params.visits, params.size, params.seed),
    )


def load_phantom(folder: Path) -> pd.DataFrame:
    """Load a written phantom through the `scqm` loader (erosion percent and JSN grade), with the
    true percentage and JSN grade beside, and a second reader's reading of the same images
    (`reader2_<scale>`: what the smallest detectable change is measured from)."""
    table = scqm.load(
        folder / "scores.csv",
        folder / "images",
        folder / "activity.csv",
        list(JOINTS),
        "hand_left_",
        IMAGE_PATTERN,
        JSN_PREFIX,
    )
    truth = pd.read_csv(
        folder / "ground_truth.csv",
        usecols=["sop_iuid", "joint", "true_percent", "true_jsn", "reader2_percent", "reader2_jsn"],
        dtype={"sop_iuid": str},
    ).rename(columns={"true_jsn": "true_svdh_jsn", "reader2_jsn": "reader2_svdh_jsn"})  # named <who>_<scale>
    merged = table.merge(truth, on=["sop_iuid", "joint"], how="left", validate="one_to_one")
    merged.attrs = table.attrs
    return merged


def build(params: PhantomParams) -> pd.DataFrame:
    """The `phantom` dataset factory."""
    return load_phantom(cached_phantom(params))
