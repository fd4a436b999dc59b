"""The generated JSON Schemas: committed and current, valid, and agreeing with the example campaigns.

Regenerate the committed files with ``photogpt-batch schema`` after changing a plugin's options.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from ruamel.yaml import YAML

from photogpt_batch.plugins import Registry, build_registry, make_plugin_host
from photogpt_batch.spec import schemas
from photogpt_batch.spec.document import to_plain

ROOT = Path(__file__).parents[2]
SCHEMAS = ROOT / "schemas"
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
MODELINE = "# yaml-language-server: $schema=../schemas/campaign.schema.json"


@pytest.fixture(scope="module")
def builtin() -> Registry:
    return build_registry(make_plugin_host(builtin_only=True))


@pytest.fixture(scope="module")
def campaign_validator() -> Draft7Validator:
    return Draft7Validator(json.loads((SCHEMAS / "campaign.schema.json").read_text(encoding="utf-8")))


def read_spec(path: Path) -> Any:
    yaml = YAML(typ="rt")
    yaml.version = (1, 2)
    return to_plain(yaml.load(path.read_text(encoding="utf-8")))


def test_committed_schemas_are_up_to_date(builtin: Registry) -> None:
    generated = schemas.generate(builtin)
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.schema.json")}
    stale = sorted(name for name in generated if committed.get(name) != generated[name])
    assert stale == [], "run `photogpt-batch schema` and commit schemas/"
    assert sorted(committed) == sorted(generated), "schemas/ holds files no model generates"


def test_there_is_a_schema_per_builtin_model(builtin: Registry) -> None:
    assert {f"{m}.schema.json" for m in builtin.ids()} | {"campaign.schema.json"} == set(schemas.generate(builtin))


@pytest.mark.parametrize("name", sorted(p.name for p in SCHEMAS.glob("*.schema.json")))
def test_every_committed_schema_is_a_valid_draft_07_schema(name: str) -> None:
    Draft7Validator.check_schema(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_example_campaign_validates_against_the_editor_schema(path: Path, campaign_validator: Draft7Validator) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in campaign_validator.iter_errors(read_spec(path))]
    assert errors == []


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_example_campaign_starts_with_the_schema_modeline(path: Path) -> None:
    assert path.read_text(encoding="utf-8").splitlines()[0] == MODELINE


def test_editor_schema_rejects_an_unknown_top_level_key(campaign_validator: Draft7Validator) -> None:
    doc = read_spec(SPECS[0])
    doc["colour"] = "red"
    assert [list(e.absolute_path) for e in campaign_validator.iter_errors(doc)] == [[]]


def test_editor_schema_rejects_an_unknown_option_for_a_named_model(campaign_validator: Draft7Validator) -> None:
    doc = {"version": 1, "campaign": "x",
           "jobs": [{"id": "a", "model": "veo-3.1", "prompt": "p", "options": {"draftMode": True}}]}
    assert not campaign_validator.is_valid(doc)


def test_editor_schema_accepts_placeholders_where_values_come_from_the_matrix(
        campaign_validator: Draft7Validator) -> None:
    doc = {"version": 1, "campaign": "x", "jobs": [{
        "id": "{model}-s{seed}", "prompt": "{text}", "matrix": {"model": ["veo-3.1"], "seed": [1, 2]},
        "options": {"seed": "{seed}", "aspectRatio": "{ratio}"}, "numVideos": "{n}"}]}
    assert [e.message for e in campaign_validator.iter_errors(doc)] == []


@pytest.mark.parametrize("job_id, valid", [
    ("hero", True), ("{model}", True), ("{model}-{ratio}", True), ("a{x}b", True),
    ("a/../b", False), (".hidden", False), ("-dash", False), ("{bad name}", False),
])
def test_editor_schema_checks_the_id_as_written(campaign_validator: Draft7Validator, job_id: str,
                                                valid: bool) -> None:
    doc = {"version": 1, "campaign": "x", "jobs": [{"id": job_id, "model": "veo-3.1", "prompt": "p"}]}
    assert campaign_validator.is_valid(doc) is valid


def test_editor_schema_lists_every_model(builtin: Registry) -> None:
    schema = schemas.campaign_schema(builtin)
    model_enum = schema["properties"]["jobs"]["items"]["properties"]["model"]["anyOf"][0]["enum"]
    assert model_enum == builtin.ids()


def test_model_schema_is_the_job_schema_the_validator_uses(builtin: Registry) -> None:
    for model_id in builtin.ids():
        model = builtin.models[model_id]
        schema = json.loads((SCHEMAS / f"{model_id}.schema.json").read_text(encoding="utf-8"))
        stripped = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "title", "description")}
        assert stripped == json.loads(json.dumps(model.job_schema())), model_id


def test_schema_generation_does_not_change_the_models(builtin: Registry) -> None:
    before = {m: copy.deepcopy(dict(builtin.models[m].options)) for m in builtin.ids()}
    schemas.generate(builtin)
    assert {m: dict(builtin.models[m].options) for m in builtin.ids()} == before


def test_editor_schema_marks_a_job_without_a_prompt_when_defaults_give_none(
        campaign_validator: Draft7Validator) -> None:
    doc = {"version": 1, "campaign": "x", "defaults": {"model": "veo-3.1"},
           "jobs": [{"id": "a"}, {"id": "b", "prompt": "p"}]}
    errors = list(campaign_validator.iter_errors(doc))
    assert [(list(e.absolute_path), e.message) for e in errors] == [(["jobs", 0], "'prompt' is a required property")]
    own = {"id": "b", "prompt": "p", "model": "veo-3.1"}
    assert campaign_validator.is_valid({"version": 1, "campaign": "x", "jobs": [own]})
    del doc["defaults"]
    assert not campaign_validator.is_valid(doc)


def test_editor_schema_takes_a_prompt_from_defaults(campaign_validator: Draft7Validator) -> None:
    doc = {"version": 1, "campaign": "x", "defaults": {"model": "veo-3.1", "prompt": "p"}, "jobs": [{"id": "a"}]}
    assert [e.message for e in campaign_validator.iter_errors(doc)] == []


@pytest.mark.parametrize(("defaults", "job", "valid"), [
    ({}, {"id": "a", "prompt": "p"}, False),
    ({"model": "veo-3.1"}, {"id": "a", "prompt": "p"}, True),
    ({}, {"id": "a", "prompt": "p", "model": "veo-3.1"}, True),
    ({}, {"id": "a-{model}", "prompt": "p", "matrix": {"model": ["veo-3.1"]}}, True),
    ({}, {"id": "a-{n}", "prompt": "p", "matrix": {"n": [1, 2]}}, False),
])
def test_editor_schema_marks_a_job_without_a_model(campaign_validator: Draft7Validator, defaults: dict[str, Any],
                                                   job: dict[str, Any], valid: bool) -> None:
    doc = {"version": 1, "campaign": "x", "defaults": defaults, "jobs": [job]}
    errors = list(campaign_validator.iter_errors(doc))
    assert [(list(e.absolute_path), e.message) for e in errors] == \
        ([] if valid else [(["jobs", 0], "'model' is a required property")])
