"""Reports a district sends up the line: the monthly street report (晾晒) as JSON, XLSX and PDF."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import XLSX, Api, HttpError, attachment, endpoint, month_param
from cloud.auth import Session
from cloud.store import Store
from cloud.street_report import StreetRow, month_span, report_as_pdf, report_as_xlsx, street_report

__all__ = ["routes"]


async def _report(request: Request, api: Api) -> tuple[str, list[StreetRow]]:
    month = month_param(request)
    since, until = month_span(month)
    now = time.time()
    if since > now:
        raise HttpError(400, f"{month} has not begun", "future_month")

    def read(store: Store) -> list[StreetRow]:
        streets = dict(store.streets) | {site: str(v.get("street", "")) for site, v in api.inventory.items()}
        return street_report(store.alarm_facts(since, until), store.tickets_due(since, min(until, now)),
                             store.readiness_history(month), streets, now)
    return month, await api.read(read)


@endpoint()
async def streets(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The monthly street report (?month=YYYY-MM, this month by default; any month begun): per street
      its alarms, fires, false-alarm rate, median seconds to acknowledge and to close, tickets due and
      overdue, readiness index, and rank.
    """
    month, rows = await _report(request, api)
    return JSONResponse({"month": month, "streets": [asdict(r) for r in rows]})


@endpoint()
async def streets_xlsx(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The monthly street report as an Excel workbook (?month=, ?lang=zh|en).
    """
    month, rows = await _report(request, api)
    body = await asyncio.to_thread(report_as_xlsx, rows, month, _lang(request))
    return attachment(body, XLSX, f"street-report-{month}.xlsx")


@endpoint()
async def streets_pdf(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The monthly street report as PDF (?month=, ?lang=zh|en), A4 landscape.
    """
    month, rows = await _report(request, api)
    body = await asyncio.to_thread(report_as_pdf, rows, month, _lang(request), time.time())
    return attachment(body, "application/pdf", f"street-report-{month}.pdf")


def _lang(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "zh"


routes: list[Any] = [
    Route("/api/reports/streets", streets),
    Route("/api/reports/streets.xlsx", streets_xlsx),
    Route("/api/reports/streets.pdf", streets_pdf),
]
