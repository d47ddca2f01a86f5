"""Start the collector from the command line: MQTT consumer, HTTP API, escalation, in one task group."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import structlog
import uvicorn

from cloud.api import build_api
from cloud.auth import Auth
from cloud.change_feed import CHANNEL, ChangeFeed
from cloud.collector import Collector
from cloud.escalation import escalate_due
from cloud.event_hub import EventHub
from cloud.ingest import Ingest
from cloud.inventory import load_inventory
from cloud.leadership import Leadership
from cloud.notifiers import SmtpNotifier, WebhookNotifier, notify_all
from cloud.notify_job import run_notifications
from cloud.notify_plan import NotifyPlan, load_notify_plan
from cloud.readiness_report import snapshot_readiness
from cloud.rollout_job import run_rollouts
from cloud.store import Store
from cloud.store.readers import StoreReaders
from cloud.store.writer import StoreWriter, Writer
from cloud.uitd import run_uitd
from cloud.uitd_mapping import UitdMapping, load_uitd_mapping
from devices.broker_url import BrokerConfig
from devices.contract import Command
from devices.downlink_auth import Signer, generate_keys
from devices.episodes import Episodes
from devices.errors import SiteConfigError
from devices.labels import load_labels
from devices.mqtt_transport import MqttConnector
from devices.profile import Profile
from devices.profile_loader import load_profile_dir

__all__ = ["run_from_args"]

log = structlog.get_logger("firefleet.cloud")
INCOMING_QUEUE = 20_000  # messages per broker connection: about 2 s of a city's telemetry
BEHIND = 500  # messages waiting in the collector's queues: too many to judge gateways silent


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: our task group owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_from_args(args: argparse.Namespace) -> int:
    structlog.configure(processors=[structlog.processors.add_log_level,
                                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                                    structlog.processors.JSONRenderer()])
    try:
        brokers = [BrokerConfig.from_url(url, args.ca_file) for url in args.broker or ["mqtt://127.0.0.1:1883"]]
    except ValueError as exc:
        raise SiteConfigError(str(exc), field="--broker") from None
    inventory = load_inventory(args.inventory) if args.inventory else None
    notify_plan = load_notify_plan(args.notifications) if args.notifications else None
    uitd = load_uitd_mapping(args.uitd) if args.uitd else None
    host, _, port = args.http.rpartition(":")
    if not port.isdigit():
        raise SiteConfigError(f"--http must be HOST:PORT, got {args.http!r}", field="--http")
    shared_db = str(args.db).startswith(("postgresql://", "postgres://"))
    if shared_db and not args.signing_key:
        raise SiteConfigError("with a PostgreSQL store, give --signing-key: every collector of the district signs "
                              "with the same key", field="--signing-key")
    try:
        store = Store(args.db, streets={s: v["street"] for s, v in (inventory or {}).items()})
    except ImportError as exc:
        raise SiteConfigError(f"a PostgreSQL store needs psycopg: pip install 'firefleet[postgres]' ({exc})",
                              field="--db") from None
    except Exception as exc:  # the database's own error (unreachable, refused, bad name): said, not a trace
        if not shared_db:
            raise
        raise SiteConfigError(f"cannot open the store: {str(exc).strip().splitlines()[0]}", field="--db") from None
    log.info("store opened", at=store.describe)
    auth = Auth(store)
    for spec in args.user or []:
        name, _, rest = spec.partition(":")
        role, _, password = rest.partition(":")
        try:
            auth.ensure_user(name, password, role)
        except ValueError as exc:
            raise SiteConfigError(f"--user {name}: {exc}", field="--user") from None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host or "127.0.0.1", int(port)))
    except OSError as exc:
        raise SiteConfigError(f"cannot listen on {args.http}: {exc.strerror}", field="--http") from None
    gateways = {v["gateway"]: s for s, v in (inventory or {}).items()}
    if not gateways and not args.open_enrolment:
        raise SiteConfigError("no gateway would be accepted: give --inventory, or --open-enrolment for a lab",
                              field="--inventory")
    # Each connection's incoming queue is bounded: past it, a message is dropped unread and never
    # acknowledged, so its gateway sends it again later (docs/operations.md, back-pressure).
    signer = _signer(args.signing_key or Path(args.db).parent / "collector-signing.key")
    ingest = Ingest(gateways, open_enrolment=args.open_enrolment)
    writer = StoreWriter(args.db, store.streets)  # every write of ingest and the API, off the loop (see _serve)
    collectors = [Collector(MqttConnector(broker, max_queued_incoming=INCOMING_QUEUE), store, ingest, signer,
                            shared=not args.no_shared, write=writer) for broker in brokers]  # one per broker
    notifiers: list[Any] = []
    if args.webhook:
        notifiers.append(WebhookNotifier(args.webhook))
    if args.smtp:
        smtp_host, _, smtp_port = args.smtp.rpartition(":")
        addresses = dict(item.split("=", 1) for item in args.email or [] if "=" in item)
        notifiers.append(SmtpNotifier(smtp_host or "127.0.0.1", int(smtp_port or 25), args.smtp_from, addresses))
    profiles = load_profile_dir(args.profiles)
    unlabelled = load_labels().missing(profiles.values())
    if unlabelled:  # shown by name on the console until firmware-profiles/labels.yaml has them
        log.warning("points without a label", count=len(unlabelled),
                    first=[f"{profile.id}:{point}" for profile, point in unlabelled[:10]])
    return asyncio.run(_serve(store, writer, auth, collectors, sock, shared_db=args.db if shared_db else None,
                              profiles=profiles, roster=args.roster or [],
                              inventory=inventory or {}, notifiers=notifiers, notify_plan=notify_plan, uitd=uitd,
                              upkeep=(args.upkeep_every, args.ticket_offline_after),
                              duty_checks=(args.duty_check_every, args.duty_check_within)))


def _signer(path: Path) -> Signer:
    """The collector's signing key; made on first start where none is given (its .pub goes to gateways)."""
    if not path.exists():
        generate_keys(path.parent, path.stem)
        log.warning("made a new signing key: give gateways its public key", key=str(path),
                    public=str(path.with_suffix(".pub")))
    try:
        signer = Signer.from_file(path)
    except ValueError as exc:
        raise SiteConfigError(str(exc), field="--signing-key") from None
    log.info("signing downlink messages", key_id=signer.kid)
    return signer


