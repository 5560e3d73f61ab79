"""The benchmark suite of issue 6: ``make bench`` (``python -m bench``). Nothing here is a test."""
