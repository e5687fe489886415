"""The labelled corpus of real citizen texts (tests/fixtures/routing_real): format, codes, split."""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from services.router.domain.table import DEFAULT_TABLE_PATH

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "routing_real"
SPLITS = ("train", "dev", "test")
FIELDS = {"id", "title", "body", "location", "source", "labels"}
LABELS = {"category", "level", "region", "agency", "topic"}


def _lines(name: str) -> list[dict[str, Any]]:
    text = (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_TABLE_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict[str, Any]]]:
    return {name: _lines(name) for name in SPLITS}


def _split_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("routing_real_split", CORPUS / "split.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_line_has_the_corpus_format(splits: dict[str, list[dict[str, Any]]]) -> None:
    for name, items in splits.items():
        assert items, name
        for item in items:
            assert set(item) == FIELDS, item["id"]
            assert set(item["labels"]) == LABELS, item["id"]
            assert item["id"] == f"real-{item['source']}-{item['id'].rsplit('-', 1)[1]}"
            assert isinstance(item["title"], str) and item["body"].strip(), item["id"]
            assert item["location"] is None or isinstance(item["location"], str)


def test_ids_are_unique_and_no_id_is_in_two_splits(
    splits: dict[str, list[dict[str, Any]]],
) -> None:
    ids = [item["id"] for items in splits.values() for item in items]
    assert len(ids) == len(set(ids))


def test_every_code_is_known_to_the_routing_table(
    splits: dict[str, list[dict[str, Any]]], table: dict[str, Any]
) -> None:
    categories = set(table["categories"])
    agencies = {agency["code"] for agency in table["agency"]}
    regions = {region["code"] for region in table["region"]}
    topics = {topic["id"]: topic for topic in table["topic"]}
    for item in (item for items in splits.values() for item in items):
        labels = item["labels"]
        assert labels["category"] in categories, item["id"]
        assert labels["agency"] in agencies, item["id"]
        assert labels["region"] is None or labels["region"] in regions, item["id"]
        assert labels["level"] in {"pusat", "provinsi", "kabkota"}, item["id"]
        if labels["topic"] is None:
            continue
        assert labels["topic"] in topics, item["id"]


def test_labels_follow_the_authority_rules(splits: dict[str, list[dict[str, Any]]]) -> None:
    """kab/kota matters go to their region or to triage; central ones to pusat; no-complaint texts
    are TOPIK LAINNYA for triage."""
    for item in (item for items in splits.values() for item in items):
        labels = item["labels"]
        if labels["level"] == "kabkota":
            assert labels["agency"] in {labels["region"], "63.triage"}, item["id"]
            assert labels["agency"] != "63.triage" or labels["region"] is None, item["id"]
        if labels["level"] == "pusat":
            assert labels["agency"] == "pusat", item["id"]
        if labels["topic"] is None:
            assert labels["category"] == "TOPIK LAINNYA", item["id"]
            assert labels["agency"] == "63.triage", item["id"]


def test_the_committed_split_is_what_split_py_writes() -> None:
    """The split is deterministic: re-running split.py over the labelled chunks changes nothing."""
    module = _split_module()
    files = module.rendered(module.split(module.labelled_items()))
    for name in SPLITS:
        assert (CORPUS / f"{name}.jsonl").read_text(encoding="utf-8") == files[name], name