async def _serve(store: Store, writer: StoreWriter, auth: Auth, collectors: list[Collector], sock: socket.socket, *,
                 shared_db: str | None,
                 profiles: Mapping[str, Profile], roster: list[str],
                 inventory: dict[str, dict[str, Any]], notifiers: list[Any], upkeep: tuple[float, float],
                 duty_checks: tuple[float, float] = (0.0, 60.0), notify_plan: NotifyPlan | None = None,
                 uitd: UitdMapping | None = None) -> int:
    hub = EventHub()
    readers = StoreReaders(shared_db or store.describe, store.streets)  # the API's reads, off this loop
    # alarms read for the event streams on a reader of their own: never behind a city's site list
    alarm_reads = StoreReaders(shared_db or store.describe, store.streets, threads=1)
    feed = ChangeFeed(shared_db, lambda alarm_id: alarm_reads(lambda s: s.alarm(alarm_id)))
    if shared_db:  # the alarms ingest changes are announced in the transaction that stores them
        def announce(s: Store, ids: list[int]) -> None:
            for alarm_id in ids:
                s.sql.execute("SELECT pg_notify(?, ?)", (CHANNEL, feed.alarm_note(alarm_id)))

        writer.after_write = announce
    hub.relay = feed.announce
    lead = Leadership(shared_db)
    changed: asyncio.Queue[list[int]] = asyncio.Queue()

    def alarms_changed(ids: list[int]) -> None:
        changed.put_nowait(ids)  # read and published in order by `_publish_alarms`, off the loop

    for collector in collectors:
        collector.on_alarm_change = alarms_changed
        collector.on_health_change = lambda change: hub.publish({"type": "health", **change})
        collector.on_site_change = lambda site: hub.publish({"type": "site", "site": site})

    async def send_command(site: str, gateway: str, command: Command, ttl: float = 300.0) -> None:
        """On every broker: the gateway is on one of them (it runs a command id once)."""
        failed: list[ConnectionError] = []
        for collector in collectors:
            try:
                await collector.send_command(site, gateway, command, ttl)
            except ConnectionError as exc:
                failed.append(exc)
        if len(failed) == len(collectors):
            raise failed[0]

    # the leader's jobs on a writer of their own: a walk over a city's devices never holds up a fire's write
    jobs = StoreWriter(shared_db or store.describe, store.streets)

    def live() -> dict[str, Any]:
        """This process's own counts, read at each scrape of /metrics."""
        ingest = collectors[0].ingest
        return {"accepted": ingest.accepted, "refused": dict(ingest.refused),
                "rejected_records": ingest.rejected_records, "backlog": sum(c.backlog() for c in collectors),
                "gaps": sum(c.gaps for c in collectors), "failures": sum(c.failures for c in collectors),
                "write_queue": writer.waiting, "commits": writer.commits, "commit_seconds": writer.commit_seconds,
                "stream_dropped": hub.dropped,
                "notifier_failures": {type(n).__name__: n.failures for n in notifiers}}

    app = build_api(store, auth, hub, send_command, inventory, profiles, readers, writer, notify_plan, live)
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sock.listen(128)
    print(f"collector API on http://{sock.getsockname()[0]}:{sock.getsockname()[1]}/api "
          f"(OpenAPI: /api/openapi.json)", flush=True)
    try:
        async with asyncio.TaskGroup() as tg:
            consumers = [tg.create_task(c.run(), name=f"collector:{c.connector.describe}") for c in collectors]
            api = tg.create_task(server.serve(sockets=[sock]), name="http")
            others = tg.create_task(feed.run(hub.deliver), name="other-collectors")
            publisher = tg.create_task(_publish_alarms(changed, alarm_reads, hub), name="alarm-events")
            leader = tg.create_task(lead.run(), name="leadership")
            escalator = tg.create_task(_escalate(jobs, hub, roster, notifiers, lead), name="escalation")
            keeper = tg.create_task(_upkeep(jobs, inventory, *upkeep, lead), name="tickets-and-readiness")
            watcher = tg.create_task(_liveness(jobs, hub, lead, collectors), name="gateway-liveness")
            checks = tg.create_task(_duty_checks(jobs, hub, notifiers, roster, lead, *duty_checks), name="duty-checks")
            notifying = tg.create_task(run_notifications(
                jobs, hub, notify_plan, lead, lambda site: str(inventory.get(site, {}).get("name", site))),
                name="notifications") if notify_plan is not None else None
            centre = tg.create_task(run_uitd(jobs, hub, uitd, lead), name="uitd") if uitd is not None else None
            rolling = tg.create_task(run_rollouts(jobs, send_command, lead), name="rollouts")
            await stop.wait()
            server.should_exit = True
            await api
            for task in (*consumers, escalator, keeper, watcher, checks, others, leader, publisher, notifying,
                         centre, rolling):
                if task is not None:
                    task.cancel()
    finally:
        readers.close()
        alarm_reads.close()
        jobs.close()
        writer.close()
        store.close()
    return 0


