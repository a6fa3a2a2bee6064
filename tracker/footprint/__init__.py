"""The organisation's whole footprint: data-centre equipment, cloud exports, other tools' data (issue 17).

Data flows as in the rest of the package: ``inventory`` and ``power`` (or ``prometheus_source``) read what the
operator has, ``daily`` turns minute watts into daily kWh per equipment and accounts them through
:func:`tracker.estimate` (the same accounting as runs), ``rollup`` allocates equipment energy to instances and
services and builds the records (``kind="equipment"``) that the stores keep beside the runs. ``cloud/`` reads the
cloud providers' footprint exports (``kind="cloud"``). ``docs/datacentre.md`` tells the whole story.
"""
