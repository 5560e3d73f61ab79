"""The change log that sync pulls read: one row per write to a synced table, written by database triggers.

Triggers (migration ``0009_change_log``) catch every write path: the API, the admin, bulk updates, boundary
re-assignment, raw SQL. Each row says which record changed (``kind``, ``record_id``) and who could see it before
and after the write (``codes``, ``people``), so that a pull can send a tombstone to an account the record left.
Why the feed never misses a commit, whatever the order of commits: see docs/sync.md.
"""

from django.db import models
from django.db.models.functions import Now


class ChangeKind(models.TextChoices):
    INDUSTRY = "industry"
    DIVISION = "division"
    STATION = "station"
    BASE = "base"
    HOUSEHOLD = "household"
    FARMER = "farmer"
    VISIT = "visit"
    PHOTO = "photo"
    # Not a record: a restore from a backup wrote it. Every sync token issued before it starts a first sync.
    EPOCH = "epoch"


class Change(models.Model):
    """One write to a synced record (insert, update or delete), in insertion order (``seq``)."""

    seq = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=ChangeKind.choices)
    record_id = models.CharField(max_length=40)
    # PostgreSQL: the writing transaction's id (xid8). A pull returns the changes of every transaction that was
    # not finished when the previous pull looked (docs/sync.md). SQLite serialises writers, so seq alone orders
    # commits there and this stays null.
    txid = models.BigIntegerField(null=True, db_index=True)
    at = models.DateTimeField(db_default=Now())
    # Who could see the record before and after the write, as space-separated tokens: the 12-digit division
    # codes bureau jurisdictions match by prefix, and people (w<worker>, e<expert>, c<commissioner>, s<station>,
    # or * for reference data every account receives).
    codes = models.TextField(default="")
    people = models.TextField(default="")

    class Meta:
        verbose_name = "change"
        indexes = [models.Index(fields=["kind", "record_id"], name="agri_change_record")]

    def __str__(self):
        return f"{self.seq} {self.kind} {self.record_id}"
