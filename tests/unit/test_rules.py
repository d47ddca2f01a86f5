"""The rule engine: sustain, hysteresis, latch, rate of rise, offline as an input, group interlocks,
state that survives a restart. Time is passed in; nothing sleeps."""

from __future__ import annotations

from devices.profile import Condition
from devices.profile_loader import load_profile_dir
from devices.site_config import Interlock, load_site
from edge.rules import Action, RuleEngine, RuleInstance, Transition, build_instances, site_groups
from tests.conftest import PROFILES, SITES

PROFILE_SET = load_profile_dir(PROFILES)


def overheat(**kw: object) -> RuleInstance:
    fields: dict[str, object] = dict(key="box/cut/port3", device="box", rule="cut", cls="prewarning", severity=2,
                                     when=Condition("port3.temperature", ">=", 65),
                                     clear=Condition("port3.temperature", "<", 50), sustain_s=5.0,
                                     actions=(Action("box", "port3.relay", False),))
    fields.update(kw)
    return RuleInstance(**fields)  # type: ignore[arg-type]


def kinds(transitions: list[Transition]) -> list[str]:
    return [t.kind for t in transitions]


def test_sustain_then_raise_then_clear_only_below_the_clear_threshold() -> None:
    engine = RuleEngine([overheat()], {})
    assert engine.update("box", {"port3.temperature": 66.0}, 100.0) == []
    assert engine.update("box", {"port3.temperature": 67.0}, 104.0) == []
    raised = engine.update("box", {"port3.temperature": 67.0}, 105.0)
    assert kinds(raised) == ["raise"] and raised[0].value == 67.0
    assert raised[0].instance.actions == (Action("box", "port3.relay", False),)
    assert engine.update("box", {"port3.temperature": 60.0}, 106.0) == []  # hysteresis: not below 50 yet
    assert kinds(engine.update("box", {"port3.temperature": 49.0}, 107.0)) == ["clear"]


def test_a_dip_restarts_the_sustain_timer_and_tick_lets_it_run_out() -> None:
    engine = RuleEngine([overheat()], {})
    engine.update("box", {"port3.temperature": 66.0}, 100.0)
    assert engine.next_due() == 105.0
    engine.update("box", {"port3.temperature": 64.0}, 103.0)
    assert engine.next_due() is None  # no timer runs while the condition does not hold
    engine.update("box", {"port3.temperature": 66.0}, 104.0)
    assert engine.next_due() == 109.0  # the agent arms its timer for this moment, not a polling loop
    assert engine.tick(108.9) == []
    assert kinds(engine.tick(109.0)) == ["raise"]
    assert engine.next_due() is None


def test_latch_holds_until_acknowledged() -> None:
    engine = RuleEngine([overheat(latch=True, sustain_s=0.0)], {})
    assert kinds(engine.update("box", {"port3.temperature": 70.0}, 1.0)) == ["raise"]
    assert engine.update("box", {"port3.temperature": 20.0}, 2.0) == []
    assert kinds(engine.acknowledge("box/cut/port3", 3.0)) == ["clear"]


def test_missing_or_invalid_values_never_hold_a_condition() -> None:
    engine = RuleEngine([overheat(sustain_s=0.0)], {})
    assert engine.update("box", {"port3.temperature": None}, 1.0) == []
    assert engine.update("box", {"other": 1}, 2.0) == []


def test_rate_of_rise() -> None:
    rise = RuleInstance(key="b/rise", device="b", rule="rise", cls="prewarning", severity=2,
                        when=Condition("port1.temperature", "rise>=", 8.0))  # C per minute
    engine = RuleEngine([rise], {})
    assert engine.update("b", {"port1.temperature": 30.0}, 0.0) == []
    assert engine.update("b", {"port1.temperature": 31.0}, 10.0) == []  # 6 C/min
    raised = engine.update("b", {"port1.temperature": 33.0}, 20.0)  # 12 C/min
    assert kinds(raised) == ["raise"] and raised[0].value == 12.0


