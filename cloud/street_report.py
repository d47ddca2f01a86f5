"""The monthly street report (晾晒): per street, the month's alarms and fires, false-alarm rate, median time to
acknowledge and to close, tickets overdue, readiness index and rank; as XLSX (openpyxl) and as PDF
(reportlab, with its built-in Chinese font STSong-Light: nothing to install on the collector).

Pure: the month's facts in (alarm facts, tickets due that month, daily readiness), rows and bytes out.
Rank: by readiness index (higher first), then fewer overdue tickets, then the faster median acknowledgement.
"""

from __future__ import annotations

import calendar
import io
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud.readiness import monthly_index

__all__ = ["StreetRow", "month_span", "report_as_pdf", "report_as_xlsx", "street_report"]


@dataclass(frozen=True)
class StreetRow:
    rank: int
    street: str
    alarms: int
    fires: int
    false_alarm_rate: float | None  # among alarms with a verdict
    acknowledge_median_s: float | None
    close_median_s: float | None
    tickets_due: int
    tickets_overdue: int  # due this month and not closed by their deadline
    readiness: float | None  # the month's mean of daily station scores


def month_span(month: str) -> tuple[float, float]:
    """[start, end) of a 'YYYY-MM' in local time."""
    year, number = (int(x) for x in month.split("-"))
    start = time.mktime((year, number, 1, 0, 0, 0, 0, 0, -1))
    days = calendar.monthrange(year, number)[1]
    return start, time.mktime((year, number, days, 0, 0, 0, 0, 0, -1)) + 86400


def street_report(facts: Iterable[Mapping[str, Any]], tickets: Iterable[Mapping[str, Any]],
                  readiness_days: Iterable[tuple[str, str, float]], street_of: Mapping[str, str],
                  now: float) -> list[StreetRow]:
    per: dict[str, dict[str, Any]] = {}

    def street(name: str) -> dict[str, Any]:
        return per.setdefault(name, {"alarms": 0, "fires": 0, "verdicts": 0, "false": 0, "ack": [], "close": [],
                                     "due": 0, "overdue": 0, "readiness": None})
    for f in facts:
        s = street(str(f.get("street") or street_of.get(str(f["site"]), "")))
        s["alarms"] += 1
        s["fires"] += f["class"] == "fire"
        if f.get("verdict"):
            s["verdicts"] += 1
            s["false"] += f["verdict"] == "false_alarm"
        if f.get("acknowledged_at") is not None:
            s["ack"].append(float(f["acknowledged_at"]) - float(f["raised_at"]))
        if f.get("closed_at") is not None:
            s["close"].append(float(f["closed_at"]) - float(f["raised_at"]))
    for ticket in tickets:
        s = street(street_of.get(str(ticket["site"]), ""))
        s["due"] += 1
        closed = ticket.get("closed_at")
        deadline = float(ticket["deadline"])
        s["overdue"] += (closed is None and now > deadline) or (closed is not None and float(closed) > deadline)
    for name, index in monthly_index(readiness_days):
        street(name)["readiness"] = index
    rows = [(name, s) for name, s in per.items() if name]

    def order(item: tuple[str, dict[str, Any]]) -> tuple[float, int, float, str]:
        name, s = item
        return (-(s["readiness"] if s["readiness"] is not None else -1), s["overdue"],
                statistics.median(s["ack"]) if s["ack"] else float("inf"), name)
    return [StreetRow(rank=i + 1, street=name, alarms=s["alarms"], fires=s["fires"],
                      false_alarm_rate=round(s["false"] / s["verdicts"], 4) if s["verdicts"] else None,
                      acknowledge_median_s=round(statistics.median(s["ack"]), 1) if s["ack"] else None,
                      close_median_s=round(statistics.median(s["close"]), 1) if s["close"] else None,
                      tickets_due=s["due"], tickets_overdue=s["overdue"], readiness=s["readiness"])
            for i, (name, s) in enumerate(sorted(rows, key=order))]


HEADERS = {
    "zh": ("排名", "街道", "警情", "火警", "误报率", "受理用时中位数", "闭环用时中位数", "本月到期工单", "超期工单",
           "战备指数"),
    "en": ("Rank", "Street", "Alarms", "Fires", "False-alarm rate", "Median to acknowledge", "Median to close",
           "Tickets due", "Tickets overdue", "Readiness index"),
}
TITLE = {"zh": "{month} 街道消防安全晾晒", "en": "Street report {month}"}


def _cells(row: StreetRow) -> list[Any]:
    def span(s: float | None) -> str:
        return "–" if s is None else f"{int(s // 60)}:{int(s % 60):02d}"
    rate = "–" if row.false_alarm_rate is None else f"{100 * row.false_alarm_rate:.1f}%"
    return [row.rank, row.street, row.alarms, row.fires, rate, span(row.acknowledge_median_s),
            span(row.close_median_s), row.tickets_due, row.tickets_overdue,
            "–" if row.readiness is None else row.readiness]


def report_as_xlsx(rows: Sequence[StreetRow], month: str, lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = month
    sheet.append([TITLE[lang].format(month=month)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(list(HEADERS[lang]))
    for row in rows:
        sheet.append(_cells(row))
    for column, width in zip("ABCDEFGHIJ", (6, 16, 8, 8, 10, 14, 14, 12, 10, 10), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def report_as_pdf(rows: Sequence[StreetRow], month: str, lang: str, made_at: float) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    styles = getSampleStyleSheet()
    title, body = styles["Title"], styles["Normal"]
    title.fontName = body.fontName = font
    out = io.BytesIO()
    document = SimpleDocTemplate(out, pagesize=landscape(A4), title=TITLE[lang].format(month=month))
    made = time.strftime("%Y-%m-%d %H:%M", time.localtime(made_at))
    table = Table([list(HEADERS[lang]), *[[str(c) for c in _cells(r)] for r in rows]], repeatRows=1, style=[
        ("FONT", (0, 0), (-1, -1), font, 10), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#14213d")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white), ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#d9dde5")),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f5f7")])])
    note = ("按战备指数排名，其次超期工单少、受理快者在前。生成于 " if lang == "zh" else
            "Ranked by readiness index, then fewer overdue tickets, then faster acknowledgement. Made ") + made
    document.build([Paragraph(TITLE[lang].format(month=month), title), Spacer(1, 6), table, Spacer(1, 10),
                    Paragraph(note, body)])
    return out.getvalue()
