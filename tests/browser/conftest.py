"""A small district for the console's browser tests: our own mosquitto, the example sites' simulators
and edge agents, the collector as a process with the example inventory and one user per role, and
Debian's chromium driven by Playwright (never a downloaded browser). One district per test module.

Screenshots go to $FF_SCREENSHOTS (`make screenshots` points it at docs/screenshots), else to
.screenshots/ at the top of the checkout (ignored by git).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from edge.agent import EdgeAgent
from simulators.harness import SimulationHandle, running_simulation
from simulators.monitoring_centre import Centre, running_centre
from simulators.notify_provider import Provider, running_provider
from tests.conftest import ROOT, SITES
from tests.support.agents import running_agent
from tests.support.centre import centre_mapping
from tests.support.collector_process import CollectorProcess
from tests.support.mosquitto import Mosquitto

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
USERS = {"duty": ("duty_officer", "duty-pass-1"), "maint": ("maintenance", "maint-pass-1"),
         "viewer": ("district_viewer", "viewer-pass-1"), "admin": ("admin", "admin-pass-1")}
DUTY_MONITOR = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


NOTIFY_SECRET, DINGTALK_SECRET = "sms-voice-account-secret", "dingtalk-robot-secret"


@dataclass
class District:
    sim: SimulationHandle
    collector: CollectorProcess
    browser: Browser
    shots: Path
    provider: Provider  # the SMS, voice and group-robot platforms the notification plan sends through
    centre: Centre  # the city's monitoring centre (GB/T 26875.3), the example mapping's sites sending to it
    problems: list[str] = field(default_factory=list)  # uncaught page errors, from every page opened
    agents: dict[str, EdgeAgent] = field(default_factory=dict)  # by gateway id

    async def page(self, user: str = "duty", *, lang: str = "zh-CN", viewport: dict[str, int] | None = None,
                   touch: bool = False) -> Page:
        """A new browser context signed in as `user`, showing the console in `lang` (`touch`: a phone's
        touch screen, without a mouse to hover)."""
        context = await self.browser.new_context(viewport=viewport or DUTY_MONITOR, locale=lang,  # type: ignore[arg-type]
                                                 has_touch=touch, is_mobile=touch)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"{page.url}: {error}"))
        await page.goto(self.collector.url + "/")
        await page.evaluate("code => localStorage.setItem('ff-lang', code)", "en" if lang == "en" else "zh-CN")
        await page.reload()
        if user:
            await sign_in(page, user)
        return page

    async def shot(self, page: Page, name: str) -> None:
        await page.wait_for_timeout(300)  # let charts and fonts settle
        await page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.sim.control_url, timeout=5) as client:
            response = await client.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    async def api(self, path: str, user: str = "duty", body: Any = None) -> Any:
        """A GET (or with `body`, a POST) to the collector's API as `user`."""
        async with httpx.AsyncClient(base_url=self.collector.url, timeout=10) as client:
            login = await client.post("/api/login", json={"user": user, "password": USERS[user][1], "token": True})
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            response = await (client.get(path, headers=headers) if body is None
                              else client.post(path, headers=headers, json=body))
            response.raise_for_status()
            return response.json()


async def sign_in(page: Page, user: str) -> None:
    await page.fill("#login-user", user)
    await page.fill("#login-password", USERS[user][1])
    await page.click("#login-submit")
    await page.wait_for_selector("header.top")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def district(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[District]:
    if not Path(CHROMIUM).exists() or shutil.which("mosquitto") is None:
        pytest.fail("the browser tests need Debian's chromium and mosquitto: .ci/run installs both when missing")
    folder = tmp_path_factory.mktemp("district")
    shots = Path(os.environ.get("FF_SCREENSHOTS") or ROOT / ".screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(folder / "mq")
    broker.start()
    plan = folder / "notifications.yaml"
    collector = CollectorProcess(folder / "cloud", broker.url, inventory=ROOT / "deploy/examples/inventory.yaml",
                                 users=[f"{name}:{role}:{password}" for name, (role, password) in USERS.items()],
                                 extra=["--ticket-offline-after", "5", "--upkeep-every", "2", "--notifications",
                                        str(plan), "--uitd", str(folder / "gb26875.yaml")])
    site_files = [SITES / "charging-shed.yaml", SITES / "micro-station.yaml", SITES / "fire-cabinets.yaml"]
    try:
        async with contextlib.AsyncExitStack() as stack:
            # the example plan, through a provider simulator here, its second step after 4 s instead of 60
            provider = await stack.enter_async_context(running_provider(Provider(
                NOTIFY_SECRET, collector.url, DINGTALK_SECRET)))
            plan.write_text((ROOT / "deploy/examples/notifications.yaml").read_text()
                            .replace("http://127.0.0.1:8765", provider.url).replace("after: 60s", "after: 4s"))
            os.environ.update(FF_NOTIFY_SECRET=NOTIFY_SECRET, FF_DINGTALK_SECRET=DINGTALK_SECRET)
            centre = await stack.enter_async_context(running_centre(Centre()))
            centre_mapping(folder / "gb26875.yaml", centre.port)
            await collector.start()
            sim = await stack.enter_async_context(running_simulation(site_files, folder / "run"))
            agents = {}
            for index, site_file in enumerate(site_files):
                agent = await stack.enter_async_context(running_agent(site_file, sim, folder / f"agent{index}",
                                                                      broker_url=broker.url))
                agents[agent.site.gateway_id] = agent
            playwright = await stack.enter_async_context(async_playwright())
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            stack.push_async_callback(browser.close)
            yield District(sim=sim, collector=collector, browser=browser, shots=shots, provider=provider,
                           centre=centre, agents=agents)
    finally:
        await collector.stop()
        broker.stop()
