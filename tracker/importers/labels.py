"""Labels for what is imported: who a CodeCarbon project, a cloud account or a tag belongs to.

Imported data rarely knows our labels: CodeCarbon has a project name and nothing else, a cloud export has account
ids, projects, subscriptions and tags. A mapping file (CSV: ``match``, ``project``, ``team``, ``organisation``) says
whose each one is: ``match`` is a CodeCarbon project name, a cloud account / project / subscription id, or a tag as
``key=value``. The first row that matches wins; defaults given on the command line (``--team``, ``--organisation``)
fill what the mapping leaves empty, so ``tracker report --by team`` never reads "(none)" by accident.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tracker.errors import ConfigError


@dataclass(frozen=True)
class Labels:
    project: str | None = None
    team: str | None = None
    organisation: str | None = None


@dataclass
class LabelMap:
    """The mapping rows in file order, and the defaults."""

    rows: list[tuple[str, Labels]] = field(default_factory=list)
    default: Labels = Labels()

    def labels(self, keys: Iterable[str], project: str | None = None) -> Labels:
        """The labels of the first row whose ``match`` is one of ``keys``, the defaults filling the gaps;
        ``project`` is the project when the mapping gives none."""
        wanted = set(keys)
        found = next((labels for match, labels in self.rows if match in wanted), Labels())
        return Labels(
            found.project or self.default.project or project,
            found.team or self.default.team,
            found.organisation or self.default.organisation,
        )

    def labels_for_tags(self, keys: Iterable[str], tags: Mapping[str, str], project: str | None = None) -> Labels:
        return self.labels([*keys, *(f"{k}={v}" for k, v in tags.items())], project)


def load_label_map(
    path: str | Path | None, *, project: str | None = None, team: str | None = None, organisation: str | None = None
) -> LabelMap:
    """The mapping file (or none) with the command line's defaults; a row without ``match`` is a
    :class:`ConfigError` naming the row."""
    mapping = LabelMap(default=Labels(project, team, organisation))
    if path is None:
        return mapping
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("mapping", str(path), f"cannot read it: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "match" not in [f.strip().lower() for f in reader.fieldnames]:
        raise ConfigError("mapping", str(path), "expected a CSV header naming match, project, team, organisation")
    for raw in reader:
        row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        if not row.get("match"):
            raise ConfigError("mapping", f"{file.name} line {reader.line_num}", "each row needs a match value")
        labels = Labels(row.get("project") or None, row.get("team") or None, row.get("organisation") or None)
        mapping.rows.append((row["match"], labels))
    return mapping