async def _publish_alarms(changed: asyncio.Queue[list[int]], readers: StoreReaders, hub: EventHub) -> None:
    """The alarms ingest changed, read as they are now (on a reader thread) and published in the order they
    changed; whatever changed meanwhile is read in the same trip."""
    while True:
        ids = await changed.get()
        while not changed.empty():
            ids += changed.get_nowait()
        wanted = list(dict.fromkeys(ids))
        try:
            alarms = await readers(functools.partial(_alarms, ids=wanted))
        except Exception as exc:  # the store is away: the console's next load shows them
            log.error("changed alarms not read", error=f"{type(exc).__name__}: {exc}", alarms=len(wanted))
            continue
        for alarm in alarms:
            if alarm is not None:  # to this collector's clients; the others heard of it at its commit
                hub.deliver({"type": "alarm", "alarm": alarm})


def _alarms(store: Store, *, ids: list[int]) -> list[dict[str, Any] | None]:
    return [store.alarm(alarm_id) for alarm_id in ids]


async def _upkeep(write: Writer, inventory: dict[str, dict[str, Any]], every: float, offline_after: float,
                  lead: Leadership) -> None:
    """Every minute: open or review maintenance tickets, keep today's readiness, prune old readings.
    Each job fails alone: it is logged and tried again next round, and the collector keeps running."""
    jobs: dict[str, Callable[[Store], object]] = {
        "tickets": lambda s: _log_ticket_changes(s.evaluate_tickets(time.time(), offline_after)),
        "readiness": lambda s: snapshot_readiness(s, inventory),
        "retention": lambda s: s.prune_readings(time.time()),
        "command expiry": lambda s: s.expire_commands(time.time()),
    }
    failing: set[str] = set()
    while True:
        for name, job in jobs.items():
            if lead.held:  # once per district: on the leading collector
                await _isolated(name, write, job, failing)
        await asyncio.sleep(every)


