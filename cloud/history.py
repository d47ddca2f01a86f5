"""The alarm history a duty centre keeps: what to look for (`HistoryQuery`, checked from a request's
parameters), and the rows found as CSV (UTF-8 with a byte-order mark, so that Excel shows the Chinese) and
as XLSX (openpyxl: the standard writer of the format). Pure: rows in, bytes out."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud.alarm_lifecycle import CLASS_ORDER

__all__ = ["COLUMNS", "HistoryQuery", "as_csv", "as_xlsx", "table"]

MOST = 5000  # rows in one answer or one export


@dataclass(frozen=True)
class HistoryQuery:
    """Closed and shelved alarms raised in [since, until), narrowed by street, site, class, result and a text
    found in the alarm's words, key, device, site or disposition notes."""

    since: float | None = None
    until: float | None = None
    street: str = ""
    site: str = ""
    cls: str = ""
    result: str = ""
    text: str = ""
    limit: int = 500

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> HistoryQuery:
        """From query parameters (since/until: epoch seconds); ValueError with the reason otherwise."""
        def number(name: str) -> float | None:
            raw = params.get(name, "")
            if not raw:
                return None
            value = float(raw)
            if not 0 <= value < 10**11:
                raise ValueError(f"{name} is a time in epoch seconds")
            return value
        wanted = params.get("class", "")
        if wanted and wanted not in CLASS_ORDER:
            raise ValueError(f"class is one of {', '.join(CLASS_ORDER)}")
        limit = int(params.get("limit") or 500)
        return cls(since=number("since"), until=number("until"), street=params.get("street", "")[:100],
                   site=params.get("site", "")[:100], cls=wanted, result=params.get("result", "")[:50],
                   text=params.get("text", "")[:200], limit=min(MOST, max(1, limit)))


# (key, Chinese header, English header) of every exported column, in order
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "编号", "Id"), ("raised", "报警时间", "Raised"), ("street", "街道", "Street"),
    ("site_name", "场所", "Site"), ("site", "场所编号", "Site id"), ("device", "设备", "Device"),
    ("class", "类别", "Class"), ("title", "警情", "Alarm"), ("handling", "处理状态", "Handling"),
    ("result", "处置结果", "Result"), ("notes", "处置经过", "Notes"), ("closed_by", "闭环人", "Closed by"),
    ("closed", "闭环时间", "Closed at"),
)
WORDS = {
    "zh": {"fire": "火警", "supervisory": "监管", "fault": "故障", "prewarning": "预警", "status": "状态",
           "closed": "已闭环", "shelved": "已屏蔽", "extinguished": "已扑灭", "cause_removed": "隐患已排除",
           "false_alarm": "误报", "device_fault": "设备故障", "drill": "演练/测试", "other": "其他"},
    "en": {"closed": "closed", "shelved": "shelved", "cause_removed": "cause removed", "false_alarm": "false alarm",
           "device_fault": "device fault", "drill": "drill / test"},
}


def table(alarms: Sequence[Mapping[str, Any]], site_names: Mapping[str, str], lang: str) -> list[list[Any]]:
    """The header and one row per alarm, worded in `lang` (zh or en), times in local 24-hour form."""
    words = WORDS.get(lang, WORDS["en"])
    rows: list[list[Any]] = [[zh if lang == "zh" else en for _, zh, en in COLUMNS]]
    for a in alarms:
        disposition = a.get("disposition") or {}
        handling = "closed" if a.get("handling") == "closed" else "shelved"
        values = {"id": a["id"], "raised": _local(a.get("raised_at")), "street": a.get("street") or "",
                  "site_name": site_names.get(a["site"], a["site"]), "site": a["site"], "device": a.get("device") or "",
                  "class": words.get(a.get("class", ""), a.get("class", "")),
                  "title": a.get("text") or a.get("rule") or "",
                  "handling": words.get(handling, handling),
                  "result": words.get(disposition.get("result", ""), disposition.get("result", "")),
                  "notes": disposition.get("notes", ""), "closed_by": disposition.get("who", ""),
                  "closed": _local(a.get("closed_at"))}
        rows.append([_safe(values[key]) for key, _, _ in COLUMNS])
    return rows


def as_csv(rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def as_xlsx(rows: Sequence[Sequence[Any]], title: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    for row in rows:
        sheet.append(list(row))
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHIJKLM", (7, 20, 12, 22, 20, 10, 8, 24, 10, 12, 40, 10, 20), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _local(t: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(t))) if t else ""


def _safe(value: Any) -> Any:
    """A cell a spreadsheet will not run: text from a device or a person that starts like a formula gets a
    leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
