"""The one error tree of firefleet.

    FirefleetError
    ├── ConfigError                 our side: a file we were given is wrong (refused at load)
    │   ├── ProfileError            a firmware profile (file, line, field, reason)
    │   └── SiteConfigError         a site file or scenario file
    ├── DeviceError                 the device's side: what came over the wire was wrong or missing
    │   ├── FrameError              garbage, bad checksum or CRC, a frame that does not parse
    │   ├── DeviceTimeout           no answer in time
    │   ├── ExceptionReply          the device answered with a Modbus exception code
    │   └── LinkDown                the bus itself: serial adapter missing, TCP endpoint refusing
    ├── BrokerUnavailable           the network's side: the MQTT broker refused, dropped or never answered
    ├── MessageError                a peer's message breaks the contract: counted, logged once, dropped
    │   ├── ProtocolError           not msgpack, a bad topic (devices.protocol)
    │   ├── ContractError           a field of the wrong type, range or size (devices.contract)
    │   └── DownlinkRefused         not signed by the collector, expired, replayed (devices.downlink_auth)
    └── ActionRefused               a request our rules say no to, with the reason a person reads
        ├── WriteRefused            not writable, wrong type, out of range (devices.write_check)
        ├── InterlockRefused        an interlock holds (edge.interlocks)
        ├── Refused                 a step the alarm life cycle does not allow (cloud.alarm_lifecycle)
        └── LoginRefused            wrong password, throttled (cloud.auth)

The leaves outside this module also derive from the builtin their callers have always caught (ValueError,
PermissionError), so both spellings keep working.

Ids (file, line, device, code) are attributes, never only text, so that callers can count and group.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActionRefused",
    "BrokerUnavailable",
    "ConfigError",
    "DeviceError",
    "DeviceTimeout",
    "ExceptionReply",
    "FirefleetError",
    "FrameError",
    "LinkDown",
    "MessageError",
    "ProfileError",
    "SiteConfigError",
]


class FirefleetError(Exception):
    """Root of every error firefleet raises on purpose."""


class ConfigError(FirefleetError):
    """A file we were given is wrong. Carries where and why, for a one-line message without a traceback."""

    def __init__(self, reason: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}:{field} {self.reason}"


class ProfileError(ConfigError):
    """A firmware profile is malformed, inconsistent, or its test vectors fail."""


class SiteConfigError(ConfigError):
    """A site file or scenario file is malformed or names something that does not exist."""


class DeviceError(FirefleetError):
    """Something came (or did not come) from a device."""

    def __init__(self, reason: str, *, device: str | None = None) -> None:
        self.reason = reason
        self.device = device
        super().__init__(f"{device}: {reason}" if device else reason)


class FrameError(DeviceError):
    """Bytes that do not make a valid frame: garbage, a bad CRC or checksum, a wrong length."""


class DeviceTimeout(DeviceError):
    """The device did not answer within its timeout."""


class LinkDown(DeviceError):
    """The bus itself is unavailable: a serial adapter missing, a TCP endpoint refusing."""


class ExceptionReply(DeviceError):
    """A Modbus exception response (1 illegal function, 2 illegal address, 3 illegal value, 6 busy...)."""

    def __init__(self, code: int, *, device: str | None = None) -> None:
        self.code = code
        super().__init__(f"Modbus exception {code}", device=device)


class BrokerUnavailable(FirefleetError):
    """The MQTT broker refused the connection, dropped it, or did not answer in time (one class for every
    MQTT library error: only devices.mqtt_transport knows that library's names)."""


class MessageError(FirefleetError):
    """A message from a peer (a gateway, the broker, the collector) that does not follow the contract."""


class ActionRefused(FirefleetError):
    """A request refused by our own rules. The text is the reason in English (logs, API clients); `code`
    names it for a program (the console says it in its reader's language) and `params` fill it in."""

    def __init__(self, reason: str, *, code: str = "refused", **params: Any) -> None:
        super().__init__(reason)
        self.code, self.params = code, params
