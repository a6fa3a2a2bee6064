"""Runs and spans: ``Run``, ``Tracker``, ``track``, ``task``, the span profile, the end of a run, and what
happens at exit and on SIGTERM.
"""
