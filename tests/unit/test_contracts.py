"""The committed contracts are what the models generate, and they are valid documents."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from relay.contracts import build_contracts

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_the_committed_contracts_match_the_models():
    generated = build_contracts()
    committed = {
        str(path.relative_to(CONTRACTS)): path.read_text(encoding="utf-8")
        for path in CONTRACTS.rglob("*.json")
    }
    stale = sorted(name for name in generated if committed.get(name) != generated[name])
    extra = sorted(set(committed) - set(generated))
    assert (stale, extra) == ([], []), (
        f"contracts/ drifted from the models (stale: {stale}, not generated: {extra}); "
        "review the change, bump the version if it breaks consumers, then run "
        "`sscard contracts export contracts`"
    )


def test_every_schema_is_valid_json_schema():
    for name, text in build_contracts().items():
        if name.startswith("schemas/"):
            jsonschema.Draft202012Validator.check_schema(json.loads(text))


def test_the_asyncapi_document_names_every_topic_and_resolves_its_references():
    document = json.loads(build_contracts()["asyncapi.json"])
    assert document["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in document["channels"].values()}
    assert {"sscard.card-events", "sscard.settlement", "sscard.reimbursement-events"} <= addresses
    assert document["channels"]["settlement"]["bindings"]["kafka"]["topicConfiguration"][
        "cleanup.policy"
    ] == ["compact"]

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(document):
        target: object = document
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict), f"unresolved {ref}"
            assert part in target, f"unresolved {ref}"
            target = target[part]