def _log_ticket_changes(changes: list[dict[str, Any]]) -> None:
    for change in changes:
        log.info("ticket " + change["status"], site=change["site"], device=change["device"], kind=change["kind"])


async def _isolated(name: str, write: Writer, job: Callable[[Store], object], failing: set[str]) -> object:
    """Run one background job on the writer; its failure is logged once (until it succeeds again), never
    raised."""
    try:
        result = await write(job)
    except Exception as exc:  # a background job must not end the collector; cancellation is not caught
        if name not in failing:
            failing.add(name)
            log.error("background job failed", job=name, error=f"{type(exc).__name__}: {exc}")
        return None
    if name in failing:
        failing.discard(name)
        log.info("background job recovered", job=name)
    return result


async def _liveness(write: Writer, hub: EventHub, lead: Leadership, collectors: list[Collector],
                    every: float = 5.0) -> None:
    """A gateway whose heartbeats stopped (2.5 intervals) without a death reaching us is gone all the same:
    a broker restart or a collector that started after the death would otherwise never notice.

    Never for the collector's own lag: while its incoming queue holds more than BEHIND messages, the
    heartbeats may be in it, so the watch starts again from when it caught up (as at start-up). Without
    this, a collector behind by a few heartbeat intervals declared thousands of gateways lost, asked each
    for a rebirth when its heartbeat came through, and fell further behind."""
    failing: set[str] = set()
    started = time.time()
    behind = Episodes(log)
    while True:
        await asyncio.sleep(every)
        backlog = sum(c.backlog() for c in collectors)
        if backlog > BEHIND:
            started = time.time()
            behind.problem("behind", "liveness held back: this collector is behind", backlog=backlog)
            continue
        behind.resolved("behind", "liveness watching again: caught up")
        if not lead.held:
            continue
        silent = await _isolated("liveness", write, functools.partial(_silent, since=started), failing)
        for site, gateway in silent if isinstance(silent, list) else []:
            found = await _isolated("liveness", write, functools.partial(_lost, site=site, gateway=gateway), failing)
            log.warning("gateway silent", gateway=gateway, site=site)
            hub.publish({"type": "health", "gateway": gateway, "site": site, "online": False})
            if isinstance(found, dict):
                hub.publish({"type": "alarm", "alarm": found})


def _silent(store: Store, *, since: float) -> list[tuple[str, str]]:
    return store.silent_gateways(time.time(), since)


