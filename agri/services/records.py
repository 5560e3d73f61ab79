"""Writes of records that phones create offline with their own ids (model households, farmers).

Every record a phone creates (households, farmers, visits, photos) has the client's UUID as its primary key, so a
duplicate is impossible, and one rule answers a create whose id is already stored (:func:`taken_id_outcome`): a
replay answers ``unchanged`` with the stored record; anything else is a :class:`agri.errors.Conflict` that changes
nothing and says nothing about the record that holds the id. Visits take the set-based path
(``agri.services.visits.visits_ingest``: one INSERT ... ON CONFLICT for a batch), photos theirs
(``agri.services.photos.photo_ingest``); households and farmers come one at a time, here.

Edits and deletes are compare-and-swap on ``version`` (``agri.models.base.Versioned``): one conditional UPDATE
``... SET version = version + 1 WHERE version = <the version the client read>`` decides, so that of two phones
editing from the same copy one wins and the other gets :class:`agri.errors.StaleVersion`, never a lost update.
"""

from django.db import IntegrityError, transaction
from django.db.models import F, Model, QuerySet
from django.utils import timezone

from agri import errors
from agri.models import ModelHousehold

CREATED, UNCHANGED, CONFLICT = "created", "unchanged", "conflict"
# Live rows that keep a record from being deleted: a household with farmers still registered.
LIVE_DEPENDANTS = {ModelHousehold: "farmers"}


def taken_id_outcome(*, same: bool, readable: bool = True, live: bool = True) -> str:
    """The one rule for a create whose client id is already stored: ``UNCHANGED`` (a replay: answer the stored record)
    when the caller may read the stored record, it is live (not a tombstone) and the payload is the same (a visit's
    payload includes the account that recorded it, a photo's its visit, which only its recorder may add to); else
    ``CONFLICT``, one answer whatever the stored record is.

    Why the conflict stays (rather than per-account id namespaces, which would make another account's ids
    unobservable): a client id is the record's key everywhere phones name it (URLs, a photo's visit, a farmer's
    household, training attendees, the sync feed), shared by every account that reads the record; namespacing it
    by creator would give one record several keys. Ids are random UUIDs (122 bits), so the 409 only tells one who
    already holds an id, having been shown it, that it is taken; it says nothing else about the record."""
    return UNCHANGED if same and readable and live else CONFLICT


def record_create(*, model: type[Model], data: dict) -> Model:
    """Create a row from validated data; many-to-many values are set after the row exists."""
    data = dict(data)
    many = {f.name: data.pop(f.name) for f in model._meta.many_to_many if f.name in data}
    record = model.objects.create(**data)
    for name, values in many.items():
        getattr(record, name).set(values)
    return record


def record_create_once(*, model: type[Model], data: dict, scope: QuerySet | None = None) -> tuple[str, Model]:
    """Create the record, or answer a replay: ``(CREATED | UNCHANGED, record)``; :class:`agri.errors.Conflict`
    for any other create under a stored id (:func:`taken_id_outcome`; ``scope``: the caller's visible live rows)."""
    pk = data.get("id")
    if pk is not None and model.objects.filter(pk=pk).exists():
        return UNCHANGED, _replay(model, pk, data, scope)
    try:
        with transaction.atomic():
            return CREATED, record_create(model=model, data=data)
    except IntegrityError:
        # A concurrent request stored the same id first.
        if pk is None or not model.objects.filter(pk=pk).exists():
            raise
        return UNCHANGED, _replay(model, pk, data, scope)


def _replay(model, pk, data: dict, scope: QuerySet | None) -> Model:
    stored = (scope if scope is not None else model.objects).filter(pk=pk).first()
    same = stored is not None and same_as_stored(stored, data)
    if taken_id_outcome(same=same, readable=stored is not None) == CONFLICT:
        raise errors.Conflict()
    return stored


def same_as_stored(instance, validated_data: dict) -> bool:
    """Whether a replayed create carries the same data as the stored record (many-to-many compared as sets)."""
    for name, value in validated_data.items():
        if name == "id":
            continue
        field = instance._meta.get_field(name)
        if field.many_to_many:
            if {obj.pk for obj in value} != set(getattr(instance, name).values_list("pk", flat=True)):
                return False
        elif getattr(instance, field.attname if field.is_relation else name) != (
            value.pk if field.is_relation and value is not None else value
        ):
            return False
    return True


def record_update(*, record: Model, data: dict, expected_version: int | None) -> Model:
    """Write validated data to a live record if it is still at ``expected_version`` (``None``: whatever version it
    is at), and add one to its version; :class:`agri.errors.StaleVersion` if it changed or was deleted meanwhile.

    The version is bumped first, by a conditional UPDATE, and the fields are written in the same transaction: the
    UPDATE holds the row until the commit, so a concurrent writer's own check waits and then fails."""
    model = type(record)
    data = {name: value for name, value in data.items() if name != "id"}  # a record's id never changes
    many = {f.name: data.pop(f.name) for f in model._meta.many_to_many if f.name in data}
    with transaction.atomic():
        current = model.objects.filter(pk=record.pk, deleted_at__isnull=True)
        if expected_version is not None:
            current = current.filter(version=expected_version)
        if not current.update(version=F("version") + 1):
            raise errors.StaleVersion()
        for name, value in data.items():
            setattr(record, name, value)
        record.save(update_fields=[*data, "updated_at"])
        for name, values in many.items():
            getattr(record, name).set(values)
    if expected_version is None:
        record.version = model.objects.values_list("version", flat=True).get(pk=record.pk)
    else:
        record.version = expected_version + 1
    return record


def record_soft_delete(*, record: Model, expected_version: int | None = None) -> None:
    """Keep the row as a tombstone (``deleted_at``) so that phones pulling changes remove it too. With
    ``expected_version``, only if the record is still at it (:class:`agri.errors.StaleVersion` otherwise)."""
    dependants = LIVE_DEPENDANTS.get(type(record))
    if dependants and getattr(record, dependants).filter(deleted_at__isnull=True).exists():
        raise errors.InUse()
    now = timezone.now()
    current = type(record).objects.filter(pk=record.pk, deleted_at__isnull=True)
    if expected_version is not None:
        current = current.filter(version=expected_version)
    if not current.update(deleted_at=now, updated_at=now, version=F("version") + 1) and expected_version is not None:
        raise errors.StaleVersion()
