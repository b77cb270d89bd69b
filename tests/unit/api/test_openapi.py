"""The OpenAPI document: served at /openapi.json, copied in schemas/openapi.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kafkahooks.api import openapi_document
from tests.unit.api.conftest import Api

COPY = Path(__file__).resolve().parents[3] / "schemas" / "openapi.json"


def test_the_copy_in_schemas_matches_the_document() -> None:
    """Regenerate with: kafkahooks api --print-openapi > schemas/openapi.json"""
    assert json.loads(COPY.read_text(encoding="utf-8")) == openapi_document()


def test_the_app_serves_the_document_and_the_docs(api: Api) -> None:
    served = api.http.get("/openapi.json")
    assert served.status_code == 200 and served.json() == openapi_document()
    assert "swagger" in api.http.get("/docs").text.lower()


def test_every_resource_is_documented_with_its_errors() -> None:
    doc = openapi_document()
    paths = doc["paths"]
    assert "/v1/tenants/{tenant}/endpoints/{endpoint_id}/secret/rotate" in paths
    assert "/v1/tenants/{tenant}/tokens/{token_id}" in paths
    assert "/v1/event-types" in paths
    create = paths["/v1/tenants/{tenant}/endpoints"]["post"]
    assert "url" in create["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"401", "404", "409", "413", "422", "429", "503"} <= set(create["responses"])
    refs = json.dumps(doc)
    names = set(doc["components"]["schemas"])
    for name in names:
        assert f"#/components/schemas/{name}" in refs
    assert set(re.findall(r'"#/components/schemas/([^"]+)"', refs)) <= names
    assert '"$defs"' not in refs