def _lost(store: Store, *, site: str, gateway: str) -> dict[str, Any] | None:
    """A silent gateway marked gone; its communication alarm, when one was raised or folded."""
    alarm = store.gateway_lost(site, gateway, "heartbeats stopped")
    return store.alarm(alarm) if alarm is not None else None


async def _escalate(write: Writer, hub: EventHub, roster: list[str], notifiers: list[Any], lead: Leadership,
                    recheck_s: float = 5.0) -> None:
    """A timer for the next escalation due (one cheap query), re-armed whenever an alarm changes in this
    collector (its event hub) and at least every `recheck_s` (another collector may have raised one).
    The open alarms are walked only when one is due."""
    failing: set[str] = set()
    while True:
        async with hub.subscribe() as changes:
            while True:
                due = await _isolated("escalation", write, lambda s: s.next_escalation(), failing)
                wait = recheck_s if not isinstance(due, float) else min(recheck_s, max(0.0, due - time.time()))
                try:
                    async with asyncio.timeout(wait):
                        event = await changes.get()
                    while event is not None and not changes.empty():
                        event = changes.get_nowait()  # one look serves every change so far
                    if event is None:
                        break  # the hub dropped this slow reader: subscribe again
                except TimeoutError:
                    pass
                if not isinstance(due, float) or due > time.time() or not lead.held:
                    continue  # woken early by a change (look again), or another collector leads
                escalated = await _isolated("escalation", write, lambda s: _escalated(s, roster), failing)
                for alarm, now in escalated if isinstance(escalated, list) else []:
                    log.warning("alarm escalated", alarm=alarm["id"], key=alarm["key"], to=alarm["escalated_to"])
                    hub.publish({"type": "alarm", "alarm": now})
                    await notify_all(notifiers, alarm, alarm["escalated_to"])


async def _duty_checks(write: Writer, hub: EventHub, notifiers: list[Any], roster: list[str], lead: Leadership,
                       every: float, within: float, look_s: float = 1.0) -> None:
    """On the leader: a duty check every `every` seconds (0: none scheduled), and each check nobody answered
    in time marked missed once, audited, shown on every console and sent to the first on the roster."""
    failing: set[str] = set()
    while True:
        await asyncio.sleep(look_s)
        if not lead.held:
            continue
        if every > 0:
            sent = await _isolated("duty checks", write, lambda s: _scheduled_check(s, every, within), failing)
            if isinstance(sent, dict):
                hub.publish({"type": "duty_check", "check": sent})
        missed = await _isolated("duty checks", write, _missed_checks, failing)
        for check in missed if isinstance(missed, list) else []:
            log.warning("duty check missed", check=check["id"], sent_by=check["sent_by"])
            hub.publish({"type": "duty_check", "check": check})
            notice = {"id": f"duty-check-{check['id']}", "class": "supervisory", "site": "duty-centre",
                      "street": "", "key": f"duty-check/{check['id']}", "check": check,
                      "text": "查岗未应答 / duty check not answered"}
            await notify_all(notifiers, notice, roster[0] if roster else "duty-chief")


def _scheduled_check(store: Store, every: float, within: float) -> dict[str, Any] | None:
    last = next((c["sent_at"] for c in store.duty_checks(limit=20) if c["sent_by"] == "schedule"), None)
    if last is not None and time.time() - float(last) < every:
        return None
    check = store.send_duty_check("schedule", within)
    store.audit("schedule", "duty check sent", str(check["id"]), {"within_s": within})
    return check


def _missed_checks(store: Store) -> list[dict[str, Any]]:
    missed = store.miss_duty_checks()
    for check in missed:
        store.audit("collector", "duty check missed", str(check["id"]), {"due_at": check["due_at"]})
    return missed


def _escalated(store: Store, roster: list[str]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Escalate what is due; each escalated alarm with its row as it is now."""
    return [(alarm, store.alarm(alarm["id"])) for alarm in escalate_due(store, roster, time.time())]
