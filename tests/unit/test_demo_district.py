"""The district-scale demo's plan: the report's proportions, the same district for the same seed, and an
inventory the collector accepts."""

from __future__ import annotations

from pathlib import Path

from cloud.demo.district import STREETS, district_plan, inventory_lines
from cloud.inventory import load_inventory

SIX = {"micro_station": 2, "charging_shed": 2, "fire_cabinets": 2}


def test_the_plan_tops_the_full_sites_up_to_the_districts_proportions() -> None:
    plan = district_plan(seed=2022, existing=SIX)
    kinds = [s["kind"] for s in plan]
    assert (kinds.count("micro_station"), kinds.count("charging_shed"), kinds.count("fire_cabinets")) == (68, 88, 1998)
    assert len({s["id"] for s in plan}) == len(plan) and len({s["gateway"] for s in plan}) == len(plan)
    assert {s["street"] for s in plan} == set(STREETS)
    assert all(30.0 < s["lat"] < 30.5 and 119.9 < s["lon"] < 120.3 for s in plan)


def test_a_seed_gives_the_same_district_and_another_seed_another() -> None:
    assert district_plan(seed=7, existing=SIX) == district_plan(seed=7, existing=SIX)
    assert district_plan(seed=7, existing=SIX) != district_plan(seed=8, existing=SIX)


def test_the_inventory_lines_load_with_the_stations_equipment(tmp_path: Path) -> None:
    plan = district_plan(seed=2022, existing=SIX)
    path = tmp_path / "inventory.yaml"
    path.write_text("\n".join(["sites:", *[line for site in plan for line in inventory_lines(site)]]) + "\n")
    inventory = load_inventory(path)
    assert len(inventory) == len(plan)
    station = inventory[plan[0]["id"]]
    assert station["kind"] == "micro_station" and [r.category for r in station["equipment"]] == [
        "extinguishers", "vehicles", "monitoring"]
    assert inventory[plan[-1]["id"]]["equipment"] == []
