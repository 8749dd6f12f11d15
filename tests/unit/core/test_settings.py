"""Settings declared once: type, range and meaning checked the same from TOML and from Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from mmts.core.settings import SettingsError, build_table, check_settings, option, reference


@dataclass(frozen=True, slots=True, kw_only=True)
class Knobs:
    """A settings table for the tests."""

    TABLE: ClassVar[str] = "knobs"

    count: int = option(3, ge=1, doc="how many")
    share: float = option(0.5, gt=0, lt=1, doc="a fraction")
    names: tuple[str, ...] = option(("a",), choices=("a", "b"), doc="which")
    widths: dict[str, float] = option(factory=dict, gt=0, doc="per symbol")
    cap: float | None = option(None, gt=0, doc="off when left out")
    flag: bool = option(False, doc="on or off")

    def __post_init__(self) -> None:
        check_settings(self)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"count": "four"}, "[knobs] count: expected an integer >= 1, got 'four' (str)"),
        ({"count": 5.5}, "[knobs] count: expected an integer >= 1, got 5.5 (float)"),
        ({"count": True}, "[knobs] count: expected an integer >= 1, got True (bool)"),
        ({"count": 0}, "[knobs] count: expected an integer >= 1, got 0"),
        ({"share": 1}, "[knobs] share: expected a number > 0 and < 1, got 1.0"),
        ({"share": "half"}, "[knobs] share: expected a number > 0 and < 1, got 'half' (str)"),
        ({"names": ["a", "c"]}, "[knobs] names: expected one of 'a', 'b', got 'c'"),
        ({"names": "a"}, "[knobs] names: expected a list of strings one of 'a', 'b', got 'a'"),
        (
            {"widths": {"ETH": 0}},
            "[knobs] widths: expected a table of numbers > 0, got {'ETH': 0.0}",
        ),
        ({"cap": -1}, "[knobs] cap: expected a number > 0 (or leave it out), got -1.0"),
        ({"flag": "yes"}, "[knobs] flag: expected true or false, got 'yes' (str)"),
        ({"colour": 1}, "unknown key(s) ['colour'] in [knobs]"),
    ],
)
def test_a_bad_value_names_table_key_expected_and_given(values: dict, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        build_table(Knobs, values)
    assert str(info.value).startswith(message), str(info.value)


def test_toml_shapes_become_field_shapes() -> None:
    knobs = build_table(Knobs, {"count": 2, "share": 0.25, "names": ["a", "b"], "cap": 3,
                                "widths": {"ETH": 1}})  # fmt: skip
    assert knobs.names == ("a", "b") and isinstance(knobs.cap, float)
    assert isinstance(knobs.widths["ETH"], float)


def test_python_construction_is_checked_too() -> None:
    with pytest.raises(SettingsError, match=r"\[knobs\] share"):
        Knobs(share=2.0)


def test_the_reference_lists_every_key_with_default_and_range() -> None:
    rows = {r["key"]: r for r in reference(Knobs)}
    assert list(rows) == ["count", "share", "names", "widths", "cap", "flag"]
    assert rows["count"] == {"key": "count", "type": "an integer", "default": "3",
                             "allowed": ">= 1", "doc": "how many"}  # fmt: skip
    assert rows["cap"]["default"] == "(none)" and rows["widths"]["default"] == "{}"
    assert rows["names"]["default"] == '["a"]' and rows["flag"]["default"] == "false"
