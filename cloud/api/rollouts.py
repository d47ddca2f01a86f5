"""Rollouts from the console: a configuration set (site file and/or profiles) or an agent version for one
gateway, a street, every gateway of a site kind, or all; staged (canary first) and stopped automatically
when more gateways fail than allowed (cloud.rollout_plan, cloud.rollout_job). Admins only; audited."""

from __future__ import annotations

import asyncio
import hashlib
import re
import tempfile
from pathlib import Path
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint, over_tls, path_id, read_body, read_raw
from cloud.auth import Session
from cloud.rollout_plan import stages
from devices.agent_package import wheel_version
from devices.config_bundle import bundle_digest
from devices.contract import ContractError, as_command
from devices.errors import ProfileError, SiteConfigError
from devices.profile_loader import load_profile_dir
from devices.protocol import MAX_PAYLOAD
from devices.site_config import load_site

__all__ = ["routes"]

MOST_BYTES = 240 * 1024  # a request's files; the sealed command must stay under MAX_PAYLOAD
PACKAGE_BYTES = 64 * 1024 * 1024
PROFILE_FILE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,80}\.yaml$")
TARGETS = ("gateway", "street", "kind", "all")


@endpoint("fleet.rollout")
async def create(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Roll a configuration set out ({"target": {"street": "西溪街道"}, "profiles": {"name.yaml": "..."},
      "site": "...", "canary_share": 0.1, "batch": 50, "max_failures": 0, "verify_s": 120}), or an agent version
      ({"action": "update", "package": SHA-256 of an uploaded wheel, "healthy_s": 120}); target is one of
      gateway, street, kind or all; a site file only for one gateway. A set is checked here with the installers'
      checker first; answered with the rollout.
    """
    assert session is not None
    body = await read_body(request, MOST_BYTES)
    chosen, target = await _targets(api, body.get("target"))
    canary = _number(body, "canary_share", 0.1, 0.0, 1.0)
    batch = int(_number(body, "batch", 50, 1, 10_000))
    allowed = int(_number(body, "max_failures", 0, 0, 100_000))
    first = body.get("canary", [])
    if not isinstance(first, list) or not all(isinstance(g, str) for g in first):
        raise HttpError(400, "canary lists gateway ids", "bad_field", field="canary")
    action = body.get("action", "configure")
    if action not in ("configure", "update"):
        raise HttpError(400, "action is configure (a configuration set) or update (an agent version)", "bad_field",
                        field="action")
    if action == "update":
        payload, digest, description = await _update(request, api, body)
    else:
        payload, digest, description = await _configure(body, chosen)
    ordered = [(g["gateway"], g["online"]) for g in chosen if g["gateway"] in first] + \
              [(g["gateway"], g["online"]) for g in chosen if g["gateway"] not in first]
    stage_of = stages(ordered, canary, batch, first=len([g for g in first if g in {c["gateway"] for c in chosen}]))
    site_of = {g["gateway"]: g["site"] for g in chosen}
    description = str(body.get("description", ""))[:200] or description

    def add(store: Any) -> dict[str, Any]:
        rid = store.add_rollout(who=session.user, action=payload["action"], description=description, payload=payload,
                                digest=digest, targets=target, max_failures=allowed,
                                stage_of={g: (site_of[g], n) for g, n in stage_of.items()})
        return dict(store.rollout(rid))
    return JSONResponse(await api.write(add), status_code=201)


@endpoint("fleet.rollout")
async def listing(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Rollouts, newest first, with how many gateways succeeded and failed.
    """
    return JSONResponse(await api.read(lambda s: s.rollouts()))


@endpoint("fleet.rollout")
async def one(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: A rollout with each gateway's stage, state (prepare, apply, verify, successful, rolled_back...) and
      reason.
    """
    rid = path_id(request.path_params["id"])
    found = await api.read(lambda s: s.rollout(rid))
    if found is None:
        raise HttpError(404, "no such rollout", "not_found")
    return JSONResponse(found)


@endpoint("fleet.rollout")
async def stop(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Stop a running rollout ({"reason": "..."}): nothing more is sent, steps not yet taken up are
      cancelled; gateways that already applied keep what they verified.
    """
    assert session is not None
    rid, user = path_id(request.path_params["id"]), session.user
    reason = str((await read_body(request)).get("reason", "")).strip()[:200] or "stopped by " + user
    if not await api.write(lambda s: s.end_rollout(rid, "stopped", reason, user)):
        raise HttpError(409, "the rollout is not running", "not_running")
    return JSONResponse(await api.read(lambda s: s.rollout(rid)))


async def _configure(body: dict[str, Any], chosen: list[dict[str, Any]]) -> tuple[dict[str, Any], str, str]:
    """A configuration set: checked with the installers' checker, sealed with its digest, sized to fit."""
    site_text, profiles = body.get("site", ""), body.get("profiles", {})
    if not isinstance(site_text, str) or not isinstance(profiles, dict) or not all(
            isinstance(k, str) and PROFILE_FILE.match(k) and isinstance(v, str) for k, v in profiles.items()):
        raise HttpError(400, "site is the site file's text; profiles maps file names (name.yaml) to their text",
                        "bad_field", field="profiles")
    if not site_text and not profiles:
        raise HttpError(400, "nothing to roll out: give a site file, profiles, or both", "bad_field", field="site")
    if site_text and len(chosen) != 1:
        raise HttpError(400, "a site file describes one site: roll it out to one gateway", "bad_field", field="site")
    verify_s = _number(body, "verify_s", 120.0, 5, 3600)
    message = await asyncio.to_thread(_checked, site_text, profiles, chosen[0]["site"] if site_text else "")
    if message:
        raise HttpError(422, f"the set does not pass the checker: {message}", "config_refused", message=message)
    digest = bundle_digest(site_text, profiles)
    payload = {"action": "configure", "bundle": {"sha256": digest, "site": site_text, "profiles": profiles,
                                                 "verify_s": verify_s}}
    _fits(payload)
    return payload, digest, ", ".join([*sorted(profiles), *(["site file"] if site_text else [])])


async def _update(request: Request, api: Api, body: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """An agent version: an uploaded wheel (by its SHA-256), fetched by each gateway from this collector (or
    from `package_base`, the address gateways reach it at), checked there against the signed digest."""
    sha = body.get("package")
    known = await api.read(lambda s: {p["sha256"]: p for p in s.packages()}.get(str(sha)))
    if known is None:
        raise HttpError(404, "no such agent package: upload the wheel first (POST /api/packages)", "not_found")
    base = body.get("package_base") or str(request.base_url).rstrip("/")
    if over_tls(request):
        base = base.replace("http://", "https://", 1)
    if not isinstance(base, str) or not base.startswith(("http://", "https://")) or len(base) > 300:
        raise HttpError(400, "package_base is the http(s) address gateways reach this collector at", "bad_field",
                        field="package_base")
    payload = {"action": "update", "package": {"url": f"{base.rstrip('/')}/api/packages/{known['sha256']}.whl",
                                               "sha256": known["sha256"], "version": known["version"],
                                               "healthy_s": _number(body, "healthy_s", 120.0, 10, 3600)}}
    _fits(payload)
    return payload, str(known["sha256"]), f"agent {known['version']}"


def _fits(payload: dict[str, Any]) -> None:
    try:
        size = len(msgspec.msgpack.encode(as_command({"id": "cmd-000000000000", **payload})))
    except ContractError as exc:
        raise HttpError(400, f"not an operation a gateway takes: {exc}", "bad_command") from None
    if size > MAX_PAYLOAD - 8192:
        raise HttpError(413, f"the set is {size} bytes; a command carries at most {MAX_PAYLOAD - 8192}", "too_large")


@endpoint("fleet.rollout")
async def upload_package(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Upload an agent wheel (the body is the .whl itself, at most 64 MB); answered with its SHA-256 and
      version, which an update rollout names.
    """
    assert session is not None
    data = await read_raw(request, PACKAGE_BYTES)
    try:
        version = wheel_version(data)
    except ValueError as exc:
        raise HttpError(400, str(exc), "bad_package") from None
    sha = hashlib.sha256(data).hexdigest()
    name = f"firefleet-{version}-py3-none-any.whl"
    user = session.user
    return JSONResponse(await api.write(lambda s: s.add_package(sha, name, version, data, user)), status_code=201)


@endpoint("fleet.rollout")
async def packages(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The agent wheels uploaded, newest first.
    """
    return JSONResponse(await api.read(lambda s: s.packages()))


@endpoint(public=True)
async def package_file(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: An agent wheel by its SHA-256, for gateways (no login: the wheel is the open-source agent, and a
      gateway installs it only if it has the SHA-256 the collector signed).
    """
    sha = str(request.path_params["sha"])
    found = await api.read(lambda s: s.package(sha)) if re.fullmatch(r"[0-9a-f]{64}", sha) else None
    if found is None:
        raise HttpError(404, "no such package", "not_found")
    return Response(found[1], media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{found[0]}"'})


async def _targets(api: Api, target: object) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if not isinstance(target, dict) or len(target) != 1 or next(iter(target)) not in TARGETS:
        raise HttpError(400, f"target is one of {', '.join(TARGETS)}: {{\"street\": \"西溪街道\"}}", "bad_field",
                        field="target")
    (kind, value), = target.items()
    candidates = await api.read(lambda s: s.rollout_candidates())
    chosen = [c for c in candidates if kind == "all" or c[kind] == value]
    if not chosen:
        raise HttpError(404, f"no gateway matches {kind} {value!r}", "not_found")
    return chosen, {kind: value if kind != "all" else True}


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise HttpError(400, f"{name} is a number from {low:g} to {high:g}", "bad_field", field=name)
    return float(value)


def _checked(site_text: str, profiles: dict[str, str], site_id: str) -> str:
    """The installers' checker on the uploaded files (the gateway checks them again in its own set): ""
    when they pass, else its message (file:line [field] reason)."""
    with tempfile.TemporaryDirectory(prefix="ff-rollout-") as folder:
        root = Path(folder)
        (root / "profiles").mkdir()
        for name, text in profiles.items():
            (root / "profiles" / name).write_text(text, encoding="utf-8")
        try:
            loaded = load_profile_dir(root / "profiles")
            if site_text:
                (root / "site.yaml").write_text(site_text, encoding="utf-8")
                site = load_site(root / "site.yaml", loaded)
                if site.id != site_id:
                    return f"site.yaml is for site {site.id}, the gateway's site is {site_id}"
        except (SiteConfigError, ProfileError) as exc:
            return str(exc).replace(f"{root}/", "")
    return ""


routes = [
    Route("/api/packages", packages),
    Route("/api/packages", upload_package, methods=["POST"]),
    Route("/api/packages/{sha}.whl", package_file),
    Route("/api/rollouts", listing),
    Route("/api/rollouts", create, methods=["POST"]),
    Route("/api/rollouts/{id}", one),
    Route("/api/rollouts/{id}/stop", stop, methods=["POST"]),
]
