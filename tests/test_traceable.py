"""Numbers a user can trace (#31): the leaderboard names the model, the image size and the data
as the recipe named it."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write
from test_training import TINY, only_run

from zoo.judging.leaderboard import backbone_label


def test_a_generic_backbone_is_named_by_the_model_it_builds() -> None:
    assert backbone_label("timm", {"model": "convnext_tiny", "pretrained": False}) == "timm:convnext_tiny"
    assert backbone_label("thesis_vgg", {"filters": [8, 8]}) == "thesis_vgg"


def test_data_named_in_the_recipe_is_found_and_shown_by_that_name(zoo, tmp_path: Path) -> None:
    text = TINY.replace("EPOCHS", "1").replace("data:\n", "data:\n  name: my-hands\n", 1)
    result = zoo("run", str(write(tmp_path / "r.yaml", text)), "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 0, result.err[-1500:]
    rows = [json.loads(line) for line in (tmp_path / "runs" / "leaderboard.jsonl").read_text().splitlines()]
    assert {row["dataset_name"] for row in rows} == {"my-hands"}
    board = zoo("leaderboard", "--runs-dir", str(tmp_path / "runs"), "--dataset", "my-hands", "--columns", "run,image_size,n")
    assert board.code == 0 and only_run(tmp_path / "runs").name in board.out
    assert "dataset my-hands (phantom, data " in board.out
    assert "px" in board.out.splitlines()[2], "the image size is a column"
    none = zoo("leaderboard", "--runs-dir", str(tmp_path / "runs"), "--dataset", "other-hands")
    assert "No runs to show" in none.err
