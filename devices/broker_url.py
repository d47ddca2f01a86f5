"""Where the MQTT broker is and how to log in: parsed from one URL, for the edge and the cloud alike."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

__all__ = ["BrokerConfig"]


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None

    @classmethod
    def from_url(cls, url: str, ca_file: str | None = None) -> BrokerConfig:
        """mqtt://[user:pass@]host[:port] or mqtts://... (TLS, port 8883 by default)."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:1883 or mqtts://host:8883, got {url!r}")
        tls = parsed.scheme == "mqtts"
        return cls(host=parsed.hostname, port=parsed.port or (8883 if tls else 1883),
                   username=unquote(parsed.username) if parsed.username else None,
                   password=unquote(parsed.password) if parsed.password else None, tls=tls, ca_file=ca_file)
