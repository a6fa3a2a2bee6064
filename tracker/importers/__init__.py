"""Importers: bring runs measured by other tools into the store."""
