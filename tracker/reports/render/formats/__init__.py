"""One module per output format, named as ``--format`` spells it, each defining ``RENDERER``."""
