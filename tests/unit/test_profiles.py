"""The shipped profiles load and their vectors hold; bad profiles are refused with file, line and reason."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devices.errors import ProfileError
from devices.identity import match_profile, probe_points
from devices.profile_loader import load_profile_dir, load_profiles
from devices.vectors import run_vectors
from tests.conftest import PROFILES

MINIMAL = """\
id: acme-t1
vendor: Acme
model: T1
kind: smoke_detector
identity:
  probe:
    - {point: model, equals: 7}
points:
  - {name: model, table: holding_register, address: 100, type: u16}
  - {name: temperature, table: input_register, address: 0, type: i16, scale: 0.1}
  - {name: energy, table: input_register, address: 1, type: u32}
vectors:
  - name: basic
    raw: {input_register: {0: [215, 0, 1000]}, holding_register: {100: [7]}}
    expect: {temperature: 21.5, energy: 1000, model: 7}
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def refused(tmp_path: Path, text: str) -> ProfileError:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profiles([path])
    assert info.value.file == str(path)
    return info.value


def test_every_shipped_profile_loads_and_its_vectors_hold() -> None:
    profiles = load_profile_dir(PROFILES)
    usable = [p for p in profiles.values() if not p.abstract]
    assert len(usable) >= 8
    kinds = {p.kind for p in usable}
    assert {"smoke_detector", "sprinkler_monitor", "charging_box", "fire_cabinet", "camera", "fire_panel",
            "station_monitor"} <= kinds
    for profile in usable:
        assert profile.vectors, profile.id
        assert run_vectors(profile) == [], profile.id


def test_minimal_profile_is_accepted(tmp_path: Path) -> None:
    profile = load_profiles([write(tmp_path, MINIMAL)])["acme-t1"]
    assert [p.name for p in profile.points] == ["model", "temperature", "energy"]
    assert profile.point("energy").width == 2
    assert run_vectors(profile) == []


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    err = refused(tmp_path, MINIMAL.replace("type: i16, scale: 0.1}", "type: i16, scael: 0.1}"))
    assert err.line == 10
    assert "unknown key 'scael'" in err.reason
    assert err.field == "points[1].scael"


def test_overlapping_registers_are_refused(tmp_path: Path) -> None:
    # energy is a u32 at 1..2; a point at 2 overlaps it
    text = MINIMAL.replace("vectors:", "  - {name: power, table: input_register, address: 2, type: u16}\nvectors:")
    err = refused(tmp_path, text)
    assert "overlaps 'energy'" in err.reason
    assert err.line == 12


def test_bits_of_one_register_may_share_it_but_not_a_bit(tmp_path: Path) -> None:
    ok = MINIMAL.replace("vectors:", "  - {name: flags, table: input_register, address: 5, bits: {0: a, 1: b}}\n"
                                     "vectors:")
    assert load_profiles([write(tmp_path, ok)])["acme-t1"].point("b").bit == 1
    clash = MINIMAL.replace("vectors:", "  - {name: a, table: input_register, address: 5, type: bit, bit: 0}\n"
                                        "  - {name: b, table: input_register, address: 5, type: bit, bit: 0}\n"
                                        "vectors:")
    assert "overlaps" in refused(tmp_path, clash).reason


@pytest.mark.parametrize(("change", "reason"), [
    (("type: u32}", "type: u33}"), "does not fit table"),
    (("address: 1, type: u32}", "address: 65535, type: u32}"), "runs past 65535"),
    (("table: input_register, address: 0", "table: coil, address: 0"), "does not fit table 'coil'"),
    (("expect: {temperature: 21.5", "expect: {temp: 21.5"), "unknown point 'temp'"),
    (("kind: smoke_detector\n", ""), "missing required key 'kind'"),
    (("  probe:\n    - {point: model, equals: 7}\n", "  probe:\n    - {point: modle, equals: 7}\n"),
     "unknown point 'modle'"),
])
def test_malformed_profiles_are_refused(tmp_path: Path, change: tuple[str, str], reason: str) -> None:
    assert change[0] in MINIMAL
    assert reason in refused(tmp_path, MINIMAL.replace(*change)).reason


