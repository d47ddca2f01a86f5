"""Logs on request (issue 16.3): the agent's own log file (edge/log_file.py: rolled over at a size, picked by
time, level and text, bounded in bytes, the newest kept), and the collector keeping a gzip bundle only
when it decompresses within bounds."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from pathlib import Path

from cloud.store import Store
from devices.contract import Attachment, as_birth, as_record
from edge.log_file import LogFile


def test_the_log_file_rolls_over_and_is_read_by_time_level_and_text(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "agent.log", "gw1", max_bytes=2000, keep=2)
    for n in range(60):
        log({"event": f"poll {n}", "level": "warning" if n % 10 == 0 else "info", "gateway": "gw1", "bus": "rs485-1"})
    log({"event": "another gateway's line", "level": "error", "gateway": "gw2"})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["agent.log", "agent.log.1", "agent.log.2"]  # rolled, and no more than kept
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 3 * 2000
    lines, count, cut = log.query(0, time.time() + 1, "warning")
    events = [json.loads(line)["event"] for line in lines.decode().splitlines()]
    assert events == [f"poll {n}" for n in range(60) if n % 10 == 0][-count:] and count >= 2 and not cut
    assert "another gateway" not in lines.decode()
    lines, count, cut = log.query(0, time.time() + 1, "info", text="poll 5", max_bytes=1024)
    assert all("poll 5" in line for line in lines.decode().splitlines())
    small, _, cut = log.query(0, time.time() + 1, "debug", max_bytes=1024)
    assert cut and len(small) <= 1024 and json.loads(small.decode().splitlines()[-1])["event"] == "poll 59"
    assert log.query(time.time() + 10, time.time() + 20)[1] == 0


def chunk(body: bytes, ref: str, media: str = "application/gzip") -> Attachment:
    record = as_record({"type": "attachment", "id": f"o:{ref}", "site": "shed-1", "t": time.time(), "mono": 1.0,
                        "trusted": True, "key": "logs", "device": "gw1", "channel": 1, "ref": ref, "media": media,
                        "part": 0, "parts": 1, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                        "data": body, "taken": time.time(), "command": "cmd-1"})
    assert isinstance(record, Attachment)
    return record


def test_the_collector_keeps_a_log_bundle_that_decompresses_and_sets_aside_one_that_does_not(tmp_path: Path) -> None:
    store = Store(f"{tmp_path}/s.db")
    store.save_birth("shed-1", "gw1", as_birth({"boot": "b", "site": "shed-1"}))
    text = b'{"t": 1, "level": "info", "event": "edge agent starting"}\n' * 3
    store.store_records("shed-1", "gw1", [chunk(gzip.compress(text), "logs.cmd-1")])
    (bundle,) = store.log_bundles("gw1")
    assert (bundle["command"], bundle["lines"], bundle["size"]) == ("cmd-1", 3, len(text))
    found = store.log_bundle(int(bundle["id"]))
    assert found is not None and gzip.decompress(found[1]) == text
    store.store_records("shed-1", "gw1", [chunk(b"not gzip at all", "logs.cmd-2")])
    bomb = gzip.compress(b"\n" * (5 * 1024 * 1024))  # 5 MiB of newlines in a few kB
    store.store_records("shed-1", "gw1", [chunk(bomb, "logs.cmd-3")])
    assert len(store.log_bundles("gw1")) == 1
    reasons = " ".join(q["reason"] for q in store.quarantined("gw1"))
    assert "not gzip" in reasons and "over 4194304 bytes" in reasons
    store.close()
