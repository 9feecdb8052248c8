"""Forces typed by users: units, bands, and mistakes refused with a message."""

import pytest

from nmt_monitor.units import NEWTONS_PER_KGF, NEWTONS_PER_LBF, UnitError, parse_force_n, parse_force_range_n


@pytest.mark.parametrize(
    "text, newtons",
    [("60N", 60.0), ("60", 60.0), ("6kg", 6 * NEWTONS_PER_KGF), ("6 kgf", 6 * NEWTONS_PER_KGF),
     ("13.5lbf", 13.5 * NEWTONS_PER_LBF), ("500gf", 0.5 * NEWTONS_PER_KGF)],
)
def test_forces_with_units(text, newtons):
    assert parse_force_n(text) == pytest.approx(newtons)


def test_a_unit_written_once_applies_to_both_ends_of_a_band():
    assert parse_force_range_n("30..45lbf") == pytest.approx((30 * NEWTONS_PER_LBF, 45 * NEWTONS_PER_LBF))
    assert parse_force_range_n("3kg..5") == pytest.approx((3 * NEWTONS_PER_KGF, 5 * NEWTONS_PER_KGF))
    assert parse_force_range_n("3kg..50N") == pytest.approx((3 * NEWTONS_PER_KGF, 50.0))


@pytest.mark.parametrize("text", ["60 parsecs", "sixty", "1e309", "inf", "-5N..40N", "40N..30N", "40N", "1..2..3"])
def test_mistakes_are_refused_with_a_message(text):
    with pytest.raises(UnitError):
        parse_force_range_n(text) if ".." in text or text == "40N" else parse_force_n(text)
