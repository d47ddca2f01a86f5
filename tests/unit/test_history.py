"""The alarm history (cloud.history, Store.alarm_history) on SQLite and PostgreSQL: closed and shelved
alarms found by time, street, site, class, result and text; exported as CSV and XLSX that read back."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from openpyxl import load_workbook

from cloud.history import HistoryQuery, as_csv, as_xlsx, table
from cloud.store import Store
from tests.support.records import checked

STREETS = {"shed-1": "西溪街道", "cab-1": "翠苑街道"}


def _raise(store: Store, site: str, key: str, cls: str, record: str, t: float) -> int:
    store.store_records(site, "gw-" + site, checked([{
        "id": record, "type": "alarm", "key": key, "device": key.split("/")[0], "rule": key.split("/")[1],
        "class": cls, "severity": 1, "state": "active", "value": True, "t": t, "trusted": True,
        "text": "烟感报警" if cls == "fire" else "=柜门打开"}], site=site))
    return store.touched[0]


def _close(store: Store, alarm: int, result: str, notes: str, site: str, key: str, record: str) -> None:
    store.store_records(site, "gw-" + site, checked([{
        "id": record, "type": "alarm", "key": key, "device": key.split("/")[0], "rule": key.split("/")[1],
        "class": "fire", "severity": 1, "state": "cleared", "value": False}], site=site))
    for action in ("acknowledge", "verify", "false_alarm" if result == "false_alarm" else "confirm"):
        store.handle(alarm, action, "duty")
    if result != "false_alarm":
        store.handle(alarm, "dispose", "duty")
    store.handle(alarm, "close", "duty", disposition={"result": result, "notes": notes})


@pytest.fixture
def store(store_at: str) -> Iterator[Store]:
    store = Store(store_at, STREETS)
    yield store
    store.close()


def test_closed_and_shelved_alarms_are_found_by_what_an_officer_remembers(store: Store) -> None:
    fire = _raise(store, "shed-1", "sd1/smoke", "fire", "r1", 1_780_000_000)
    _close(store, fire, "extinguished", "电瓶车电池冒烟，已用灭火器扑灭", "shed-1", "sd1/smoke", "r2")
    door = _raise(store, "cab-1", "fc1/door_open", "supervisory", "r3", 1_780_100_000)
    store.handle(door, "acknowledge", "duty")
    store.mute(door, "shelve", 30, "duty", "物业维修柜门")
    _raise(store, "shed-1", "sd2/smoke", "fire", "r4", 1_780_200_000)  # still open: not history

    everything = store.alarm_history(HistoryQuery())
    assert [a["id"] for a in everything] == [door, fire]  # newest first, the open one left out
    assert everything[1]["closed_at"] is not None and everything[0]["closed_at"] is None
    assert everything[1]["disposition"] == {"result": "extinguished", "notes": "电瓶车电池冒烟，已用灭火器扑灭",
                                            "who": "duty"}
    find = store.alarm_history
    assert [a["id"] for a in find(HistoryQuery(street="西溪街道"))] == [fire]
    assert [a["id"] for a in find(HistoryQuery(cls="supervisory"))] == [door]
    assert [a["id"] for a in find(HistoryQuery(result="extinguished"))] == [fire]
    assert [a["id"] for a in find(HistoryQuery(text="灭火器"))] == [fire]  # in the disposition's notes
    assert [a["id"] for a in find(HistoryQuery(text="100%"))] == []  # a wildcard in the text is a character
    assert [a["id"] for a in find(HistoryQuery(since=1_780_050_000, until=1_780_150_000))] == [door]
    assert [a["id"] for a in find(HistoryQuery(site="cab-1"))] == [door]


def test_the_history_exports_as_csv_and_xlsx_in_chinese_that_read_back(store: Store) -> None:
    fire = _raise(store, "shed-1", "sd1/smoke", "fire", "r1", 1_780_000_000)
    _close(store, fire, "false_alarm", "=HYPERLINK(\"http://x\")", "shed-1", "sd1/smoke", "r2")
    rows = table(store.alarm_history(HistoryQuery()), {"shed-1": "西溪路1号充电棚"}, "zh")
    raw = as_csv(rows)
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens UTF-8 with a byte-order mark as Chinese
    parsed = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert parsed[0]["场所"] == "西溪路1号充电棚" and parsed[0]["类别"] == "火警"
    assert parsed[0]["处置结果"] == "误报" and parsed[0]["闭环人"] == "duty"
    assert parsed[0]["处置经过"] == "'=HYPERLINK(\"http://x\")"  # never a formula in a spreadsheet
    sheet = load_workbook(io.BytesIO(as_xlsx(rows, "警情历史")))["警情历史"]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][:4] == ["编号", "报警时间", "街道", "场所"]
    assert values[1][0] == fire and values[1][3] == "西溪路1号充电棚" and values[1][9] == "误报"
    english = table(store.alarm_history(HistoryQuery()), {}, "en")
    assert english[0][1] == "Raised" and english[1][9] == "false alarm"


def test_a_bad_query_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="class is one of"):
        HistoryQuery.from_params({"class": "meltdown"})
    with pytest.raises(ValueError, match="epoch seconds"):
        HistoryQuery.from_params({"since": "-5"})
    assert HistoryQuery.from_params({"limit": "999999"}).limit == 5000
