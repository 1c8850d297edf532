"""Throwaway servers and clients on 127.0.0.1 for the tests, the demo and the benchmarks.

Not part of the installed product: it runs from a checkout (``make test``, ``make demo``,
``make bench``), where the repository root is on ``sys.path``.
"""
