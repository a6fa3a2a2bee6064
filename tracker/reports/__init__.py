"""Reports over stored runs: roll-up tables (terminal, JSON, CSV, Markdown, HTML with charts), the annual
statement, and greener-region recommendations. Building a report (``data``, ``annual``, ``recommend``: data
only) and rendering it (``render``: ``render(obj, fmt)``, one module per format) are separate, so every format
shows the same numbers.
"""
