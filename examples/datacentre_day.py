"""A data-centre day, accounted the way an auditor reads it: location-based and market-based, side by side.

1,000 kWh of IT energy over one day in the Netherlands, a facility PUE of 1.3, and electricity bought 80 % from a
supplier at 0.008 kg CO2e/kWh and 20 % from one at 0.01 kg/kWh: 10.92 kg CO2e market-based. Embedded data only.

First as one figure (``tracker.estimate``), then the way ``tracker datacentre`` gets it: a one-piece inventory, a
day of minute power readings, the site's PUE and supplier files, accounted and stored as records of kind
``equipment`` beside the runs (needs the ``datacentre`` extra: ``pip install 'tracker[datacentre]'``).

    python examples/datacentre_day.py
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

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
    from_minute_power(day)


def from_minute_power(day: datetime) -> None:
    """The same day from 1,440 readings of one virtualisation host, through the data-centre path."""
    try:
        from tracker.footprint.pipeline import account_datacentre, load_estate
        from tracker.footprint.power import read_power
        from tracker.footprint.tables import require_pyarrow

        require_pyarrow()
    except tracker.ConfigError as exc:
        print(f"\n(the data-centre path needs the extra: {exc})")
        return
    from tracker.stores import open_store

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "inv.csv").write_text(
            "type,id,category,sub_category,site,vcpus,equipment,key,allocation,service\n"
            "equipment,esx-01,compute,virtualisation host,AMS1,32,,,,\n"
            "instance,vm-web,,,,,esx-01,vcpu,24,shop\n",
            encoding="utf-8",
        )
        watts = 1_000_000 / 24  # 1,440 minutes at this power: 1,000 kWh
        lines = [f"{(day + timedelta(minutes=m)).isoformat()},esx-01,{watts!r}" for m in range(1440)]
        (folder / "power.csv").write_text("timestamp,equipment,watts\n" + "\n".join(lines) + "\n", encoding="utf-8")
        (folder / "pue.csv").write_text(f"site,date,pue\nAMS1,{day.date()},1.3\n", encoding="utf-8")
        (folder / "sup.csv").write_text(
            "site,valid_from,supplier,share_percent,kg_co2e_per_kwh\n"
            "AMS1,2026-01-01,wind supplier,80,0.008\nAMS1,2026-01-01,grid supplier,20,0.01\n",
            encoding="utf-8",
        )
        (folder / "sites.csv").write_text("site,zone\nAMS1,NL\n", encoding="utf-8")
        inventory, book = load_estate(folder / "inv.csv", folder / "pue.csv", folder / "sup.csv", folder / "sites.csv")
        store = open_store(str(folder / "footprint.db"))
        power = read_power(folder / "power.csv", list(inventory.equipment))
        result = account_datacentre(inventory, book, power, store=store, organisation="example")
        total = result.rollup.total
        print(
            f"\nfrom minute power: {total.energy_kwh:,.1f} kWh, market-based {total.emissions_market_kg:,.2f} kg CO2e"
        )
        for service, part in sorted(result.rollup.groups["service"].items()):
            print(f"  service {service:<14} {part.energy_kwh:8,.1f} kWh  {part.emissions_market_kg:6,.2f} kg (market)")
        store.close()


if __name__ == "__main__":
    main()
