"""GET /metrics: the collector's Prometheus metrics (cloud.metrics). Open to a scraper on this machine
(loopback, not forwarded by a proxy); from elsewhere it needs `Authorization: Bearer $FF_METRICS_TOKEN`, so
the district's figures are not for anyone who can reach the console's port."""

from __future__ import annotations

import hmac
import os

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint
from cloud.auth import Session
from cloud.metrics import CONTENT_TYPE, render_metrics

__all__ = ["routes"]


@endpoint(public=True)
async def metrics(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Prometheus metrics (text exposition format): ingest, queues, alarms, gateways, notifications, store.
    """
    # a request a proxy on this machine forwarded is not local, whatever its socket says
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    local = request.client is not None and request.client.host in ("127.0.0.1", "::1") and not proxied
    token = os.environ.get("FF_METRICS_TOKEN", "")
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not local and not (token and hmac.compare_digest(given, token)):
        raise HttpError(403, "metrics are for a scraper on this machine, or with the metrics token", "forbidden")
    stored = await api.read(lambda s: s.metric_counts())
    return Response(render_metrics(api.live(), stored), media_type=CONTENT_TYPE)


routes = [Route("/metrics", metrics)]
