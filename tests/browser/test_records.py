"""Issue 14, part 4 on a running district: the records a duty centre keeps, in the console."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import expect
from pypdf import PdfReader

from tests.browser.conftest import District
from tests.conftest import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="module")
SLOW = 90_000  # ms
CABINETS = "cabinets-cuiyuan-01"


async def closed_door_alarm(district: District, device: str, notes: str) -> int:
    """A cabinet door opened and shut again, its alarm taken to a close as a false alarm through the API."""
    await district.control("POST", f"/sites/{CABINETS}/devices/{device}/signals", {"values": {"door_open": True}})
    deadline = time.monotonic() + SLOW / 1000
    while not (found := [a for a in await district.api("/api/alarms") if a["key"] == f"{device}/door_open"]):
        assert time.monotonic() < deadline, "the door alarm never came"
        await asyncio.sleep(0.5)
    await district.control("POST", f"/sites/{CABINETS}/devices/{device}/signals", {"values": {"door_open": False}})
    alarm = found[0]["id"]
    while (await district.api(f"/api/alarms/{alarm}"))["condition"] != "cleared":
        assert time.monotonic() < deadline, "the door never closed at the collector"
        await asyncio.sleep(0.5)
    for action in ("acknowledge", "verify", "false_alarm"):
        await district.api(f"/api/alarms/{alarm}/actions", body={"action": action})
    await district.api(f"/api/alarms/{alarm}/actions",
                       body={"action": "close", "disposition": {"result": "false_alarm", "notes": notes}})
    return int(alarm)


async def test_history_finds_a_closed_alarm_opens_it_and_exports_it(district: District, tmp_path: Path) -> None:
    """Before: a closed alarm left the console for good (only ?all=1 in the API had it)."""
    alarm = await closed_door_alarm(district, "fc2", "物业巡检时未关好柜门")
    page = await district.page("duty")
    await page.click("header nav a[href='#/history']")
    await page.fill('#history-filters input[name="text"]', "巡检")
    await page.click("#history-search")
    rows = page.locator("#history-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("误报")
    await expect(rows.first).to_contain_text("物业巡检时未关好柜门")
    await district.shot(page, "history-zh")

    async with page.expect_download() as got:
        await page.click("#export-csv")
    saved = tmp_path / "history.csv"
    await (await got.value).save_as(saved)
    exported = list(csv.DictReader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    assert [(int(r["编号"]), r["处置结果"], r["处置经过"]) for r in exported] == [
        (alarm, "误报", "物业巡检时未关好柜门")]
    async with page.expect_download() as got:
        await page.click("#export-xlsx")
    await (await got.value).save_as(tmp_path / "history.xlsx")
    sheet = load_workbook(tmp_path / "history.xlsx").active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][0] == "编号" and cells[1][0] == alarm and "物业巡检时未关好柜门" in cells[1]

    await rows.first.locator("a").click()  # the alarm's own page, with how it was closed
    await expect(page.locator("#detail-handling")).to_have_text("已闭环")
    await expect(page.locator("#detail-disposition")).to_contain_text("物业巡检时未关好柜门")
    english = await district.page("duty", lang="en")
    await english.goto(f"{district.collector.url}/#/history")
    await english.click("#history-search")
    await expect(english.locator("#history-table")).to_be_visible()
    await district.shot(english, "history-en")


async def test_an_admin_creates_a_user_who_signs_in_and_then_disables_them(district: District) -> None:
    """Before: users and the audit trail were only in the API."""
    page = await district.page("admin")
    await page.click("header nav a[href='#/admin']")
    await expect(page.locator("#page-admin")).to_be_visible()
    await page.fill("#new-user-name", "li.na")
    await page.fill("#new-user-password", "夜班值班员的登录密码")
    await page.select_option("#new-user-role", "duty_officer")
    await page.click("#new-user-submit")
    await expect(page.locator("#admin-done")).to_contain_text("li.na")
    row = page.locator('#users tr[data-user="li.na"]')
    await expect(row).to_contain_text("启用")

    other = await district.page(user="")
    await other.fill("#login-user", "li.na")
    await other.fill("#login-password", "夜班值班员的登录密码")
    await other.click("#login-submit")
    await expect(other.locator("#page-duty")).to_be_visible()  # a duty officer's first page
    await expect(other.locator("header nav a[href='#/admin']")).to_have_count(0)  # not an admin's page

    await row.locator("button[data-disable]").click()
    await expect(row).to_contain_text("已停用")
    await other.reload()
    await expect(other.locator("#login-submit")).to_be_visible(timeout=SLOW)  # signed out at once

    # The last admin cannot be disabled, in words; the trail shows what happened, filtered by its target.
    await page.locator('#users tr[data-user="admin"] button[data-disable]').click()
    await expect(page.locator("#admin-error")).to_contain_text("不能停用自己的账号")
    await page.fill('#audit-filters input[name="text"]', "li.na")
    await page.click("#audit-search")
    actions = page.locator("#audit-table tbody tr td:nth-child(3)")
    await expect(actions).to_have_text(["停用用户", "登录", "新建/重设用户"])
    await district.shot(page, "admin-zh")
    english = await district.page("admin", lang="en")
    await english.goto(f"{district.collector.url}/#/admin")
    await expect(english.locator("#audit-table")).to_be_visible()
    await district.shot(english, "admin-en")


async def test_a_handover_is_written_with_what_stands_open_and_accepted_by_the_next_officer(
        district: District) -> None:
    """Before: no handover at all."""
    await district.api("/api/users", "admin", {"name": "duty2", "password": "接班值班员的登录密码",
                                               "role": "duty_officer"})
    page = await district.page("duty")
    await page.click("header nav a[href='#/shift']")
    await page.fill("#handover-note", "3幢柜门报警为误报已闭环；西溪充电棚端口需明早检修")
    await page.click("#handover-submit")
    written = page.locator("#handovers article").first
    await expect(written).to_contain_text("待接班")
    await expect(written).to_contain_text("交班时：未闭环")
    await expect(written.locator("button[data-accept]")).to_have_count(0)  # not by the one who wrote it

    incoming = await district.page(user="")
    await incoming.fill("#login-user", "duty2")
    await incoming.fill("#login-password", "接班值班员的登录密码")
    await incoming.click("#login-submit")
    await incoming.goto(f"{district.collector.url}/#/shift")
    await incoming.locator("#handovers article").first.locator("button[data-accept]").click()
    await expect(incoming.locator("#handovers article").first).to_contain_text("duty2 已接班")
    await district.shot(incoming, "shift-zh")
    english = await district.page("duty", lang="en")
    await english.goto(f"{district.collector.url}/#/shift")
    await expect(english.locator("#handovers article").first).to_contain_text("accepted by duty2")
    await district.shot(english, "shift-en")
    trail = [e["action"] for e in await district.api("/api/audit?text=duty", "admin")]
    assert "handover written" in trail and "handover accepted" in trail


async def test_a_duty_check_is_answered_from_any_page_and_a_missed_one_is_recorded(district: District) -> None:
    """Before: no duty check at all."""
    officer = await district.page("duty")
    await officer.goto(f"{district.collector.url}/#/map")
    admin = await district.page("admin")
    await admin.goto(f"{district.collector.url}/#/shift")
    await admin.fill("#check-within", "30")
    await admin.click("#check-send")
    banner = officer.locator("#duty-check")
    await expect(banner).to_be_visible(timeout=SLOW)  # on the map page, pushed by the event stream
    await district.shot(officer, "duty-check-zh")
    await officer.click("#duty-check-answer")
    await expect(banner).to_have_count(0)
    await expect(admin.locator("#check-table tbody tr").first).to_contain_text("duty", timeout=SLOW)
    await expect(admin.locator("#check-table tbody tr").first).to_have_attribute("data-state", "answered")

    await admin.fill("#check-within", "10")
    await admin.click("#check-send")
    await expect(banner).to_be_visible(timeout=SLOW)
    await expect(officer.locator("#duty-check-missed")).to_be_visible(timeout=SLOW)  # nobody answered in 10 s
    await expect(admin.locator("#check-table tbody tr").first).to_have_attribute("data-state", "missed",
                                                                                 timeout=SLOW)
    missed = await district.api("/api/audit?action=duty%20check%20missed", "admin")
    assert len(missed) == 1 and missed[0]["who"] == "collector"


async def test_statistics_show_the_same_figures_as_the_api(district: District) -> None:
    """Before: no statistics at all."""
    figures = await district.api("/api/statistics")
    assert figures["alarms"] >= 1 and figures["verdicts"] >= 1  # the false alarm closed by the history test
    page = await district.page("duty")
    await page.click("header nav a[href='#/stats']")
    await expect(page.locator("#stats-figures")).to_be_visible(timeout=SLOW)
    await expect(page.locator("#false-rate")).to_contain_text(f"{100 * figures['false_alarm_rate']:.1f} %")
    drawn = await page.locator("#by-class rect.bar").evaluate_all("bars => bars.map(b => Number(b.dataset.count))")
    assert sorted(drawn) == sorted(figures["by_class"].values())
    await district.shot(page, "stats-zh")
    english = await district.page("duty", lang="en")
    await english.goto(f"{district.collector.url}/#/stats")
    await expect(english.locator("#stats-figures")).to_be_visible()
    await district.shot(english, "stats-en")


async def test_the_monthly_street_report_is_shown_and_downloads_as_pdf_and_xlsx(
        district: District, tmp_path: Path) -> None:
    """Before: no street report."""
    month = time.strftime("%Y-%m")
    expected = (await district.api(f"/api/reports/streets?month={month}"))["streets"]
    assert expected, "no street in this month's report"
    page = await district.page("duty")
    await page.goto(f"{district.collector.url}/#/stats")
    await expect(page.locator("#street-report")).not_to_be_empty(timeout=SLOW)  # last month's, drawn first
    await page.fill("#report-month", month)
    await page.click("#report-show")
    rows = page.locator("#report-table tbody tr")
    await expect(rows).to_have_count(len(expected), timeout=SLOW)
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.street)") == [s["street"] for s in expected]
    async with page.expect_download() as got:
        await page.click("#report-pdf")
    await (await got.value).save_as(tmp_path / "report.pdf")
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "report.pdf").pages)
    assert f"{month} 街道消防安全晾晒" in text
    assert all(s["street"] in text for s in expected)
    async with page.expect_download() as got:
        await page.click("#report-xlsx")
    await (await got.value).save_as(tmp_path / "report.xlsx")
    sheet = load_workbook(tmp_path / "report.xlsx").active
    assert sheet is not None
    streets = [row[1].value for row in sheet.iter_rows(min_row=3)]
    assert streets == [s["street"] for s in expected]
    await district.shot(page, "street-report-zh")
    english = await district.page("duty", lang="en")
    await english.goto(f"{district.collector.url}/#/stats")
    await expect(english.locator("#street-report")).not_to_be_empty(timeout=SLOW)  # last month's, drawn first
    await english.fill("#report-month", month)
    await english.click("#report-show")
    await expect(english.locator("#report-table")).to_be_visible(timeout=SLOW)
    await district.shot(english, "street-report-en")


SNAKE = r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b"  # a raw key: smoke_alarm, ebike_in_lift, device_offline


async def test_no_page_shows_a_raw_key_in_either_language(district: District) -> None:
    """Before: smoke_alarm, ebike_in_lift, em1:vehicle2.soc, device_offline and `street` as a ticket level on
    the pages. Every page is read as a person sees it (innerText), in Chinese and in English."""
    await district.control("POST", f"/sites/{CABINETS}/devices/fc4/signals", {"values": {"door_open": True}})
    alarms = await district.api("/api/alarms")
    pages = ["duty", f"duty/{alarms[0]['id']}" if alarms else "duty", "history", "stats", "shift", "map",
             "maintenance", "readiness", "site/shed-xixi-01", "site/station-wenxin-01", f"site/{CABINETS}",
             "device/shed-xixi-01/box1", "device/shed-xixi-01/spr1", "device/shed-xixi-01/sd1",
             "device/station-wenxin-01/em1", f"device/{CABINETS}/fc4", "admin", "centre", "fleet", "rollouts"]
    found: dict[str, list[str]] = {}
    for lang in ("zh-CN", "en"):
        page = await district.page("admin", lang=lang)
        for path in pages:
            await page.goto(f"{district.collector.url}/#/{path}")
            await expect(page.locator("main")).to_be_visible()
            await page.wait_for_load_state("networkidle")
            await page.wait_for_timeout(300)
            if path == "history":
                await page.click("#history-search")
                await page.wait_for_timeout(300)
            text = await page.evaluate("() => document.body.innerText")
            keys = sorted(set(re.findall(SNAKE, text)))
            if keys:
                found[f"{lang} #/{path}"] = keys
    assert found == {}, found


async def test_a_plan_is_uploaded_a_device_placed_and_highlighted_on_its_alarm(district: District) -> None:
    """Issue 15.2: an admin uploads a plan and places a detector on it by hand; the detector's alarm shows it."""
    shed = "shed-xixi-01"
    page = await district.page("admin")
    await page.goto(f"{district.collector.url}/#/site/{shed}")
    await page.set_input_files("#plan-file", str(ROOT / "deploy/examples/plans/charging-shed.svg"))
    await page.fill("#plan-name", "充电棚一层")
    await page.click("#plan-upload-submit")
    board = page.locator(".plan-board")
    await expect(board).to_be_visible(timeout=SLOW)
    await page.click('[data-place="sd2"]')
    box = await board.bounding_box()
    assert box is not None
    await page.mouse.click(box["x"] + 0.2 * box["width"], box["y"] + 0.5 * box["height"])
    dot = page.locator('.plan-dot[data-device="sd2"]')
    await expect(dot).to_be_visible()
    # dragged to where it really is, then saved
    start = await dot.bounding_box()
    assert start is not None
    await page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 0.55 * box["width"], box["y"] + 0.45 * box["height"], steps=8)
    await page.mouse.up()
    await page.click("[data-save-plan]")
    await expect(page.locator("#site-plans")).to_contain_text("位置已保存")
    (plan,) = await district.api(f"/api/sites/{shed}/plans")
    assert plan["name"] == "充电棚一层"
    assert abs(plan["positions"]["sd2"]["x"] - 0.55) < 0.03 and abs(plan["positions"]["sd2"]["y"] - 0.45) < 0.03
    await district.shot(page, "plan-edit-zh")

    await district.control("POST", f"/sites/{shed}/devices/sd2/signals", {"values": {"alarm_state": "alarm"}})
    deadline = time.monotonic() + SLOW / 1000
    while not (found := [a for a in await district.api("/api/alarms") if a["key"] == "sd2/smoke"]):
        assert time.monotonic() < deadline, "the smoke alarm never came"
        await asyncio.sleep(0.5)
    duty = await district.page("duty")
    await duty.goto(f"{district.collector.url}/#/duty/{found[0]['id']}")
    await expect(duty.locator('#detail-plan .plan-dot.highlight[data-device="sd2"]')).to_be_visible(timeout=SLOW)
    await district.shot(duty, "alarm-plan-zh")
    english = await district.page("duty", lang="en")
    await english.goto(f"{district.collector.url}/#/duty/{found[0]['id']}")
    await expect(english.locator("#detail-plan")).to_contain_text("Floor plan")
    await district.shot(english, "alarm-plan-en")
    await district.control("POST", f"/sites/{shed}/devices/sd2/signals", {"values": {"alarm_state": "normal"}})
