"""One demo account per role (fixed usernames, the DEMO_PASSWORD), linked to people of the demo network."""

from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password

from agri.models import Expert, ExtensionWorker, Role, Station, TechCommissioner, User
from geo.demo import COUNTY_CODE

DEMO_USERNAMES = [
    "demo-admin",
    "demo-viewer",
    "demo-expert",
    "demo-worker",
    "demo-commissioner",
    "demo-station",
    "demo-city",
    "demo-province",
]
# Bureau viewers of wider jurisdictions: Chongqing's counties (5002, Yunyang among them) and all of Chongqing (50).
CITY = "5002"
PROVINCE = "50"


def demo_password_check(password: str | None = None) -> None:
    """The demo password must pass AUTH_PASSWORD_VALIDATORS for every demo account (Django's ValidationError)."""
    for username in DEMO_USERNAMES:
        validate_password(password or settings.DEMO_PASSWORD, User(username=username))


def demo_accounts(password: str | None = None) -> list[str]:
    """One account per role with fixed usernames; links them to demo people. Returns those created."""
    password = password or settings.DEMO_PASSWORD
    demo_password_check(password)
    county = "500235"
    expert = (
        Expert.objects.select_related("industry").filter(county_id=COUNTY_CODE).order_by("industry__sort_order").first()
    )
    worker = ExtensionWorker.objects.filter(expert=expert).order_by("id").first() if expert else None
    commissioner = TechCommissioner.objects.filter(stations__isnull=False).order_by("id").first()
    station = Station.objects.order_by("id").first()
    specs = {
        "demo-admin": {"role": Role.BUREAU_ADMIN, "jurisdiction": county, "is_staff": True, "is_superuser": True},
        "demo-viewer": {"role": Role.BUREAU_VIEWER, "jurisdiction": county, "is_staff": True},
        "demo-expert": {"role": Role.EXPERT, "jurisdiction": county},
        "demo-worker": {"role": Role.WORKER, "jurisdiction": worker.home_township.prefix if worker else county},
        "demo-commissioner": {"role": Role.COMMISSIONER, "jurisdiction": county},
        "demo-station": {"role": Role.STATION_MANAGER, "jurisdiction": county, "station": station},
        "demo-city": {"role": Role.BUREAU_VIEWER, "jurisdiction": CITY, "is_staff": True},
        "demo-province": {"role": Role.BUREAU_VIEWER, "jurisdiction": PROVINCE, "is_staff": True},
    }
    created = []
    for username, fields in specs.items():
        user, was_created = User.objects.update_or_create(username=username, defaults=fields)
        if was_created:
            user.set_password(password)
            user.save(update_fields=["password"])
            created.append(username)
    for person, username in ((expert, "demo-expert"), (worker, "demo-worker"), (commissioner, "demo-commissioner")):
        if person is not None and person.user_id is None:
            person.user = User.objects.get(username=username)
            person.save(update_fields=["user"])
    view = Permission.objects.filter(codename__startswith="view_", content_type__app_label__in=["agri", "geo"])
    for viewer in User.objects.filter(username__in=["demo-viewer", "demo-city", "demo-province"]):
        viewer.user_permissions.set(view)
    return created
