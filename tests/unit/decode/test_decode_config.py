"""The routes file's ``sources``, ``schema_registry`` and ``dead_letter_limit`` sections."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafkahooks.app.checks import load_checked
from kafkahooks.config import ConfigError, load_config, parse_config
from kafkahooks.config.sources import AvroFormat, JsonFormat, RegistryAvroFormat

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def _doc(**top: Any) -> dict[str, Any]:
    route = {"name": "calls", "topics": ["calls"], "template": {"id": "{{ value.id }}"},
             "endpoint": {"url": "https://hooks.example/in"}}
    route.update(top.pop("route", {}))
    return {"kafka": {"bootstrap_servers": "localhost:9092"}, "routes": [route], **top}


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "conf" / "routes.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_schema_paths_are_relative_to_the_routes_file(tmp_path: Path) -> None:
    shutil.copytree(SCHEMAS / "outrival", tmp_path / "schemas")
    doc = _doc(sources={"calls": {"value": {"format": "avro",
                                            "schema": "../schemas/server-event.avsc"},
                                  "key": "json", "max_value_bytes": 4096}})
    config = load_config(_write(tmp_path, doc))
    source = config.sources["calls"]
    assert isinstance(source.value, AvroFormat)
    assert Path(source.value.schema_file) == tmp_path / "conf" / "../schemas/server-event.avsc"
    assert isinstance(source.key, JsonFormat)
    assert source.max_value_bytes == 4096 and source.tombstones == "skip"


def test_a_missing_or_broken_schema_file_is_reported_with_where_it_was_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "broken.avsc").write_text(
        '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "com.nope.Y"}]}')
    doc = _doc(sources={"calls": {"value": {"format": "avro", "schema": "nowhere.avsc"}}},
               route={"value_format": {"format": "avro", "schema": "broken.avsc"}})
    with pytest.raises(ConfigError) as caught:
        load_checked(_write(tmp_path, doc))  # schema files: checked by the runtime's loader
    problems = caught.value.problems
    assert any(p.startswith("sources.calls.value:") and "no such schema file" in p
               for p in problems)
    assert any(p.startswith("route 'calls' → value_format:") and "not a valid Avro schema" in p
               for p in problems)


def test_registry_format_needs_a_registry_and_takes_a_shorthand() -> None:
    doc = _doc(route={"value_format": "avro-registry"})
    with pytest.raises(ConfigError, match="needs a schema_registry section"):
        parse_config(yaml.safe_dump(doc), "r.yaml")
    doc["schema_registry"] = {"url": "https://registry.example", "username": "svc",
                              "password": "${REGISTRY_PASSWORD}"}
    config = parse_config(yaml.safe_dump(doc), "r.yaml", env={"REGISTRY_PASSWORD": "s3cr3t"})
    assert isinstance(config.routes[0].value_format, RegistryAvroFormat)
    assert config.schema_registry is not None
    assert "s3cr3t" not in repr(config)


def test_unknown_formats_and_options_are_errors() -> None:
    for sources in ({"calls": {"value": "xml"}}, {"calls": {"value": "json", "colour": 1}},
                    {"calls": {"key": {"format": "avro"}}}):
        with pytest.raises(ConfigError):
            parse_config(yaml.safe_dump(_doc(sources=sources)), "r.yaml")


def test_dead_letter_limit_defaults_and_settings() -> None:
    config = parse_config(yaml.safe_dump(_doc()), "r.yaml")
    assert config.dead_letter_limit.enabled
    assert config.dead_letter_limit.max_consecutive == 100
    doc = _doc(dead_letter_limit={"max_consecutive": 5, "max_ratio": 0.2, "window": 50})
    limit = parse_config(yaml.safe_dump(doc), "r.yaml").dead_letter_limit
    assert (limit.max_consecutive, limit.max_ratio, limit.window) == (5, 0.2, 50)
    with pytest.raises(ConfigError, match="max_ratio"):
        parse_config(yaml.safe_dump(_doc(dead_letter_limit={"max_ratio": 2})), "r.yaml")


def test_the_avro_demo_routes_file_reads_the_call_status_schema() -> None:
    path = SCHEMAS.parent / "examples" / "demo-avro.yaml"
    env = {"KAFKA_BOOTSTRAP": "localhost:9092", "TARGET_URL": "http://127.0.0.1:9/hooks",
           "WEBHOOK_SECRET": "s"}
    source = load_config(path, env).sources["*"]
    assert isinstance(source.value, AvroFormat)
    assert Path(source.value.schema_file).resolve() == SCHEMAS / "call-status" / "call-status.avsc"
