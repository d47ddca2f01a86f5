"""Equipment readiness: per station and street today, the monthly ranking, the month's history."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, endpoint, month_param
from cloud.auth import Session
from cloud.readiness import monthly_index
from cloud.readiness_report import district_readiness

__all__ = ["routes"]


@endpoint()
async def readiness(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Equipment readiness per station (score, categories, what is missing) and per street.
    """
    return JSONResponse(district_readiness(api.store, api.inventory))


@endpoint()
async def ranking(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Streets ranked by their monthly readiness index (?month=YYYY-MM, default this month).
    """
    month = month_param(request)
    ranked = monthly_index(await api.read(lambda s: s.readiness_history(month)))
    return JSONResponse([{"rank": i + 1, "street": street, "index": index}
                         for i, (street, index) in enumerate(ranked)])


@endpoint()
async def readiness_history(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Daily readiness scores of a month (?month=YYYY-MM), for trend charts.
    """
    month = month_param(request)
    return JSONResponse([{"day": day, "street": street, "score": score}
                         for day, street, score in await api.read(lambda s: s.readiness_history(month))])


routes = [
    Route("/api/readiness", readiness),
    Route("/api/readiness/ranking", ranking),
    Route("/api/readiness/history", readiness_history),
]
