"""Personal data (PIPL) and where families live: what each reader sees of households, farmers, staff and visits.

The one rule, applied by every output (the API's list and detail serializers, the sync feed, visits.geojson, the GIS
exports, coverage, the network tree, the Django admin):

1. **Phone and ID numbers.** Bureau admins (and superusers) and the account the record belongs to (the worker who
   owns a household and its farmers, a person their own record) see them; everyone else sees ``138****1234``.
2. **Where a family lives.** Bureau viewers read the county's picture, not where each family lives: every position
   of a household or of a visit (visits happen at the household) they get is the centre of its H3 cell at
   ``COVERAGE_VIEWER_H3_RESOLUTION``, a household's address is withheld (empty), and the names of a household's head
   and of its farmers keep their first character only (``陈**``). Every other role that may read the record at all
   visits the family, or runs the network, and gets them exact. A photo's EXIF position is coarsened the same way,
   and its original file (which carries that EXIF) is not served to them.

Each kind of record names its private fields once (:data:`HOUSEHOLD`, :data:`FARMER`, :data:`PERSON`,
:data:`VISIT`, :data:`PHOTO`, :data:`VISIT_EVENT`; :data:`PRIVATE` maps each model to its own); :func:`redact`
applies the rule to rows of it, vectorised over a page. Outputs that show single records rather than rows (the
Django admin, a model's ``__str__`` in its breadcrumbs, select options and autocompletes) read the same rule through
:func:`shown_value` and :func:`private_fields`, for the account of the request being answered (:func:`reading_as`,
set once per request by ``agri.middleware.PrivacyReaderMiddleware``).
"""

from collections.abc import Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings

from agri.models import (
    Expert,
    ExtensionWorker,
    Farmer,
    ModelHousehold,
    Photo,
    Role,
    TechCommissioner,
    Visit,
    VisitEvent,
)
from agri.validators import mask
from geo.h3cells import snap_to_cells

MASKED_FIELDS = ("phone", "id_number")


@dataclass(frozen=True)
class Private:
    """The fields of one kind of record that the rule covers (keys of its rows)."""

    numbers: tuple[str, ...] = ()  # masked unless the reader may see personal data
    names: tuple[str, ...] = ()  # first character only for coarse readers
    addresses: tuple[str, ...] = ()  # withheld from coarse readers
    points: tuple[tuple[str, str], ...] = ()  # (lat, lon) keys, WGS-84: cell centres for coarse readers

    def coarse_fields(self) -> tuple[str, ...]:
        """The fields that coarse readers (bureau viewers) read changed: names, addresses and coordinates."""
        return (*self.names, *self.addresses, *(name for point in self.points for name in point))

    def fields(self) -> tuple[str, ...]:
        return (*self.numbers, *self.coarse_fields())


HOUSEHOLD = Private(numbers=("phone",), names=("head_name",), addresses=("address",), points=(("lat", "lon"),))
# A farmer's position is its household's (``lat``/``lon`` of the API's farmers), coarsened the same way.
FARMER = Private(numbers=MASKED_FIELDS, names=("name",), points=(("lat", "lon"),))
PERSON = Private(numbers=MASKED_FIELDS)  # experts, workers, commissioners: staff, who are named and placed
# The position as the phone sent it (``client_*``, in its own CRS) is the same place.
VISIT = Private(points=(("lat", "lon"), ("client_lat", "client_lon")))
PHOTO = Private(points=(("exif_lat", "exif_lon"),))  # where the phone was: at the household, as often as not
# A visit's audit trail holds the visit's positions before and after each edit: withheld from coarse readers (the
# API shows the trail to bureau admins only).
VISIT_EVENT = Private(addresses=("changes",))

# Every model whose records hold personal data, with its private fields.
PRIVATE = {
    ModelHousehold: HOUSEHOLD,
    Farmer: FARMER,
    Expert: PERSON,
    ExtensionWorker: PERSON,
    TechCommissioner: PERSON,
    Visit: VISIT,
    Photo: PHOTO,
    VisitEvent: VISIT_EVENT,
}

_reader: ContextVar = ContextVar("privacy_reader", default=None)


@contextmanager
def reading_as(request):
    """Within the block, single records are shown as ``request.user`` may see them (read lazily: the API
    authenticates inside the view, and sets ``request.user`` then)."""
    token = _reader.set(request)
    try:
        yield
    finally:
        _reader.reset(token)


def reader():
    """The account the current request is answered for, or None outside a request (commands, the shell, tasks)."""
    request = _reader.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


def can_see_personal_data(user, owner_user_id) -> bool:
    """Bureau admins and the worker who owns the record see phone and ID numbers; everyone else sees them masked."""
    if user is None or not user.is_authenticated:
        return False
    return (
        user.is_superuser or user.role == Role.BUREAU_ADMIN or (owner_user_id is not None and owner_user_id == user.pk)
    )


