"""The labels people read for points and events (devices.labels, firmware-profiles/labels.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import ProfileError
from devices.labels import load_labels
from devices.profile_loader import load_profile_dir


def test_every_point_of_every_shipped_profile_has_a_label_in_both_languages() -> None:
    labels = load_labels()
    assert [(p.id, point) for p, point in labels.missing(load_profile_dir().values())] == []
    assert labels.point("port3.temperature") == "3号端口 温度"
    assert labels.point("vehicle2.soc", "en") == "Vehicle 2 Charge"
    assert labels.point("extinguisher_1_present") == "1号灭火器在位"
    assert labels.points["residual_current"].unit == "mA"
    assert labels.point("no_such_point") is None


def test_a_broken_labels_file_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "labels.yaml"
    bad.write_text("points:\n  temperature: {zh: 温度}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as refused:
        load_labels(bad)
    assert refused.value.line == 2 and refused.value.field == "points.temperature"
    assert "{zh: ..., en: ...}" in str(refused.value)
