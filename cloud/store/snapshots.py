"""Camera pictures for alarms: chunks (devices.contract.Attachment) kept as they come, in any order and
through replays, until the last one is in; then the whole picture is checked (its size, its SHA-256, and
that it decodes as a JPEG: cloud.snapshot_image) and kept beside the alarm of its key. A picture that
fails is set aside like any record that does not fit the contract."""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Sequence
from typing import Any

from cloud.ingest import Reject
from cloud.snapshot_image import PictureRefused, check_picture
from cloud.store.base import StoreBase
from devices.contract import Attachment

__all__ = ["Snapshots"]

BEFORE_RAISE_S = 120.0  # a picture this long before an alarm was raised still shows it (clocks differ)
PER_ALARM = 12
LOG_TEXT_MAX = 4 * 1024 * 1024  # a log bundle's text, decompressed (the agent sends at most 2 MiB of it)


class Snapshots(StoreBase):
    def _attachments(self, site: str, gateway: str, chunks: Sequence[Attachment], occurred: float,
                     now: float) -> list[Reject]:
        """Keep new chunks; put together every picture whose last chunk came. Inside the batch's transaction.
        `occurred` is when the first chunk happened on our clock (the records' own clock may be untrusted)."""
        self.sql.insert_rows("attachment_parts", ("gateway", "ref", "part", "parts", "data", "received"),
                             [(gateway, c.ref, c.part, c.parts, c.data, now) for c in chunks],
                             skip_existing="gateway, ref, part")
        refused = []
        for ref in dict.fromkeys(c.ref for c in chunks):
            head = next(c for c in chunks if c.ref == ref)
            rows = self.sql.execute("SELECT part, data FROM attachment_parts WHERE gateway = ? AND ref = ? "
                                    "ORDER BY part", (gateway, ref)).fetchall()
            if len(rows) < head.parts:
                continue
            self.sql.execute("DELETE FROM attachment_parts WHERE gateway = ? AND ref = ?", (gateway, ref))
            picture = b"".join(bytes(r[1]) for r in rows)
            try:
                if len(rows) != head.parts or [int(r[0]) for r in rows] != list(range(head.parts)):
                    raise PictureRefused(f"chunks {[int(r[0]) for r in rows]} of {head.parts}")
                if len(picture) != head.size or hashlib.sha256(picture).hexdigest() != head.sha256:
                    raise PictureRefused(f"the picture's {len(picture)} bytes do not match its size and SHA-256")
                if head.media == "application/gzip":
                    self._log_bundle(site, gateway, head.command, picture, now)
                    continue
                shape = check_picture(picture)
            except PictureRefused as exc:
                refused.append(Reject(head.id, picture[:4096], f"picture {ref} of {head.device} refused: {exc}"))
                continue
            self.sql.insert_rows("snapshots", ("site", "gateway", "camera", "channel", "alarm_key", "ref", "taken_at",
                                               "received_at", "size", "width", "height", "command", "image"),
                                 [(site, gateway, head.device, head.channel, head.key, ref,
                                   occurred + (head.taken - head.t), now, len(picture), shape.width, shape.height,
                                   head.command, picture)], skip_existing="gateway, ref")
            row = self.sql.execute("SELECT id FROM alarms WHERE site = ? AND key = ? ORDER BY id DESC LIMIT 1",
                                   (site, head.key)).fetchone()
            if row is not None:
                self.touched.append(int(row[0]))  # its detail shows the picture now
        return refused

    def _log_bundle(self, site: str, gateway: str, command: str, packed: bytes, now: float) -> None:
        """Log lines a gateway sent on request: kept compressed once they decompress within bounds."""
        inflate = zlib.decompressobj(wbits=31)  # gzip
        try:
            text = inflate.decompress(packed, LOG_TEXT_MAX)
        except zlib.error as exc:
            raise PictureRefused(f"log lines that are not gzip: {exc}") from None
        if inflate.unconsumed_tail:
            raise PictureRefused(f"log lines over {LOG_TEXT_MAX} bytes once decompressed")
        self._insert("log_bundles", {"site": site, "gateway": gateway, "command": command, "received_at": now,
                                     "size": len(text), "lines": text.count(b"\n"), "data": packed})

    def log_bundles(self, gateway: str) -> list[dict[str, Any]]:
        return self._rows("log_bundles", "gateway = ?", [gateway], order_by="id DESC", limit=20,
                          select="id, site, gateway, command, received_at, size, lines")

    def log_bundle(self, bundle_id: int) -> tuple[str, bytes] | None:
        row = self.sql.execute("SELECT gateway, data FROM log_bundles WHERE id = ?", (bundle_id,)).fetchone()
        return (str(row[0]), bytes(row[1])) if row else None

    def snapshots_of(self, alarm: dict[str, Any]) -> list[dict[str, Any]]:
        """The pictures of an alarm (not their bytes), newest first: its key's, from a little before it was
        raised until it was closed."""
        until = alarm["updated_at"] if alarm.get("handling") == "closed" else time.time() + 86400
        return self._rows("snapshots", "site = ? AND alarm_key = ? AND taken_at >= ? AND taken_at <= ?",
                          [alarm["site"], alarm["key"], float(alarm["raised_at"]) - BEFORE_RAISE_S, until],
                          order_by="taken_at DESC", limit=PER_ALARM,
                          select="id, camera, channel, taken_at, received_at, size, width, height, command")

    def snapshot_image(self, snapshot_id: int) -> bytes | None:
        row = self.sql.execute("SELECT image FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
        return bytes(row[0]) if row else None