def test_group_interlock_any_fire_and_all_offline() -> None:
    smoke = [RuleInstance(key=f"sd{n}/smoke", device=f"sd{n}", rule="smoke", cls="fire", severity=1,
                          when=Condition("smoke_alarm", "==", True)) for n in (1, 2)]
    any_fire = RuleInstance(key="site/cut", device="", rule="cut", cls="fire", severity=1, members=("sd1", "sd2"),
                            interlock=Interlock(id="cut", mode="any", group="smoke", raise_class="fire", severity=1,
                                                alarm_class="fire"),
                            actions=(Action("box", "port1.relay", False),))
    unwatched = RuleInstance(key="site/unwatched", device="", rule="unwatched", cls="fault", severity=2,
                             members=("sd1", "sd2"),
                             interlock=Interlock(id="unwatched", mode="all", group="smoke", raise_class="fault",
                                                 severity=2, offline=True))
    engine = RuleEngine([*smoke, any_fire, unwatched], {"smoke": ["sd1", "sd2"]})
    out = engine.update("sd2", {"smoke_alarm": True}, 1.0)
    assert [(t.kind, t.instance.key) for t in out] == [("raise", "sd2/smoke"), ("raise", "site/cut")]
    assert out[1].value == ["sd2"]
    assert engine.set_offline("sd1", True, 2.0) == []
    assert [t.instance.key for t in engine.set_offline("sd2", True, 3.0)] == ["site/unwatched"]


def test_state_survives_a_restart() -> None:
    engine = RuleEngine([overheat()], {})
    engine.update("box", {"port3.temperature": 66.0}, 100.0)
    saved = engine.snapshot()
    again = RuleEngine([overheat()], {})
    again.restore(saved)
    assert kinds(again.update("box", {"port3.temperature": 66.0}, 105.0)) == ["raise"]  # the timer kept running
    restarted = RuleEngine([overheat()], {})
    restarted.restore(again.snapshot())
    assert restarted.update("box", {"port3.temperature": 70.0}, 106.0) == []  # already active: no second raise


def test_the_example_shed_builds_its_rules_with_site_overrides() -> None:
    site = load_site(SITES / "charging-shed.yaml", PROFILE_SET)
    instances = {i.key: i for i in build_instances(site, PROFILE_SET)}
    assert instances["box1/port-overheat-cut/port3"].sustain_s == 3.0  # site override of the profile's 5 s
    assert instances["box2/port-overheat-cut/port3"].sustain_s == 5.0
    assert instances["sd2/tamper"].cls == "fault"  # a point alarm of firmware 2's fault bits
    cut = instances["site/shed-smoke-cut"]
    assert {a.point for a in cut.actions if a.device == "box1"} == {f"port{n}.relay" for n in range(1, 11)}
    assert len([a for a in cut.actions if a.device == "box2"]) == 20
    assert Action("sd2", "sounder", True) in cut.actions
    assert set(site_groups(site)["smoke"]) == {"sd1", "sd2", "sd3", "box2"}
    assert "sd1/device-offline" in instances


def test_a_restored_alarm_holds_until_its_inputs_are_read_again() -> None:
    """Issue 10.9, reproduced on the old main: on restart the agent published `cleared` for a condition that
    still held (the first poll block did not carry the point), then raised it again 5 s later."""
    hot = RuleInstance(key="box/hot/port3", device="box", rule="hot", cls="prewarning", severity=3,
                       when=Condition("port3.temperature", ">=", 55))
    before = RuleEngine([overheat(), hot], {})
    before.update("box", {"port3.temperature": 70.0}, 100.0)
    before.update("box", {"port3.temperature": 70.0}, 106.0)
    assert {i.key for i in before.active()} == {"box/cut/port3", "box/hot/port3"}
    after = RuleEngine([overheat(), hot], {})
    after.restore(before.snapshot())
    assert after.update("box", {"port1.temperature": 30.0}, 200.0) == []  # a block without port 3: holds
    assert after.tick(201.0) == []
    assert after.update("box", {"port3.temperature": 71.0}, 202.0) == []  # read again, still hot: nothing new
    assert kinds(after.update("box", {"port3.temperature": 40.0}, 203.0)) == ["clear", "clear"]
