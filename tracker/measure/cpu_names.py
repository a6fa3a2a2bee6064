"""Normalise CPU brand strings so that a running machine can be matched to the TDP table.

The same normaliser builds the embedded table (``scripts/build_tables.py``) and reads the machine's brand
string at run time, so both sides always agree on what a "key" is.
"""

from __future__ import annotations

import re

_NOISE = re.compile(
    r"\b\d+(st|nd|rd|th)\s+gen\b|\(r\)|\(tm\)|®|™|\bcpu\b|\bprocessor\b|\bapu\b|@.*$|\bwith radeon.*$|\bw/ radeon.*$"
    r"|\b\d+-core\b|\b(six|eight|quad|dual|twelve|sixteen)-core\b|\d+(\.\d+)?\s*ghz",
)
_NON_WORD = re.compile(r"[^a-z0-9+\-]+")
_VENDOR_FAMILY = {
    "epyc": "amd",
    "ryzen": "amd",
    "threadripper": "amd",
    "athlon": "amd",
    "opteron": "amd",
    "xeon": "intel",
    "core": "intel",
    "celeron": "intel",
    "pentium": "intel",
    "atom": "intel",
}


def normalize_cpu_name(name: str) -> str:
    """A lower-case, vendor-prefixed key.

    ``"Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"`` -> ``"intel xeon gold 6248"``.
    """
    text = name.lower()
    text = _NOISE.sub(" ", text)
    text = _NON_WORD.sub(" ", text)
    tokens = text.split()
    if tokens and tokens[0] in _VENDOR_FAMILY:
        tokens.insert(0, _VENDOR_FAMILY[tokens[0]])
    return " ".join(tokens)


def model_tokens(key: str) -> set[str]:
    """Tokens that carry a model number (contain a digit): these must match exactly."""
    return {t for t in key.split() if any(c.isdigit() for c in t)}
