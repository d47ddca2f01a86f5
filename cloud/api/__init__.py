"""The collector's HTTP API (JSON), its event stream (server-sent events) and its OpenAPI document.

Every write is checked against the caller's role (cloud.auth.PERMISSIONS) and written to the audit
trail; every refusal is JSON `{"error": reason, "code": code, "params": {...}}` with a 4xx status, never
a stack trace: `error` in English, `code` for a program (the console words it in its reader's language).
One module per area (sessions, alarms, commands, fleet, readiness), each with its `routes`; `base` holds
what they share.
"""

from __future__ import annotations

from cloud.api.app import build_api

__all__ = ["build_api"]
