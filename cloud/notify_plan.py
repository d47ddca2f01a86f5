"""Who is told about an unanswered alarm, through what, and when: the district's notification plan (YAML,
checked at load with file and line, like every other file). Pure: a file in, typed records out.

    people:
      - {id: wang, name: 王建国, phone: "13800138000"}
    channels:                                   # secrets come from the environment, never from the file
      - {id: sms, type: sms, url: "https://sms.example.cn/sms/send", key_id: ff, secret_env: FF_SMS_SECRET,
         sign: 西湖消防, template: SMS_FIRE}
      - {id: voice, type: voice, url: "https://voice.example.cn/voice/call", key_id: ff, secret_env: FF_SMS_SECRET,
         template: TTS_FIRE}
      - {id: wecom, type: wecom, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=..."}
      - {id: dingtalk, type: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=...",
         secret_env: FF_DINGTALK_SECRET}
    rules:
      - classes: [fire]
        streets: [西溪街道]                     # none: every street
        steps:
          - {after: 0s, to: [wang], channels: [sms, voice], groups: [wecom]}
          - {after: 60s, to: [wang, chief], channels: [voice, sms]}

A step is due `after` the alarm was raised, while nobody has acknowledged it. Each person of `to` is
reached by the first of `channels` that works: one that the provider refuses, that fails, or whose
delivery receipt says it failed falls through to the next. `groups` are group robots posted once for the
step. The first rule whose classes and streets match the alarm is its plan.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from devices.checked import Section
from devices.errors import SiteConfigError
from devices.yaml_source import load_yaml

__all__ = ["CHANNEL_TYPES", "Channel", "NotifyPlan", "Person", "Rule", "Step", "load_notify_plan"]

CHANNEL_TYPES: Final = ("sms", "voice", "wecom", "dingtalk")
PERSONAL: Final = ("sms", "voice")  # reach one phone; the others post to a group
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
_CLASSES = ("fire", "supervisory", "fault", "prewarning", "status")


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    phone: str  # as a provider takes it: digits, with a leading + for another country

    @property
    def number(self) -> str:
        return self.phone.replace(" ", "").replace("-", "")


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    type: Literal["sms", "voice", "wecom", "dingtalk"]
    url: str
    key_id: str = ""
    secret: str = ""  # read from the environment variable the file names
    sign: str = ""
    template: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    after_s: float
    to: tuple[str, ...]
    channels: tuple[str, ...]
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    classes: tuple[str, ...]
    streets: tuple[str, ...]
    steps: tuple[Step, ...]
    line: int = 0

    def matches(self, cls: str, street: str) -> bool:
        return cls in self.classes and (not self.streets or street in self.streets)


@dataclass(frozen=True, slots=True)
class NotifyPlan:
    people: dict[str, Person]
    channels: dict[str, Channel]
    rules: tuple[Rule, ...]

    def rule_for(self, cls: str, street: str) -> Rule | None:
        return next((r for r in self.rules if r.matches(cls, street)), None)

    def person_by_number(self, number: str) -> Person | None:
        wanted = number.replace(" ", "").replace("-", "").removeprefix("+86")
        return next((p for p in self.people.values() if p.number.removeprefix("+86") == wanted), None)


def load_notify_plan(path: Path, environ: dict[str, str] | None = None) -> NotifyPlan:
    env = dict(os.environ) if environ is None else environ
    top = Section(load_yaml(path, SiteConfigError), file=str(path), path="", error=SiteConfigError, line=1)
    top.only("people", "channels", "rules")
    people: dict[str, Person] = {}
    for sec in top.sections("people"):
        sec.only("id", "name", "phone")
        pid = _checked_id(sec)
        if pid in people:
            sec.fail(f"person {pid!r} is listed twice", "id")
        phone = str(sec.raw("phone"))
        if not _PHONE.match(phone):
            sec.fail(f"phone {phone!r} is not a number (5 to 20 digits, + - and spaces)", "phone")
        people[pid] = Person(pid, sec.str("name", pid), phone)
    channels: dict[str, Channel] = {}
    for sec in top.sections("channels"):
        sec.only("id", "type", "url", "key_id", "secret_env", "sign", "template")
        cid = _checked_id(sec)
        if cid in channels:
            sec.fail(f"channel {cid!r} is listed twice", "id")
        kind = sec.choice("type", CHANNEL_TYPES)
        url = sec.str("url")
        if not re.match(r"^https?://[\x21-\x7e]+$", url):
            sec.fail(f"url {url!r} is not an http(s) address", "url")
        secret = ""
        if sec.has("secret_env"):
            name = sec.str("secret_env")
            secret = env.get(name, "")
            if not secret:
                sec.fail(f"the environment variable {name} (the channel's secret) is not set", "secret_env")
        elif kind in PERSONAL:
            sec.fail("an SMS or voice provider signs with a secret: name its environment variable", "secret_env")
        if kind in PERSONAL and not (sec.has("key_id") and sec.has("template")):
            sec.fail("an SMS or voice channel needs key_id and template (the provider's message template)")
        channels[cid] = Channel(cid, kind, url, key_id=sec.str("key_id", ""), secret=secret, sign=sec.str("sign", ""),
                                template=sec.str("template", ""))
    rules = []
    for sec in top.sections("rules"):
        sec.only("classes", "streets", "steps")
        classes = tuple(str(c) for c in sec.list("classes"))
        if not classes or any(c not in _CLASSES for c in classes):
            sec.fail(f"classes are some of {', '.join(_CLASSES)}", "classes")
        steps: list[Step] = []
        for st in sec.sections("steps"):
            st.only("after", "to", "channels", "groups")
            to = tuple(str(p) for p in st.list("to", []))
            for pid in to:
                if pid not in people:
                    st.fail(f"no person {pid!r} in people", "to")
            via = tuple(str(c) for c in st.list("channels", []))
            groups = tuple(str(c) for c in st.list("groups", []))
            for cid, personal in [(c, True) for c in via] + [(c, False) for c in groups]:
                if cid not in channels:
                    st.fail(f"no channel {cid!r} in channels", "channels" if personal else "groups")
                if (channels[cid].type in PERSONAL) != personal:
                    st.fail(f"{cid} is a {channels[cid].type} channel: SMS and voice go under channels, group "
                            "robots under groups", "channels" if personal else "groups")
            if bool(to) != bool(via):
                st.fail("a step names people (to) and the channels that reach them, or neither")
            if not to and not groups:
                st.fail("a step tells someone: to and channels, or groups")
            after = st.duration("after", 0.0)
            if steps and after <= steps[-1].after_s:
                st.fail("steps come in order: each after the one before", "after")
            steps.append(Step(after, to, via, groups))
        if not steps:
            sec.fail("a rule has at least one step", "steps")
        rules.append(Rule(classes, tuple(str(s) for s in sec.list("streets", [])), tuple(steps), sec.line))
    return NotifyPlan(people, channels, tuple(rules))


def _checked_id(sec: Section) -> str:
    value: str = sec.str("id")
    if not _ID.match(value):
        sec.fail(f"{value!r} must be lower-case letters, digits, _ and -", "id")
    return value
