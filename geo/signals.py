"""Signals that geo sends for the apps built on it (geo imports nothing from them).

``divisions_imported`` is sent by ``manage.py import_divisions`` after the imported divisions are
committed, with keyword arguments:

- ``codes``: the 12-digit codes written (a list);
- ``level``: their level;
- ``bounds``: ``(min_lon, min_lat, max_lon, max_lat)`` of their boundaries in WGS-84.

Receivers return a short summary of what they did (e.g. how many visits they reassigned), which the
command prints. ``agri`` connects one in ``AgriConfig.ready`` that reassigns the stored visits.
"""

from django.dispatch import Signal

divisions_imported = Signal()