def test_duplicate_keys_and_yaml_syntax_errors_carry_lines(tmp_path: Path) -> None:
    dup = refused(tmp_path, MINIMAL.replace("model: T1\n", "model: T1\nmodel: T2\n"))
    assert dup.line == 4 and "duplicate key" in dup.reason
    syntax = refused(tmp_path, MINIMAL.replace("points:\n", "points: [\n"))
    assert syntax.line is not None and "YAML syntax" in syntax.reason


def test_forbidden_range_and_extends_cycle(tmp_path: Path) -> None:
    text = MINIMAL.replace("identity:", "quirks: {forbidden: [[100, 110]]}\nidentity:")
    assert "forbidden range 100..110" in refused(tmp_path, text).reason
    write(tmp_path, "id: a\nabstract: true\nextends: b\n", "a.yaml")
    write(tmp_path, "id: b\nabstract: true\nextends: a\n", "b.yaml")
    with pytest.raises(ProfileError, match="extends cycle"):
        load_profiles([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_a_failing_vector_is_reported_with_its_line(tmp_path: Path) -> None:
    profile = load_profiles([write(tmp_path, MINIMAL.replace("temperature: 21.5", "temperature: 21.6"))])
    failures = run_vectors(profile["acme-t1"])
    assert len(failures) == 1
    assert ":13: vector 'basic': temperature decoded as 21.5, expected 21.6" in failures[0]


def test_identity_probe_picks_the_firmware() -> None:
    profiles = load_profile_dir(PROFILES)
    family = [profiles["hengan-sd100-fw1"], profiles["hengan-sd100-fw2"]]
    assert {p.name for p in probe_points(family)} == {"model_code", "firmware_version"}
    first, second = (match_profile(family, {"model_code": 0x5D10, "firmware_version": v}) for v in (0x0105, 0x0203))
    assert first is not None and first.id == "hengan-sd100-fw1"
    assert second is not None and second.id == "hengan-sd100-fw2"
    assert match_profile(family, {"model_code": 0x5D10, "firmware_version": 0x0300}) is None  # re-flashed
    assert match_profile(family, {"model_code": 0x0C0A, "firmware_version": 0x0105}) is None  # swapped


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devices.cli", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_check_lists_the_shipped_profiles() -> None:
    result = run_cli("profiles", "check", str(PROFILES))
    assert result.returncode == 0, result.stderr
    assert sum(1 for line in result.stdout.splitlines() if line.strip().startswith("ok")) >= 8
    assert "0 failures" in result.stdout


def test_cli_check_refuses_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("address: 1, type: u32}", "address: 1, type: u32, colour: red}"))
    result = run_cli("profiles", "check", str(path))
    assert result.returncode == 1
    assert f"{path}:11: [points[2].colour] unknown key 'colour'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_write_only_point_is_never_polled_nor_read_back(tmp_path: Path) -> None:
    """Issue 10.3, reproduced on the old main: a remote-reset coil (`access: w`) was polled every 10 s (a real
    device answers exception 02) and 'verified' by reading it back."""
    from devices.site_config import DeviceConfig
    from edge.polled_device import PolledDevice

    text = MINIMAL.replace("vectors:", "  - {name: reset, table: coil, address: 3, access: w}\nvectors:")
    profile = load_profiles([write(tmp_path, text)])["acme-t1"]
    reset = profile.point("reset")
    assert reset.writable and not reset.readable
    device = PolledDevice(DeviceConfig(id="d1", profile="acme-t1", bus="b"), profile, [profile])
    polled = {p.name for blocks in device.plan.values() for block, _ in blocks for p in block.points}
    assert "reset" not in polled and "temperature" in polled


POINT = "  - {name: temperature, table: input_register, address: 0, type: i16, scale: 0.1}\n"


@pytest.mark.parametrize(("change", "reason"), [
    # Issue 10.13, each let through on the old main:
    ((POINT, POINT + "  - {name: temperature, table: input_register, address: 9, type: i16}\n"),
     "point 'temperature' is defined twice"),
    (("{point: model, equals: 7}", "{point: model, equals: '7'}"), "would never match"),
    (("kind: smoke_detector", "kind: toaster"), "'toaster' is not one of"),
    (("vectors:", "quirks: {max_registers: 1}\nvectors:"), "needs 2 registers"),
    (("vectors:", "rules:\n  - {id: hot, when: {point: temperature, op: '>', value: 60}, for: 2,"
                  " raise: {class: fault}}\nvectors:"), "needs its unit"),
    (("vectors:", "rules:\n  - {id: hot, when: {point: temperature, op: '>', value: 60}, for: 99999999999999d,"
                  " raise: {class: fault}}\nvectors:"), "longer than 30 days"),
    (("vectors:", "rules:\n  - {id: a, when: {point: temperature, op: '>', value: 6}, raise: {class: fault}}\n"
                  "  - {id: a, when: {point: temperature, op: '>', value: 9}, raise: {class: fault}}\nvectors:"),
     "rule id 'a' is used twice"),
    ((POINT, POINT + "  - {name: relay, table: coil, address: 0, access: rw}\n"
                     "  - {name: reset, table: coil, address: 1, access: w}\n"),
     None),
])
def test_the_profile_checker_refuses_what_would_not_protect_a_site(tmp_path: Path, change: tuple[str, str],
                                                                  reason: str | None) -> None:
    assert change[0] in MINIMAL
    text = MINIMAL.replace(*change)
    if reason is None:
        profile = load_profiles([write(tmp_path, text)])["acme-t1"]
        for bad, why in [("{write: relay, value: 7}", "true or false"), ("{write: relay, value: {a: [1, 2]}}",
                                                                         "true or false")]:
            rule = (f"rules:\n  - {{id: cut, when: {{point: temperature, op: '>', value: 60}}, "
                    f"raise: {{class: fault}}, actions: [{bad}]}}\nvectors:")
            assert why in refused(tmp_path, text.replace("vectors:", rule)).reason
        on_write_only = ("rules:\n  - {id: r, when: {point: reset, op: '==', value: true}, raise: {class: fault}}\n"
                         "vectors:")
        assert "write-only" in refused(tmp_path, text.replace("vectors:", on_write_only)).reason
        texts = ("rules:\n  - {id: cut, when: {point: temperature, op: '>', value: 60}, raise: {class: fault},"
                 " text: {zh: 温度过高, en: too hot}}\nvectors:")
        loaded = load_profiles([write(tmp_path, text.replace("vectors:", texts))])["acme-t1"].rules[0]
        assert (loaded.text, loaded.text_en) == ("温度过高", "too hot")
        assert profile.point("reset").writable
        return
    error = refused(tmp_path, text)
    assert reason in error.reason and error.line, error.describe()


def test_hostile_files_are_refused_with_a_reason_not_a_traceback_or_a_hang(tmp_path: Path) -> None:
    """Issue 11.9: `profiles check` hung on a catastrophic regex and showed a traceback on a 20,000-deep YAML
    list and on a non-ASCII line terminator."""
    import time

    started = time.monotonic()
    panel = (PROFILES / "beida-jbqb-rs232.yaml").read_text()
    evil = panel.replace(r"FIRE +L(?P<loop>\d+)", r"FIRE +L(?P<loop>(\d+)+)", 1)
    assert evil != panel
    assert "exponential" in refused(tmp_path, evil).reason
    assert "nest" in refused(tmp_path, "id: x\npoints: " + "[" * 20000 + "]" * 20000).reason  # ours or libyaml's
    assert "line separator" in refused(tmp_path, MINIMAL.replace("vendor: Acme\n", "vendor: Acme\u2028")).reason
    assert time.monotonic() - started < 10


def test_a_site_folder_adds_to_the_shipped_profiles(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    write(folder, MINIMAL)
    profiles = load_profile_dir(folder)
    assert "acme-t1" in profiles and "xingdian-cb10" in profiles
    shipped = load_profile_dir()["hengan-sd100-base"]
    corrected = (PROFILES / "hengan-sd100-base.yaml").read_text().replace("timeout: 300ms", "timeout: 400ms")
    assert corrected != (PROFILES / "hengan-sd100-base.yaml").read_text()
    write(folder, corrected, "hengan-sd100-base.yaml")  # a site's corrected copy of a shipped profile
    mine = load_profile_dir(folder)
    assert mine["hengan-sd100-base"].quirks.timeout_ms == 400 != shipped.quirks.timeout_ms
    assert mine["hengan-sd100-fw1"].quirks.timeout_ms == 400  # what extends it follows the copy
