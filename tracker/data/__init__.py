"""Embedded data tables (see PROVENANCE.md and LICENSES.md in this folder)."""
