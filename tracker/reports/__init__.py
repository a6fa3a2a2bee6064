"""Reports over stored runs: roll-up tables (terminal, JSON, CSV, Markdown, HTML with charts), the annual
statement, and greener-region recommendations. Building a report (``data``) and rendering it (``text``,
``html``) are separate, so every format shows the same numbers.
"""
