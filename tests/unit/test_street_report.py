"""The monthly street report (cloud.street_report): figures per street, the rank, and both files read back."""

from __future__ import annotations

import io
import time

from openpyxl import load_workbook
from pypdf import PdfReader

from cloud.street_report import month_span, report_as_pdf, report_as_xlsx, street_report

STREETS = {"shed-1": "西溪街道", "shed-2": "西溪街道", "cab-1": "翠苑街道", "st-1": "文新街道"}


def test_each_street_gets_its_figures_and_a_rank() -> None:
    since, until = month_span("2026-11")
    assert time.localtime(since)[:3] == (2026, 11, 1) and time.localtime(until)[:3] == (2026, 12, 1)
    t = since + 86400
    facts = [
        {"site": "shed-1", "street": "西溪街道", "class": "fire", "raised_at": t, "acknowledged_at": t + 30,
         "closed_at": t + 900, "verdict": "confirm"},
        {"site": "shed-2", "street": "西溪街道", "class": "fire", "raised_at": t, "acknowledged_at": t + 90,
         "closed_at": t + 300, "verdict": "false_alarm"},
        {"site": "cab-1", "street": "翠苑街道", "class": "supervisory", "raised_at": t, "acknowledged_at": t + 10,
         "closed_at": None, "verdict": None},
    ]
    tickets = [{"site": "cab-1", "deadline": t, "closed_at": t + 5},  # closed after its deadline
               {"site": "cab-1", "deadline": t, "closed_at": None},  # still open past it
               {"site": "shed-1", "deadline": t, "closed_at": t - 5}]  # in time
    days = [("2026-11-02", "西溪街道", 80.0), ("2026-11-03", "西溪街道", 90.0), ("2026-11-02", "翠苑街道", 95.0),
            ("2026-11-02", "文新街道", 70.0)]
    rows = street_report(facts, tickets, days, STREETS, now=until)
    assert [(r.rank, r.street) for r in rows] == [(1, "翠苑街道"), (2, "西溪街道"), (3, "文新街道")]
    west = rows[1]
    assert (west.alarms, west.fires, west.false_alarm_rate) == (2, 2, 0.5)
    assert (west.acknowledge_median_s, west.close_median_s) == (60.0, 600.0)
    assert (west.tickets_due, west.tickets_overdue, west.readiness) == (1, 0, 85.0)
    assert (rows[0].tickets_due, rows[0].tickets_overdue) == (2, 2)
    assert rows[2].alarms == 0 and rows[2].acknowledge_median_s is None


def test_the_report_reads_back_from_xlsx_and_pdf_in_chinese() -> None:
    since, _ = month_span("2026-11")
    rows = street_report([{"site": "shed-1", "street": "西溪街道", "class": "fire", "raised_at": since + 10,
                           "acknowledged_at": since + 75, "closed_at": None, "verdict": None}], [],
                         [("2026-11-02", "西溪街道", 88.5)], STREETS, now=since + 40 * 86400)
    sheet = load_workbook(io.BytesIO(report_as_xlsx(rows, "2026-11", "zh")))["2026-11"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][0] == "2026-11 街道消防安全晾晒"
    assert cells[1][:3] == ["排名", "街道", "警情"]
    assert cells[2][:6] == [1, "西溪街道", 1, 1, "–", "1:05"] and cells[2][9] == 88.5
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(report_as_pdf(rows, "2026-11", "zh",
                                                                                     since))).pages)
    for words in ("2026-11 街道消防安全晾晒", "西溪街道", "战备指数", "88.5", "1:05"):
        assert words in text, words
    english = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report_as_pdf(rows, "2026-11", "en",
                                                                                  since))).pages)
    assert "Street report 2026-11" in english and "Readiness index" in english
