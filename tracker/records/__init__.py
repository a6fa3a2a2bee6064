"""Records: the ``RunRecord`` schema with its column vocabulary, and rows to pandas.
"""
