"""Every registered backbone, head, loss and imbalance strategy follows its protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from zoo.compose.plugins import get_registry
from zoo.errors import UsageError

PRETRAINED_FREE = {"pretrained": False}
SIZE = {"inception_v3": 80}


def backbones() -> list[str]:
    return [s.name for s in get_registry().components("backbones") if s.name != "timm"]


@pytest.mark.parametrize("name", backbones())
def test_backbone_maps_grayscale_batch_to_features(name: str) -> None:
    spec = get_registry().get("backbones", name)
    net = spec.build({}, in_chans=1).eval()
    size = SIZE.get(name, 64)
    with torch.no_grad():
        features = net(torch.rand(2, 1, size, size))
    if "feature_map" in spec.provides:  # a map for heads that locate points: stride 4 here
        assert features.shape == (2, net.num_features, size // 4, size // 4)
    else:
        assert features.shape == (2, net.num_features)
    assert isinstance(net.num_features, int) and net.num_features > 0


def test_thesis_vgg_is_the_thesis_architecture() -> None:
    net = get_registry().get("backbones", "thesis_vgg").build({}, in_chans=1)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 32, 32, 64, 64, 64, 64, 128, 128, 128, 128]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    kinds = [type(m).__name__ for m in net.features]
    assert kinds[:7] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert kinds.count("MaxPool2d") == 6
    assert net.num_features == 128 * 2 * 2
    assert net(torch.rand(1, 1, 150, 150)).shape == (1, 512), "the thesis's 150 px"


def test_timm_by_name_and_unknown_names() -> None:
    spec = get_registry().get("backbones", "timm")
    net = spec.build({"model": "resnet10t"}, in_chans=1)
    assert net(torch.rand(1, 1, 64, 64)).shape == (1, net.num_features)
    with pytest.raises(UsageError, match="timm has no model 'resnet181'; did you mean"):
        spec.build({"model": "resnet181"}, in_chans=1)


def test_pretrained_weights_load_offline_from_safetensors(tmp_path: Path) -> None:
    source = timm.create_model("resnet18", pretrained=False)
    weights = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(weights))
    net = get_registry().get("backbones", "resnet18").build({"pretrained": str(weights)}, in_chans=1)
    assert torch.equal(net.model.conv1.weight, source.conv1.weight)
    assert net.model.conv1.in_channels == 3 and net.repeat, "gray crops are repeated to 3 channels"
    assert torch.allclose(net.mean.flatten(), torch.tensor([0.485, 0.456, 0.406])), "ImageNet normalisation"
    assert net(torch.rand(2, 1, 64, 64)).shape == (2, 512)


def test_inception_pretrained_uses_minus_one_to_one(tmp_path: Path) -> None:
    source = timm.create_model("inception_v3", pretrained=False)
    weights = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(weights))
    net = get_registry().get("backbones", "inception_v3").build({"pretrained": str(weights)}, in_chans=1)
    x = torch.tensor([0.0, 1.0]).view(1, 1, 2, 1).expand(1, 3, 2, 1)
    assert torch.allclose((x - net.mean) / net.std, torch.tensor([-1.0, 1.0]).view(1, 1, 2, 1).expand(1, 3, 2, 1))


def test_bad_pretrained_files_are_clear_errors(tmp_path: Path) -> None:
    spec = get_registry().get("backbones", "resnet18")
    with pytest.raises(UsageError, match="does not exist"):
        spec.build({"pretrained": str(tmp_path / "none.safetensors")}, in_chans=1)
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(UsageError, match="not a readable safetensors file"):
        spec.build({"pretrained": str(tmp_path / "junk.safetensors")}, in_chans=1)
    other = timm.create_model("resnet34", pretrained=False)
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(tmp_path / "r34.safetensors"))
    with pytest.raises(UsageError, match="does not fit timm model 'resnet18'"):
        spec.build({"pretrained": str(tmp_path / "r34.safetensors")}, in_chans=1)
    with pytest.raises(Exception, match=r"path of a \.safetensors file"):
        spec.build({"pretrained": "weights.pt"}, in_chans=1)


@pytest.mark.parametrize(
    ("name", "target", "width"),
    [("softmax", "stage", 6), ("softmax", "binary", 2), ("cdf", "percent", 101), ("coral", "stage", 5)],
)
def test_heads_outputs_and_predictions(name: str, target: str, width: int) -> None:
    head = get_registry().get("heads", name).build({}, in_features=16, target=target).eval()
    outputs = head(torch.rand(4, 16))
    assert outputs.shape == (4, width)
    predicted = head.predict(outputs)
    assert predicted["pred"].shape == (4,)
    probs = predicted["probs"]
    assert torch.allclose(probs.sum(dim=1), torch.ones(4), atol=1e-5)
    assert head.embed(torch.rand(4, 16)).shape[0] == 4


def test_cdf_predictions_from_a_point_mass_and_repair() -> None:
    from zoo_plugins.heads.cdf import summarise_cdf

    point = (torch.arange(101) >= 30).float().unsqueeze(0)
    out = summarise_cdf(point)
    assert out["pred"].item() == pytest.approx(30.0)
    assert (out["median"].item(), out["lower"].item(), out["upper"].item()) == (30.0, 30.0, 30.0)
    assert out["probs"][0].tolist() == [0, 0, 1, 0, 0, 0] and out["stage"].item() == 2
    wobbly = torch.linspace(0, 1, 101).unsqueeze(0).clone()
    wobbly[0, 50] = 0.1  # not monotone
    repaired = summarise_cdf(wobbly)["cdf"][0]
    assert (repaired[1:] >= repaired[:-1]).all() and repaired[-1] == 1.0
    enforce = get_registry().get("heads", "cdf").build({"monotone": "enforce"}, in_features=8, target="percent").eval()
    cdf = enforce(torch.randn(5, 8))
    assert (cdf[:, 1:] >= cdf[:, :-1] - 1e-6).all() and torch.allclose(cdf[:, -1], torch.ones(5))


def loss(name: str, target: str, **params: object):
    return get_registry().get("losses", name).build(params, target=target)


def test_cross_entropy_and_weights() -> None:
    logits, targets = torch.randn(6, 6), torch.tensor([0.0, 1, 2, 3, 4, 5])
    assert loss("cross_entropy", "stage")(logits, targets).item() == pytest.approx(
        F.cross_entropy(logits, targets.long()).item()
    )
    weights = torch.tensor([1.0, 0, 0, 0, 0, 0])
    only_first = F.cross_entropy(logits[:1], targets[:1].long()).item()
    assert loss("cross_entropy", "stage")(logits, targets, weights).item() == pytest.approx(only_first)
    assert loss("focal", "stage", gamma=0.0)(logits, targets).item() == pytest.approx(
        F.cross_entropy(logits, targets.long()).item()
    )


def test_crps_hand_computed() -> None:
    # Predicting a point mass at 10 when the truth is 20: the CDFs differ at k = 10..19 -> 10/101.
    prediction = (torch.arange(101) >= 10).float().unsqueeze(0)
    assert loss("crps", "percent")(prediction, torch.tensor([20.0])).item() == pytest.approx(10 / 101)
    assert loss("crps", "percent")(prediction, torch.tensor([10.0])).item() == 0.0
    uniform = torch.full((1, 101), 0.5)
    assert loss("crps", "percent")(uniform, torch.tensor([0.0])).item() == pytest.approx(0.25)


def test_coral_loss_is_zero_for_confident_right_answers() -> None:
    logits = torch.tensor([[9.0, 9.0, -9.0, -9.0, -9.0]])  # stage 2
    assert loss("coral", "stage")(logits, torch.tensor([2.0])).item() < 1e-3
    assert loss("coral", "stage")(logits, torch.tensor([5.0])).item() > 10


def strategy(name: str, **params: object):
    return get_registry().get("imbalance", name).build(params)


def test_class_weights_make_weight_times_count_equal() -> None:
    classes = np.array([0] * 70 + [1] * 25 + [2] * 5)
    weights = strategy("class_weights").class_weights(classes, 6)
    counts = np.bincount(classes, minlength=6)
    products = weights[:3] * counts[:3]
    assert np.allclose(products, products[0]) and weights[3:].tolist() == [0, 0, 0]
    assert strategy("none").class_weights(classes, 6) is None and strategy("none").sampler(classes, 0) is None


def test_oversampling_draws_classes_equally_and_marks_copies() -> None:
    classes = np.array([0] * 70 + [1] * 25 + [2] * 5)
    sampler = strategy("oversample").sampler(classes, seed=0)
    draw = sampler.draw(epoch=0)
    order = draw.indices
    assert len(order) == len(sampler) == 210 and draw.copies.shape == order.shape
    assert sorted(order[~draw.copies].tolist()) == list(range(100)), "every sample once"
    assert np.bincount(classes[order]).tolist() == [70, 70, 70]
    assert draw.copies.sum() == 110, "the repeats are marked for augmentation"
    assert not np.array_equal(order, sampler.draw(epoch=1).indices)
    again = sampler.draw(epoch=0)
    assert np.array_equal(order, again.indices) and np.array_equal(draw.copies, again.copies), "seeded per epoch"
    plain = strategy("oversample", augment=False).sampler(classes, seed=0).draw(0)
    assert np.array_equal(plain.indices, order) and not plain.copies.any(), "same draw, nothing to augment"


def test_oversampling_ratio_raises_small_classes_to_a_share_of_the_largest() -> None:
    classes = np.array([0] * 80 + [1] * 30 + [2] * 5)
    sampler = strategy("oversample", ratio=0.25).sampler(classes, seed=0)
    drawn = classes[sampler.draw(epoch=0).indices]
    assert np.bincount(drawn).tolist() == [80, 30, 20], "30 is above 0.25 x 80 and stays; 5 goes up to 20"
    assert len(sampler) == 130


def test_class_balanced_draws_each_class_per_class_times() -> None:
    classes = np.array([0] * 80 + [1] * 30 + [2] * 5)
    sampler = strategy("class_balanced", per_class=20).sampler(classes, seed=0)
    draw = sampler.draw(epoch=0)
    order = draw.indices
    assert len(order) == len(sampler) == 60
    assert np.bincount(classes[order]).tolist() == [20, 20, 20]
    big = classes[order] == 0
    assert len(set(order[big].tolist())) == 20 and not draw.copies[big].any(), "a subset of the large class, no repeats"
    small = classes[order] == 2
    assert set(order[small & ~draw.copies].tolist()) == set(range(110, 115)), "every small-class sample once"
    assert (small & draw.copies).sum() == 15, "repeats are marked for augmentation"
    assert not np.array_equal(order, sampler.draw(epoch=1).indices), "a fresh subset every epoch"
    assert np.array_equal(order, sampler.draw(epoch=0).indices)


def test_oversampling_ratio_has_no_float_surprises() -> None:
    classes = np.array([0] * 100 + [1] * 3)
    drawn = classes[strategy("oversample", ratio=0.07).sampler(classes, seed=0).draw(0).indices]
    assert np.bincount(drawn).tolist() == [100, 7], "0.07 x 100 is 7"
