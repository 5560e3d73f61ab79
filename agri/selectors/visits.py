import uuid

from agri.models import DemonstrationBase, Farmer, Industry, ModelHousehold, Station, Visit
from agri.models.base import BIGINT_MAX
from geo.models import AdminDivision


def _uuids(values) -> list[uuid.UUID]:
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return out


def _ints(values) -> list[int]:
    """The values that can be a row's integer key: ints and ASCII digit strings within 64 bits ("²" is a digit to
    str.isdigit() but not to int(); a larger number is out of the databases' range)."""
    out = []
    for value in values:
        if isinstance(value, bool) or not (isinstance(value, int) or str(value).isascii() and str(value).isdigit()):
            continue
        if 0 <= int(value) <= BIGINT_MAX:
            out.append(int(value))
    return out


def _codes(values) -> list[str]:
    """The values that can be a code: text without U+0000, which PostgreSQL refuses even to compare."""
    return [str(v) for v in values if "\x00" not in str(v)]


def visit_lookups(user, raw_items: list) -> dict[str, dict]:
    """Rows a batch of visit payloads refers to, limited to what ``user`` may see; one query per kind.

    Keys are the ids as strings, so a payload's id resolves whether it came as a string or a number.
    """
    wanted: dict[str, set] = {k: set() for k in ("industry", "household", "farmer", "base", "station", "village")}
    for item in raw_items:
        if not isinstance(item, dict):
            continue
        for kind in wanted:
            value = item.get(kind)
            if value is not None and not isinstance(value, dict | list):
                wanted[kind].add(value)
        attendees = item.get("attendees")
        if isinstance(attendees, list):
            wanted["farmer"].update(a for a in attendees if isinstance(a, str | int))
    farmers = (
        Farmer.objects.visible_to(user).alive().select_related("household").filter(pk__in=_uuids(wanted["farmer"]))
        if wanted["farmer"]
        else []
    )
    return {
        "industry": {i.code: i for i in Industry.objects.filter(code__in=_codes(wanted["industry"]))}
        if wanted["industry"]
        else {},
        "household": {
            str(h.pk): h
            for h in ModelHousehold.objects.visible_to(user).alive().filter(pk__in=_uuids(wanted["household"]))
        }
        if wanted["household"]
        else {},
        "farmer": {str(f.pk): f for f in farmers},
        "base": {str(b.pk): b for b in DemonstrationBase.objects.visible_to(user).filter(pk__in=_ints(wanted["base"]))}
        if wanted["base"]
        else {},
        "station": {str(s.pk): s for s in Station.objects.visible_to(user).filter(pk__in=_ints(wanted["station"]))}
        if wanted["station"]
        else {},
        "village": {
            d.code: d
            for d in AdminDivision.objects.villages()
            .within(user.jurisdiction)
            .filter(code__in=_codes(wanted["village"]))
            .only("code", "parent_id")
        }
        if wanted["village"]
        else {},
    }


def visit_versions(user, ids) -> dict[str, int]:
    """The stored version of each of these visits that ``user`` may see, by id as a string: one query for them all
    (a batch's conflicts, whatever their number)."""
    if not ids:
        return {}
    rows = Visit.objects.visible_to(user).filter(pk__in=_uuids(ids)).order_by().values_list("id", "version")
    return {str(pk): version for pk, version in rows}
