"""Every endpoint of the OpenAPI document, fuzzed with hypothesis (issue 11): odd paths, queries, bodies and
credentials, valid-looking and not. No request may answer 500 or stop the API, and nothing stored is lost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.api import build_api
from cloud.auth import ROLES, Auth
from cloud.event_hub import EventHub
from cloud.store import Store
from devices.contract import Command
from devices.profile_loader import load_profile_dir
from tests.support.records import checked, checked_birth

PASSWORD = "correct horse battery"
ALARM = {"id": "o:1", "type": "alarm", "key": "sd1/smoke", "state": "active", "class": "fire", "severity": 1,
         "device": "sd1"}


async def _sent(site: str, gateway: str, command: Command, ttl: float) -> None:
    return None


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Store, dict[str, str], dict[str, Any]]]:
    store = Store(tmp_path / "c.sqlite", streets={"s1": "西溪街道"})
    auth = Auth(store)
    for role in ROLES:
        auth.add_user(role, PASSWORD, role)
    store.save_birth("s1", "gw1", checked_birth({"boot": "b", "seq": 1, "bdseq": 1, "devices": [
        {"id": "box1", "profile": "xingdian-cb10"}, {"id": "sd1", "profile": "hengan-sd100-fw1"}]}))
    store.store_records("s1", "gw1", checked([ALARM]))
    app = build_api(store, auth, EventHub(), _sent, profiles=load_profile_dir())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as client:
        tokens = {}
        for role in ROLES:
            login = await client.post("/api/login", json={"user": role, "password": PASSWORD, "token": True})
            tokens[role] = login.json()["token"]
        document = (await client.get("/api/openapi.json")).json()
        yield client, store, tokens, document
    store.close()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                max_size=4), max_leaves=12)
SEGMENT = st.one_of(st.integers(min_value=-5, max_value=10**25).map(str), st.text(max_size=12),
                    st.sampled_from(["1", "s1", "gw1", "box1", "sd1", "admin", "%C2%B2", "\U0001d7cf", "0x1"]))


def _body_for(schema: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    if schema is None:
        return JSON
    fields = {name: st.one_of(JSON, st.sampled_from(spec.get("enum", [None])), st.just(1e308))
              for name, spec in schema.get("properties", {}).items()}
    return st.one_of(JSON, st.fixed_dictionaries({}, optional=fields))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_request_answers_500_and_nothing_stored_is_lost(api: Any, data: st.DataObject) -> None:
    client, store, tokens, document = api
    path = data.draw(st.sampled_from([p for p in document["paths"] if p != "/api/stream"]))
    method = data.draw(st.sampled_from(sorted(document["paths"][path])))
    operation = document["paths"][path][method]
    url = path
    for param in operation["parameters"]:
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", quote(data.draw(SEGMENT), safe="%") or "x")
    query = {p["name"]: data.draw(SEGMENT) for p in operation["parameters"] if p["in"] == "query"}
    who = data.draw(st.sampled_from([*ROLES, None, "garbage"]))
    headers = {"Authorization": f"Bearer {tokens.get(who, 'not-a-token')}"} if who else {}
    kwargs: dict[str, Any] = {"headers": headers, "params": query}
    if method == "post":
        schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        raw = data.draw(st.one_of(_body_for(schema).map(lambda b: json.dumps(b).encode()),
                                  st.binary(max_size=64), st.just(b"[" * 5000)))
        kwargs["content"] = raw
        headers["content-type"] = "application/json"
    response = await client.request(method.upper(), url, **kwargs)
    assert response.status_code < 500, (method, url, kwargs.get("content", b"")[:80], response.text[:300])
    if response.headers.get("content-type", "").startswith("application/json") and response.status_code >= 400:
        assert "error" in response.json()
    assert store.alarm(1) is not None and store.count("records") >= 1  # nothing already stored is lost
