"""The inventory: equipment, the instances each one hosts with an allocation key, and services as groups of them.

One table (CSV or Parquet) with a ``type`` column, so one file describes the whole estate:

- ``equipment`` rows: ``id``, ``category`` (``compute``, ``storage`` or ``network``), ``sub_category`` (free text:
  virtualisation host, Power server, array, object store, backup, switch, firewall, load balancer ...), ``site``,
  and the capacity the allocation keys divide: ``vcpus`` and/or ``gb``.
- ``instance`` rows: ``id``, ``equipment`` (the host), ``key`` (``vcpu``, ``gb`` or ``percent``), ``allocation``
  (vCPUs, GB, or an explicit share in percent), ``service`` (the global service it belongs to) and optionally
  ``team``. An instance that uses several pieces of equipment (a VM's host and the array holding its disks) has one
  row per piece.

Everything is checked when the file is read, and every error names the row: an unknown category or site, a host
that is not in the inventory, an allocation key the host has no capacity for, shares over 100 % of a host, an
instance in no service (or in two). What the instances do not take of a host's energy stays with the host as its
``(unallocated)`` share, so that a service's footprint never hides energy and the parts always add up.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from tracker.errors import ConfigError
from tracker.footprint.tables import Row, number, read_rows

CATEGORIES = ("compute", "storage", "network")
KEYS = {"vcpu": "vcpus", "gb": "gb", "percent": None}  # allocation key -> the host's capacity column
UNALLOCATED = "(unallocated)"
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Equipment:
    id: str
    category: str
    sub_category: str
    site: str
    vcpus: float | None = None
    gb: float | None = None


@dataclass(frozen=True)
class Share:
    """One instance's part of one piece of equipment: ``fraction`` of its energy, and why."""

    instance: str
    equipment: str
    service: str
    team: str | None
    fraction: float
    basis: str  # e.g. "vcpu 8 of 32"


@dataclass
class Inventory:
    equipment: dict[str, Equipment]
    shares: dict[str, list[Share]] = field(default_factory=dict)  # equipment id -> its instances' shares

    def shares_of(self, equipment: str) -> list[Share]:
        """The instances' shares of one piece of equipment, the unallocated rest last (always adds up to 1)."""
        shares = list(self.shares.get(equipment, ()))
        rest = 1.0 - sum(s.fraction for s in shares)
        if rest > _TOLERANCE or not shares:
            shares.append(Share(UNALLOCATED, equipment, UNALLOCATED, None, max(rest, 0.0), "not allocated"))
        return shares

    @property
    def sites(self) -> set[str]:
        return {e.site for e in self.equipment.values()}

    @property
    def services(self) -> dict[str, set[str]]:
        """Each global service and its instances."""
        found: dict[str, set[str]] = {}
        for shares in self.shares.values():
            for share in shares:
                found.setdefault(share.service, set()).add(share.instance)
        return found


def load_inventory(path: str | Path, sites: Collection[str] | None = None) -> Inventory:
    """Read and validate the inventory; ``sites``, when given, are the sites the PUE, supplier and site files
    know: equipment at any other site is an error (its energy could not be accounted)."""
    return parse_inventory(read_rows(path, "inventory"), sites)


def parse_inventory(rows: list[Row], sites: Collection[str] | None = None) -> Inventory:
    equipment: dict[str, Equipment] = {}
    instance_rows: list[Row] = []
    for row in rows:
        kind = row.get("type").lower()
        if kind == "equipment":
            item = _equipment(row, sites)
            if item.id in equipment:
                raise ConfigError("inventory", f"{row.where}: {item.id}", "this equipment id appears twice")
            equipment[item.id] = item
        elif kind == "instance":
            instance_rows.append(row)
        else:
            raise ConfigError("inventory", f"{row.where}: type={kind!r}", "type must be 'equipment' or 'instance'")
    if not equipment:
        raise ConfigError("inventory", rows[0].where.rsplit(" ", 2)[0] if rows else "", "no equipment rows")
    shares: dict[str, list[Share]] = {}
    service_of: dict[str, tuple[str, str]] = {}
    seen: set[tuple[str, str]] = set()
    for row in instance_rows:
        share = _share(row, equipment)
        if (share.instance, share.equipment) in seen:
            raise ConfigError("inventory", f"{row.where}: {share.instance}", f"listed twice on {share.equipment}")
        seen.add((share.instance, share.equipment))
        earlier = service_of.setdefault(share.instance, (share.service, row.where))
        if earlier[0] != share.service:
            raise ConfigError(
                "inventory",
                f"{row.where}: {share.instance}",
                f"in service {share.service!r} here but {earlier[0]!r} at {earlier[1]}: an instance is in one service",
            )
        shares.setdefault(share.equipment, []).append(share)
        total = sum(s.fraction for s in shares[share.equipment])
        if total > 1.0 + _TOLERANCE:
            raise ConfigError(
                "inventory",
                f"{row.where}: {share.instance}",
                f"the instances of {share.equipment} now take {total * 100:.4g} % of it: shares must not exceed 100 %",
            )
    return Inventory(equipment, shares)


def _equipment(row: Row, sites: Collection[str] | None) -> Equipment:
    ident = row.get("id")
    if not ident:
        raise ConfigError("inventory", f"{row.where}: id", "equipment needs an id")
    category = row.get("category").lower()
    if category not in CATEGORIES:
        expected = f"expected one of {', '.join(CATEGORIES)}"
        raise ConfigError("inventory", f"{row.where}: category={category!r}", expected)
    site = row.get("site")
    if not site:
        raise ConfigError("inventory", f"{row.where}: site", "equipment needs a site")
    if sites is not None and site not in sites:
        known = ", ".join(sorted(sites)) or "none"
        raise ConfigError("inventory", f"{row.where}: site={site!r}", f"unknown site (the site files know: {known})")
    return Equipment(
        ident,
        category,
        row.get("sub_category"),
        site,
        number(row, "vcpus", "inventory", low=0, required=False),
        number(row, "gb", "inventory", low=0, required=False),
    )


def _share(row: Row, equipment: dict[str, Equipment]) -> Share:
    ident = row.get("id")
    if not ident:
        raise ConfigError("inventory", f"{row.where}: id", "an instance needs an id")
    host = equipment.get(row.get("equipment"))
    if host is None:
        raise ConfigError("inventory", f"{row.where}: equipment={row.get('equipment')!r}", "no such equipment")
    service = row.get("service")
    if not service:
        raise ConfigError("inventory", f"{row.where}: {ident}", "this instance is in no service: give its service")
    key = row.get("key").lower()
    if key not in KEYS:
        raise ConfigError("inventory", f"{row.where}: key={key!r}", "the allocation key is vcpu, gb or percent")
    amount = number(row, "allocation", "inventory", low=0)
    assert amount is not None
    capacity_column = KEYS[key]
    if capacity_column is None:
        fraction, basis = amount / 100.0, f"{amount:g} %"
    else:
        capacity = getattr(host, capacity_column)
        if not capacity:
            raise ConfigError(
                "inventory", f"{row.where}: key={key}", f"equipment {host.id} has no {capacity_column} to divide"
            )
        fraction, basis = amount / capacity, f"{key} {amount:g} of {capacity:g}"
    return Share(ident, host.id, service, row.get("team") or None, fraction, basis)
