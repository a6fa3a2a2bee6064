"""A data-centre day, accounted the way an auditor reads it: location-based and market-based, side by side.

1,000 kWh of IT energy over one day in the Netherlands, a facility PUE of 1.3, and electricity bought 80 % from a
supplier at 0.008 kg CO2e/kWh and 20 % from one at 0.01 kg/kWh: 10.92 kg CO2e market-based. Embedded data only.

    python examples/datacentre_day.py
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import tracker


def main() -> None:
    day = datetime(2026, 3, 14, tzinfo=timezone.utc)
    result = tracker.estimate(
        1000.0,
        start=day,
        end=day + timedelta(days=1),
        zone="NL",
        pue=1.3,
        suppliers=[("wind supplier", 80, 0.008), ("grid supplier", 20, 0.01)],
        embodied_kg=50_000,  # the site's IT equipment, amortised over its lifetime (SCI's M)
        embodied_lifetime_years=5,
    )
    print(f"IT energy        {result.energy_kwh:,.1f} kWh")
    print(f"facility energy  {result.facility_energy_kwh:,.1f} kWh  (PUE {result.pue:g}: {result.pue_source})")
    print(
        f"location-based   {result.emissions_kg:,.2f} kg CO2e  ({result.intensity_g_per_kwh:g} g/kWh, {result.zone}, "
        f"{result.intensity_year}, {result.intensity_factor_type}; {result.intensity_source})"
    )
    print(f"market-based     {result.emissions_market_kg:,.2f} kg CO2e  ({result.market_source})")
    print(f"embodied         {result.embodied_kg:,.2f} kg CO2e  (reported apart)")
    for note in result.notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
