"""Decoding any image file to the model's grayscale square, and the decoded cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.data import cache
from zoo.images import UnreadableImage, load_gray, load_prepared, prepare


def save(path: Path, array: np.ndarray, mode: str | None = None, **options: object) -> Path:
    Image.fromarray(array, mode=mode).save(path, **options)
    return path


def test_modes_and_formats_become_8_bit_gray(tmp_path: Path) -> None:
    gradient = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))
    files = {
        "gray16.png": save(tmp_path / "gray16.png", gradient),
        "rgb.jpg": save(tmp_path / "rgb.jpg", np.dstack([np.full((64, 64), 200, np.uint8)] * 3)),
        "rgba.png": save(
            tmp_path / "rgba.png",
            np.dstack([np.full((64, 64), 100, np.uint8)] * 3 + [np.full((64, 64), 255, np.uint8)]),
        ),
        "gray.bmp": save(tmp_path / "gray.bmp", np.full((64, 64), 50, np.uint8)),
    }
    sixteen = load_gray(files["gray16.png"])
    assert sixteen.mode == "L"
    values = np.asarray(sixteen)
    assert values.min() == 0 and values.max() == 255, "16-bit is stretched from its own range"
    assert np.asarray(load_gray(files["rgb.jpg"])).mean() == pytest.approx(200, abs=2)
    assert np.asarray(load_gray(files["rgba.png"])).mean() == pytest.approx(100, abs=1)
    assert np.asarray(load_gray(files["gray.bmp"])).mean() == 50


def test_non_square_is_padded_then_resized(tmp_path: Path) -> None:
    wide = save(tmp_path / "wide.png", np.full((50, 100), 255, np.uint8))
    out = load_prepared(wide, 40)
    assert out.shape == (40, 40) and out.dtype == np.uint8
    assert out[0].max() == 0 and out[-1].max() == 0, "black bars above and below"
    assert out[20].min() == 255


def test_equalize_modes() -> None:
    flat = Image.fromarray(np.linspace(100, 150, 64 * 64).reshape(64, 64).astype(np.uint8))
    linear = prepare(flat, 64, "linear")
    assert linear.min() == 0 and linear.max() == 255
    assert prepare(flat, 64, "none").max() == 150
    assert prepare(flat, 64, "histogram").max() == 255


def test_unreadable_files_say_why(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImage, match="missing file"):
        load_gray(tmp_path / "nope.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(UnreadableImage, match="not a readable image"):
        load_gray(tmp_path / "text.png")
    whole = save(
        tmp_path / "whole.jpg",
        np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8),
        quality=90,
    )
    (tmp_path / "cut.jpg").write_bytes(whole.read_bytes()[:400])
    with pytest.raises(UnreadableImage, match="truncated"):
        load_gray(tmp_path / "cut.jpg")


def test_cache_decodes_once_and_follows_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(save(tmp_path / f"{i}.png", np.full((30, 30), i * 10, np.uint8))) for i in range(5)]
    paths.append(str(tmp_path / "missing.png"))
    first = cache.decode(paths, 16)
    assert first.pixels.shape == (6, 16, 16)
    assert [int(first.pixels[i].mean()) for i in range(5)] == [0, 10, 20, 30, 40]
    assert first.errors == {5: "missing file"}

    def fail(job: object) -> dict[int, str]:
        raise AssertionError("the warm cache must not decode again")

    monkeypatch.setattr(cache, "_decode_chunk", fail)
    second = cache.decode(paths, 16)
    assert second.folder == first.folder
    assert np.array_equal(np.asarray(second.pixels), np.asarray(first.pixels))
    monkeypatch.undo()
    save(Path(paths[0]), np.full((30, 30), 99, np.uint8))  # same name, new content
    third = cache.decode(paths, 16)
    assert third.folder != first.folder and int(third.pixels[0].mean()) == 99
    assert cache.decode(paths, 24).folder != first.folder, "another size is another cache"


def test_a_damaged_decode_cache_is_decoded_again(tmp_path: Path) -> None:
    from zoo.data.cache import decode

    paths = []
    for i in range(3):
        path = tmp_path / f"i{i}.png"
        Image.fromarray(np.full((20, 20), 40 * i, np.uint8)).save(path)
        paths.append(str(path))
    first = decode(paths, 16)
    expected = np.array(first.pixels)
    (first.folder / "pixels.u8").write_bytes(b"short")
    again = decode(paths, 16)
    assert np.array_equal(np.array(again.pixels), expected)
    (again.folder / "meta.json").write_text("{broken")
    assert np.array_equal(np.array(decode(paths, 16).pixels), expected)


def test_a_killed_build_leaves_nothing_for_the_next_one(tmp_path: Path) -> None:
    from zoo.paths import build_once

    stale = tmp_path / ".thing.abc123"
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"x")
    build_once(tmp_path / "thing", lambda tmp: (tmp / "done").write_text("ok"))
    assert (tmp_path / "thing" / "done").is_file() and not stale.exists()
