"""`zoo schema`: the recipe JSON Schema offers every registered component and checks its params."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_zoo
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, create_model
from referencing import Registry as References
from referencing import Resource

from zoo import hookimpl
from zoo.compose.plugins import get_registry, load_plugins
from zoo.compose.recipe import validate_document
from zoo.compose.registry import Registry
from zoo.compose.schema import recipe_schema
from zoo.compose.yaml_lines import load_yaml
from zoo.errors import ProblemsError
from zoo.paths import RecipePath

RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))
COMMITTED = ROOT / "recipes" / "recipe.schema.json"

GOOD: dict[str, Any] = {
    "name": "good",
    "data": {"dataset": {"name": "phantom", "params": {"patients": 20}}, "target": "stage", "image_size": 64},
    "model": {"backbone": {"name": "resnet18", "params": {"pretrained": False}}, "head": "softmax"},
    "loss": "cross_entropy",
    "imbalance": {"name": "none", "params": None},
}


def errors(schema: dict[str, Any], recipe: Any) -> list[str]:
    """The schema's complaints about a recipe, as messages."""
    return [error.message for error in Draft202012Validator(schema).iter_errors(recipe)]


def changed(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """GOOD with the field at `path` set to `value`."""
    recipe = copy.deepcopy(GOOD)
    node = recipe
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return recipe


def refs(node: Any) -> list[str]:
    """Every `$ref` in a schema."""
    if isinstance(node, dict):
        return [r for key, value in node.items() for r in ([value] if key == "$ref" else refs(value))]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return recipe_schema(get_registry())


def test_the_schema_is_valid_draft_2020_12_and_every_reference_resolves(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["title"]
    resolver = References().resolver_with_root(Resource.from_contents(schema))
    for ref in refs(schema):
        resolver.lookup(ref)
    assert "ComponentRef" not in schema["$defs"], "every component field offers the registered components"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_every_shipped_recipe_validates_and_points_at_the_schema(path: Path, schema: dict[str, Any]) -> None:
    text = path.read_text(encoding="utf-8")
    assert errors(schema, yaml.safe_load(text)) == []
    modeline, _, _ = text.partition("\n")
    assert modeline.startswith("# yaml-language-server: $schema=")
    target = (path.parent / modeline.partition("$schema=")[2]).resolve()
    assert target == COMMITTED, "the modeline is relative to the recipe's folder"


def test_the_good_recipe_validates_with_the_zoo_too(schema: dict[str, Any]) -> None:
    assert errors(schema, GOOD) == []
    validate_document(load_yaml(yaml.safe_dump(GOOD), "r.yaml"), get_registry())


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("model", "backbone"), {"name": "resnt18"}),
        (("model", "backbone"), "resnt18"),
        (("loss",), "crpss"),
        (("imbalance",), {"name": "oversampel"}),
        (("data", "dataset"), "manifest"),  # its csv param is required: a bare name will not do
        (("data", "dataset"), {"name": "phantom", "params": {"patients": "many"}}),
        (("data", "dataset"), {"name": "phantom", "params": {"patiens": 20}}),
        (("model", "backbone"), {"name": "resnet18", "params": {"drop_rate": "high"}}),
        (("model", "backbone"), {"name": "thesis_vgg", "params": {"drop_rate": 0.1}}),  # resnet18's param
        (("model", "head"), {"name": "softmax", "parms": {}}),
        (("eval",), {"metrics": ["acuracy"]}),
    ],
)
def test_a_misspelled_name_or_a_bad_param_fails_like_it_does_in_the_zoo(
    schema: dict[str, Any], path: tuple[str, ...], value: Any
) -> None:
    recipe = changed(path, value)
    assert errors(schema, recipe)
    with pytest.raises(ProblemsError):
        validate_document(load_yaml(yaml.safe_dump(recipe), "r.yaml"), get_registry())


class FolderParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root: RecipePath = Field(description="a folder of crops")
    size: int = 64


class FolderPlugin:
    @hookimpl
    def zoo_register_datasets(self, register: Any) -> None:
        register("folder", "nowhere:build", params=FolderParams, description="crops in a folder")


def test_a_third_party_component_appears_with_its_params() -> None:
    plugins = load_plugins(environ={"ZOO_PLUGINS": "backbones,heads,losses"}, extra=[("folder", FolderPlugin())])
    schema = recipe_schema(plugins.registry)
    assert "folder" in schema["description"]
    params = schema["$defs"][f"{__name__}.FolderParams"]
    assert params["properties"]["root"]["type"] == "string", "a RecipePath is a string"
    with_folder = changed(("data", "dataset"), {"name": "folder", "params": {"root": "crops/"}})
    with_folder["imbalance"] = None
    assert errors(schema, with_folder) == []
    for wrong in ({"name": "folder", "params": {"root": 3}}, {"name": "folder"}, "folder", "phantom"):
        assert errors(schema, {**with_folder, "data": {"dataset": wrong}}), wrong


def test_params_models_of_the_same_name_stay_apart() -> None:
    made = [create_model("Made", __config__=ConfigDict(extra="forbid"), **{field: (int, 1)}) for field in "ab"]

    class Twins:
        @hookimpl
        def zoo_register_losses(self, register: Any) -> None:
            register("loss_a", "nowhere:build", params=made[0])
            register("loss_b", "nowhere:build", params=made[1])

    schema = recipe_schema(
        load_plugins(environ={"ZOO_DISABLE_PLUGIN_AUTOLOAD": "1"}, extra=[("twins", Twins())]).registry
    )
    loss_schema = {"$ref": "#/$defs/component.losses", "$defs": schema["$defs"]}
    for name, field in (("loss_a", "a"), ("loss_b", "b")):
        assert errors(loss_schema, {"name": name, "params": {field: 2}}) == []
    assert errors(loss_schema, {"name": "loss_a", "params": {"b": 2}})


def test_with_no_plugins_no_component_is_valid() -> None:
    schema = recipe_schema(Registry())
    Draft202012Validator.check_schema(schema)
    assert errors(schema, GOOD)


def test_zoo_schema_prints_every_registered_backbone(zoo) -> None:
    result = zoo("schema")
    assert result.code == 0 and result.err == ""
    printed = json.loads(result.out)
    offered = {
        choice["properties"]["name"]["const"]
        for choice in printed["$defs"]["component.backbones"]["oneOf"]
        if choice.get("type") == "object"
    }
    assert offered == {spec.name for spec in get_registry().components("backbones")}
    assert {"thesis_vgg", "resnet18"} <= offered


def test_the_committed_schema_is_the_generated_one(tmp_path: Path) -> None:
    builtins = [record.name for record in load_plugins(environ={}).records if record.builtin]
    out = tmp_path / "deep" / "recipe.schema.json"
    result = run_zoo("schema", "--out", str(out), env={"ZOO_PLUGINS": ",".join(builtins)})
    assert result.code == 0, result.err
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8"), (
        "regenerate it: zoo schema --out recipes/recipe.schema.json"
    )


@pytest.mark.parametrize("where", ["a-file/schema.json", "."])
def test_an_unwritable_out_is_one_error_and_exit_2(zoo, tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    result = zoo("schema", "--out", str(tmp_path / where))
    assert result.code == 2 and result.out == ""
    assert result.err.count("Error:") == 1 and "--out" in result.err


def test_zoo_schema_never_imports_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from zoo.cli import run_cli\n"
        f"assert run_cli(['schema', '--out', {str(tmp_path / 's.json')!r}]) == 0\n"
        "heavy = sorted(m for m in ('torch', 'timm', 'torchvision', 'pandas', 'sklearn') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
