"""Which moves of a workload keep its data under the same law: the EU/EEA, else the same country.

A greener region is only a useful suggestion if the data may go there. Personal data may move freely within the
European Economic Area (GDPR, Art. 1(3) and the EEA Agreement); leaving it needs an adequacy decision or other
safeguards, which a default must not assume. So the default for recommendations and ``tracker.greenest(...,
jurisdiction="same")``: within the EU/EEA for a place there, else within the same country.

Membership: the 27 EU member states (https://european-union.europa.eu/principles-countries-history/eu-countries,
2025) and the three other EEA states Iceland, Liechtenstein and Norway (EFTA, https://www.efta.int/eea, 2025).
Switzerland and the United Kingdom are in neither.
"""

from __future__ import annotations

EU = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})  # 27 member states, 2025  # fmt: skip
EEA = EU | {"IS", "LI", "NO"}


def jurisdiction(country: str | None) -> str | None:
    """``EU/EEA`` for a country there, else the country's own code (None when unknown)."""
    if not country:
        return None
    code = country.upper()
    return "EU/EEA" if code in EEA else code


def same_jurisdiction(here: str | None, there: str | None) -> bool:
    """Whether a workload in ``here`` may default to moving to ``there`` (both ISO alpha-2)."""
    return here is not None and there is not None and jurisdiction(here) == jurisdiction(there)


def describe(country: str | None) -> str:
    """The constraint as a reader sees it: "within the EU/EEA" or "within US"."""
    found = jurisdiction(country)
    if found is None:
        return "no jurisdiction known: no other place suggested"
    return "within the EU/EEA (data residency)" if found == "EU/EEA" else f"within {found} (data residency)"
