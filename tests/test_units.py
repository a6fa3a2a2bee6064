"""Numbers for people (tracker.reports.render.units): a unit that fits, three significant figures, no float noise,
and something sensible for 0, tiny, huge, negative, NaN and None."""

from __future__ import annotations

import math

import pytest

from tracker.reports.render import units


@pytest.mark.parametrize(
    ("kg", "text"),
    [
        (0.0, "0 g"),
        (2.83e-05, "28.3 mg"),
        (3.48e-07, "348 µg"),
        (1e-13, "0.0001 µg"),  # below the smallest unit: still no exponent
        (1e-12, "0.001 µg"),
        (0.000999996, "1 g"),  # rounding carries into the next unit
        (0.25, "250 g"),
        (1.0, "1 kg"),
        (999.96, "1 t"),
        (1234.5, "1.23 t"),
        (12_345_678.0, "12,300 t"),  # beyond the largest unit: thousands separated, three significant figures
        (-0.0042, "-4.2 g"),
        (-1500.0, "-1.5 t"),
        (None, "n/a"),
        (math.nan, "n/a"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
    ],
)
def test_mass(kg, text):
    assert units.mass(kg) == text


@pytest.mark.parametrize(
    ("kwh", "text"),
    [
        (0.0, "0 Wh"),
        (6.99e-06, "6.99 mWh"),
        (8.58e-11, "0.0858 µWh"),  # below the smallest unit: still no exponent
        (8.58e-08, "85.8 µWh"),
        (0.00195, "1.95 Wh"),
        (0.62, "620 Wh"),
        (987.0, "987 kWh"),
        (1233.6, "1.23 MWh"),
        (123_456_789.0, "123 GWh"),
        (-0.5, "-500 Wh"),
        (None, "n/a"),
    ],
)
def test_energy(kwh, text):
    assert units.energy(kwh) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0 s"),
        (0.000842 * 3600, "3.03 s"),  # the 0.000842 hours
        (0.0004, "0.4 ms"),
        (0.5, "500 ms"),
        (59.97, "1 min"),  # not "60 s", not "0.999 min"
        (90.0, "1.5 min"),
        (3599.9, "1 h"),
        (5400.0, "1.5 h"),
        (810_000.0, "225 h"),
        (1e9, "278,000 h"),
        (-30.0, "-30 s"),
        (math.nan, "n/a"),
    ],
)
def test_duration(seconds, text):
    assert units.duration(seconds) == text


@pytest.mark.parametrize(
    ("km", "text"),
    [
        (0.0, "0 m"),
        (1e-9, "< 1 m"),  # never "0.0 km" for a distance that is there
        (0.0004, "< 1 m"),
        (0.001, "1 m"),
        (0.4567, "457 m"),
        (12.345, "12.3 km"),
        (7020.4, "7,020 km"),
        (-0.0004, "> -1 m"),
        (None, "n/a"),
    ],
)
def test_distance(km, text):
    assert units.distance(km) == text


def test_floating_point_noise_never_shows():
    assert units.pue(1.3000000000000003) == "1.3"
    assert units.pue(1.0) == "1"
    assert units.intensity(253.56000000000003) == "254 g/kWh"
    assert units.intensity(0.1 + 0.2) == "0.3 g/kWh"
    assert units.percent(0.1 + 0.2) == "30%"
    assert units.percent(0.9093567251461988) == "90.9%"
    assert units.number(0.1 + 0.7) == "0.8"
    assert units.number(0.000842) == "0.000842"
    assert units.number(1e-9) == "0.000000001"
    assert units.number(1234.5) == "1,230"
    assert units.number(9.996) == "10"
    assert units.number(0) == "0"
    assert units.count(1234) == "1,234" and units.count(None) == "n/a"
    for value in (2.83e-05, 1e-20, 1e20, -3.3e-7, 123456.789):
        for text in (units.number(value), units.mass(value), units.energy(value), units.duration(value)):
            assert "e" not in text.split()[0].lower(), text  # never an exponent


def test_three_significant_figures_round_trip():
    for value in (0.000123456, 0.0987654, 1.23456, 45.6789, 987.654, 123456.0):
        shown = float(units.number(value).replace(",", ""))
        assert shown == pytest.approx(value, rel=5e-3)
        assert shown == units.round_sig(value)


def test_one_unit_for_a_chart_axis():
    assert units.scale_for(0.0034, units.MASS_UNITS) == (1e-3, "g")
    assert units.scale_for(212.0, units.MASS_UNITS) == (1.0, "kg")
    assert units.scale_for(0.0, units.MASS_UNITS) == (1.0, "kg")
    assert units.scale_for(math.nan, units.ENERGY_UNITS) == (1.0, "kWh")