def location_grid(user) -> int | None:
    """The H3 resolution that bounds the positions of families ``user`` may see, or None for exact ones: bureau
    viewers get ``COVERAGE_VIEWER_H3_RESOLUTION``; bureau admins, and the experts, workers and commissioners who visit
    the households, exact positions."""
    if user is None or user.is_superuser or user.role != Role.BUREAU_VIEWER:
        return None
    return settings.COVERAGE_VIEWER_H3_RESOLUTION


def may_see_original_photos(user) -> bool:
    """A photo's original file carries the phone's EXIF, GPS included: readers of coarsened positions get the display
    image and the thumbnail (which carry no metadata), not the original."""
    return location_grid(user) is None


def mask_name(name: str) -> str:
    """A person's name with its first character only: ``陈大富`` → ``陈**``."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else name


def coarsen_points(rows: list[dict], resolution: int | None, lat: str = "lat", lon: str = "lon") -> list[dict]:
    """Move each row's WGS-84 position (in place) to the centre of its H3 cell at ``resolution``; rows without a
    position are left alone."""
    located = [r for r in rows if r.get(lat) is not None and r.get(lon) is not None]
    if resolution is None or not located:
        return rows
    lats, lons = snap_to_cells([r[lat] for r in located], [r[lon] for r in located], resolution)
    for row, y, x in zip(located, lats.tolist(), lons.tolist(), strict=True):
        row[lat], row[lon] = y, x
    return rows


def redact(rows: list[dict], user, private: Private, owners: Sequence | None = None) -> list[dict]:
    """``rows`` (dicts of one kind, positions in WGS-84) as ``user`` may see them, changed in place and returned.
    ``owners``: the owning account's id for each row (for the numbers), in the same order."""
    if private.numbers:
        for row, owner in zip(rows, owners or [None] * len(rows), strict=True):
            if not can_see_personal_data(user, owner):
                for name in private.numbers:
                    if row.get(name):
                        row[name] = mask(row[name])
    grid = location_grid(user)
    if grid is None:
        return rows
    for row in rows:
        for name in private.names:
            if row.get(name):
                row[name] = mask_name(row[name])
        for name in private.addresses:
            if name in row:
                row[name] = ""
    for lat, lon in private.points:
        coarsen_points(rows, grid, lat, lon)
    return rows


def private_fields(model, user, record=None) -> list[str]:
    """The fields of ``model`` that ``user`` reads other than stored: names, addresses and coordinates for coarse
    readers; phone and ID numbers unless the user may see those of ``record`` (or, without a record, those of every
    record)."""
    private = PRIVATE.get(model)
    if private is None:
        return []
    numbers = private.numbers if not can_see_personal_data(user, _owner(record)) else ()
    coarse = private.coarse_fields() if location_grid(user) is not None else ()
    stored = {f.name for f in model._meta.concrete_fields}
    return [name for name in (*numbers, *coarse) if name in stored]


def _owner(record):
    return personal_data_owner(record) if record is not None else None


def shown_value(record, name: str, user=None):
    """The value of ``record``'s field ``name`` as ``user`` (by default the current request's account) may see it."""
    user = user if user is not None else reader()
    private = PRIVATE.get(type(record))
    if private is None or user is None or name not in private.fields():
        return getattr(record, name)
    point = next((p for p in private.points if name in p), None)
    keys = point or (name,)
    row = {key: getattr(record, key) for key in keys}
    owners = [personal_data_owner(record)] if name in private.numbers else None
    spec = Private(
        numbers=tuple(k for k in keys if k in private.numbers),
        names=tuple(k for k in keys if k in private.names),
        addresses=tuple(k for k in keys if k in private.addresses),
        points=(point,) if point else (),
    )
    return redact([row], user, spec, owners)[0][name]


def mask_personal(data: dict, user, owner_user_id, fields=MASKED_FIELDS) -> dict:
    """``data`` with its phone and ID numbers masked unless ``user`` may see them (changed in place, and returned)."""
    return redact([data], user, Private(numbers=tuple(fields)), [owner_user_id])[0]


def personal_data_owner(record) -> int | None:
    """The account a record's personal data belongs to: the worker who owns a household (and its farmers), or the
    person's own account (experts, workers, commissioners)."""
    if isinstance(record, Farmer):
        record = record.household
    if isinstance(record, ModelHousehold):
        return record.worker.user_id
    return getattr(record, "user_id", None)


def reads_masked(user, record) -> bool:
    """Whether ``user`` reads ``record``'s personal numbers (and those of a household's farmers) masked."""
    return not can_see_personal_data(user, personal_data_owner(record))


def masked_value(value: str) -> str:
    """A personal number as those who may not see it read it: ``138****1234``."""
    return mask(value)
