"""The deterministic Yunyang demo network: 1 expert -> 10 workers -> 10 households -> 10 farmers,
with the realistic gaps a real county has (a missing worker here, a thin household there).

Host organisations, people and phone numbers are fictitious (Faker, zh_CN); the divisions are
real (see geo.demo). The same seed always gives the same rows, and ids are derived from natural
keys, so running it twice changes nothing.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import shapely
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from faker import Faker

from agri.models import (
    AffiliationType,
    BaseStatus,
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    FieldSchool,
    HostType,
    Industry,
    ModelHousehold,
    Role,
    Station,
    TechCommissioner,
    User,
    Visit,
    VisitFlag,
)
from agri.services.visits import Actor, visits_ingest
from agri.validators import with_check_digit
from geo.crs import wgs84_to_gcj02
from geo.demo import COUNTY_CODE, SEED
from geo.geometry import area_mu, random_points_in, to_geojson
from geo.models import AdminDivision

NAMESPACE = uuid.UUID("5f1d3a2c-0b7e-4c59-9e38-500235000000")

# code, 中文, English, whether the demo gives it a network (the plan lists ten; the demo staffs eight)
INDUSTRIES = [
    ("citrus", "柑橘", "Citrus (navel orange)", True),
    ("herbs", "中药材", "Medicinal herbs", True),
    ("grain_oil", "粮油", "Grain and oil crops", True),
    ("vegetables", "蔬菜", "Vegetables", True),
    ("pigs", "生猪", "Pigs", True),
    ("goats", "山羊", "Goats", True),
    ("beef_cattle", "肉牛", "Beef cattle", True),
    ("tea", "茶叶", "Tea", True),
    ("chicken", "土鸡", "Free-range chicken", False),
    ("aquaculture", "水产", "Aquaculture", False),
]
# workers per expert, and how many of them are township-based: mostly on target, with gaps
WORKER_PLAN = {
    "citrus": (10, 8),
    "herbs": (9, 7),
    "grain_oil": (10, 7),
    "vegetables": (8, 5),
    "pigs": (10, 9),
    "goats": (7, 5),
    "beef_cattle": (10, 7),
    "tea": (9, 7),
}
STATIONS = [
    ("龙缸茶业科技特派员工作站", "龙缸茶业公司", HostType.COMPANY, ["tea"]),
    ("云阳脐橙科技特派员工作站", "云阳县红狮脐橙专业合作社", HostType.COOPERATIVE, ["citrus"]),
    ("清水中药材科技特派员工作站", "云阳县清水药材种植专业合作社", HostType.COOPERATIVE, ["herbs"]),
    ("南溪生猪科技特派员工作站", "云阳县南溪生猪养殖有限公司", HostType.COMPANY, ["pigs"]),
    ("高阳山羊科技特派员工作站", "云阳县高阳山羊养殖专业合作社", HostType.COOPERATIVE, ["goats", "beef_cattle"]),
    ("江口粮油科技特派员工作站", "云阳县江口粮油家庭农场", HostType.FAMILY_FARM, ["grain_oil", "vegetables"]),
]
BASES = [
    ("脐橙绿色高效栽培试验示范基地", "citrus", BaseStatus.CERTIFIED, date(2021, 9, 1)),
    ("中药材规范化种植试验示范基地", "herbs", BaseStatus.CERTIFIED, date(2022, 3, 15)),
    ("粮油新品种试验示范基地", "grain_oil", BaseStatus.CERTIFIED, date(2022, 4, 20)),
    ("山羊种繁及健康养殖示范基地", "goats", BaseStatus.CERTIFIED, date(2023, 5, 10)),
    ("生态茶园提质增效示范基地", "tea", BaseStatus.PROPOSED, None),
]
AFFILIATIONS = [
    ("西南大学", AffiliationType.UNIVERSITY),
    ("重庆三峡学院", AffiliationType.UNIVERSITY),
    ("四川农业大学", AffiliationType.UNIVERSITY),
    ("重庆市农业科学院", AffiliationType.INSTITUTE),
    ("重庆三峡农业科学院", AffiliationType.INSTITUTE),
    ("重庆市畜牧科学院", AffiliationType.INSTITUTE),
    ("重庆市中药研究院", AffiliationType.INSTITUTE),
]
DEMO_USERNAMES = ["demo-admin", "demo-viewer", "demo-expert", "demo-worker", "demo-commissioner", "demo-station"]


def _uuid(*parts) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


@dataclass
class SeedReport:
    created: dict = field(default_factory=dict)

    def add(self, name: str, n: int):
        self.created[name] = self.created.get(name, 0) + n


class DemoNetwork:
    """Builds the demo network on top of the Yunyang divisions (which must already be stored)."""

    def __init__(self, progress=None, this_year: int | None = None):
        self.rng = random.Random(SEED)
        self.np_rng = np.random.default_rng(SEED)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(SEED)
        self.progress = progress or (lambda n: None)
        self.this_year = this_year or timezone.localdate().year
        self.report = SeedReport()
        self.county = AdminDivision.objects.get(code=COUNTY_CODE)
        self.townships = list(AdminDivision.objects.townships().within("500235").order_by("code"))
        self.villages_by_township: dict[str, list[AdminDivision]] = {}
        for village in AdminDivision.objects.villages().within("500235").order_by("code"):
            self.villages_by_township.setdefault(village.parent_id, []).append(village)
        self._shapes: dict[str, object] = {}

    def shape(self, division):
        if division.code not in self._shapes:
            geom = shapely.geometry.shape(division.boundary)
            shapely.prepare(geom)
            self._shapes[division.code] = geom
        return self._shapes[division.code]

    def point_in(self, division) -> tuple[float, float]:
        lon, lat = random_points_in(self.shape(division), 1, self.np_rng)[0]
        return round(float(lat), 6), round(float(lon), 6)

    def phone(self) -> str:
        return self.fake.phone_number()

    @transaction.atomic
    def build(self) -> SeedReport:
        if Expert.objects.filter(county=self.county).exists():
            return self.report  # already seeded: the network is left as it is
        industries = self.industries()
        stations = self.stations(industries)
        bases = self.bases(industries)
        self.commissioners(stations, bases)
        for code, *_rest, staffed in INDUSTRIES:
            if staffed:
                self.industry_tree(industries[code])
        return self.report

    def industries(self) -> dict[str, Industry]:
        for order, (code, name, name_en, _staffed) in enumerate(INDUSTRIES, start=1):
            _obj, created = Industry.objects.update_or_create(
                code=code, defaults={"name": name, "name_en": name_en, "sort_order": order}
            )
            self.report.add("industries", int(created))
        return {i.code: i for i in Industry.objects.all()}

    def stations(self, industries) -> list[Station]:
        out = []
        for name, host, host_type, codes in STATIONS:
            township = self.rng.choice(self.townships)
            village = self.rng.choice(self.villages_by_township[township.code])
            lat, lon = self.point_in(village)
            station = Station.objects.create(
                name=name,
                host_org=host,
                host_type=host_type,
                lat=lat,
                lon=lon,
                village=village,
                established_on=date(2021, self.rng.randint(1, 12), 1),
            )
            station.industries.set([industries[c] for c in codes])
            out.append(station)
        self.report.add("stations", len(out))
        self.progress(1)
        return out

    def bases(self, industries) -> list[DemonstrationBase]:
        out = []
        for name, code, status, certified_on in BASES:
            township = self.rng.choice(self.townships)
            village = self.rng.choice(self.villages_by_township[township.code])
            lat, lon = self.point_in(village)
            # A parcel of a few hundred mu: a small rotated rectangle around the base's point.
            half_w, half_h = self.rng.uniform(0.003, 0.006), self.rng.uniform(0.002, 0.004)
            parcel = shapely.affinity.rotate(
                shapely.box(lon - half_w, lat - half_h, lon + half_w, lat + half_h), self.rng.uniform(0, 90)
            )
            base = DemonstrationBase.objects.create(
                name=f"{township.name}{name}",
                industry=industries[code],
                operator=f"{township.name}农业服务中心",
                lat=lat,
                lon=lon,
                village=village,
                parcel=to_geojson(parcel),
                area_mu=round(area_mu(parcel), 2),
                status=status,
                certified_on=certified_on,
            )
            FieldSchool.objects.create(
                base=base, name=f"{township.name}农民田间学校", capacity=self.rng.choice([40, 60, 80])
            )
            out.append(base)
        self.report.add("bases", len(out))
        self.progress(1)
        return out

    def commissioners(self, stations, bases) -> None:
        rows = []
        for i in range(44):
            affiliation, kind = AFFILIATIONS[i % len(AFFILIATIONS)]
            start = self.rng.choice([2019, 2020, 2021, 2021, 2022, 2023, 2024])
            # A few have left: the county is just short of the plan's 40 this year, as counties often are.
            end = self.this_year - self.rng.randint(1, 2) if i % 11 == 5 else None
            rows.append(
                TechCommissioner(
                    name=self.fake.name(),
                    affiliation=affiliation,
                    affiliation_type=kind,
                    specialty=self.rng.choice(
                        ["果树栽培", "植物保护", "畜牧兽医", "中药材栽培", "土壤肥料", "茶叶加工"]
                    ),
                    county=self.county,
                    service_start_year=min(start, end) if end else start,
                    service_end_year=end,
                    phone=self.phone(),
                )
            )
        created = TechCommissioner.objects.bulk_create(rows)
        through_s = TechCommissioner.stations.through
        through_b = TechCommissioner.bases.through
        through_s.objects.bulk_create(
            [
                through_s(techcommissioner_id=c.pk, station_id=stations[i % len(stations)].pk)
                for i, c in enumerate(created)
            ]
        )
        through_b.objects.bulk_create(
            [
                through_b(techcommissioner_id=c.pk, demonstrationbase_id=bases[i % len(bases)].pk)
                for i, c in enumerate(created)
                if i % 3 == 0
            ]
        )
        self.report.add("commissioners", len(created))
        self.progress(1)

    def industry_tree(self, industry) -> None:
        expert = Expert.objects.create(
            name=self.fake.name(),
            industry=industry,
            county=self.county,
            title="高级农艺师",
            organization="云阳县农业技术推广中心",
            phone=self.phone(),
        )
        n_workers, n_township = WORKER_PLAN[industry.code]
        households, farmers, links = [], [], []
        for w in range(n_workers):
            township = self.rng.choice(self.townships)
            worker = ExtensionWorker.objects.create(
                name=self.fake.name(),
                expert=expert,
                is_township_based=w < n_township,
                home_township=township,
                phone=self.phone(),
            )
            n_households = self.rng.choices([10, 9, 8, 7, 11], weights=[70, 12, 8, 5, 5])[0]
            for h in range(n_households):
                village = self.rng.choice(self.villages_by_township[township.code])
                lat, lon = self.point_in(village)
                household = ModelHousehold(
                    id=_uuid("household", industry.code, w, h),
                    worker=worker,
                    head_name=self.fake.name(),
                    phone=self.phone(),
                    address=f"{village.name}{self.rng.randint(1, 9)}组",
                    lat=lat,
                    lon=lon,
                    village=village,
                )
                households.append(household)
                links.append((household.id, industry.pk))
                n_farmers = self.rng.choices([10, 9, 8, 6, 12], weights=[72, 10, 8, 5, 5])[0]
                for f in range(n_farmers):
                    id_number = ""
                    if self.rng.random() < 0.4:
                        birth = date(self.rng.randint(1955, 1995), self.rng.randint(1, 12), self.rng.randint(1, 28))
                        id_number = with_check_digit(f"500235{birth:%Y%m%d}{self.rng.randint(0, 999):03d}")
                    farmers.append(
                        Farmer(
                            id=_uuid("farmer", industry.code, w, h, f),
                            household=household,
                            village=village,
                            name=self.fake.name(),
                            phone=self.phone(),
                            id_number=id_number,
                        )
                    )
        ModelHousehold.objects.bulk_create(households, batch_size=500)
        through = ModelHousehold.industries.through
        through.objects.bulk_create([through(modelhousehold_id=h, industry_id=i) for h, i in links], batch_size=500)
        Farmer.objects.bulk_create(farmers, batch_size=500)
        self.report.add("experts", 1)
        self.report.add("workers", n_workers)
        self.report.add("households", len(households))
        self.report.add("farmers", len(farmers))
        self.progress(1)


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
    viewer = User.objects.get(username="demo-viewer")
    viewer.user_permissions.set(
        Permission.objects.filter(codename__startswith="view_", content_type__app_label__in=["agri", "geo"])
    )
    return created


# --- a year of visits ---------------------------------------------------------------------------------

# Relative activity per month (Jan..Dec) of each industry's field work.
SEASONS = {
    "citrus": [3, 3, 6, 8, 6, 7, 7, 6, 5, 6, 8, 5],  # spring flowering, summer pests, autumn-winter harvest
    "herbs": [2, 2, 7, 8, 6, 5, 5, 4, 5, 7, 6, 2],  # spring planting, autumn harvest
    "grain_oil": [2, 3, 6, 8, 8, 7, 6, 6, 7, 7, 3, 2],  # sowing and transplanting, pests, harvest, rape sowing
    "vegetables": [4, 4, 7, 7, 6, 5, 5, 5, 7, 7, 5, 4],
    "pigs": [5, 5, 7, 7, 5, 5, 5, 5, 7, 7, 5, 5],  # all year, spring and autumn vaccination drives
    "goats": [5, 5, 7, 7, 5, 5, 5, 5, 7, 7, 5, 5],
    "beef_cattle": [5, 5, 6, 6, 5, 5, 5, 5, 6, 6, 5, 5],
    "tea": [2, 3, 10, 10, 7, 4, 3, 3, 3, 3, 2, 2],  # spring tea
}
# Kind weights (guidance, diagnosis, new_variety, new_technique, other) in a high-pest month and otherwise.
KINDS = ("guidance", "diagnosis", "new_variety", "new_technique", "other")
PEST_MONTHS = {"citrus": {5, 6, 7, 8}, "herbs": {6, 7}, "grain_oil": {6, 7, 8}, "vegetables": {5, 6, 7}, "tea": {6}}
KIND_WEIGHTS = {True: (40, 42, 3, 8, 7), False: (62, 14, 6, 10, 8)}
INTRODUCED = {
    "citrus": (
        ["纽荷尔脐橙", "伦晚脐橙", "红肉脐橙", "春见", "沃柑"],
        ["水肥一体化", "绿色防控", "大枝修剪", "果实套袋"],
    ),
    "herbs": (["云木香", "金丝皇菊", "小茴香", "前胡"], ["规范化种植", "低温冷冻干燥", "无硫处理"]),
    "grain_oil": (["宜香优2115", "渝香203", "渝单30", "庆油3号"], ["机插秧", "稻油轮作", "测土配方施肥"]),
    "vegetables": (["早春甘蓝", "高山萝卜", "线椒"], ["集约化育苗", "设施栽培", "水肥一体化"]),
    "pigs": (["荣昌猪", "长白猪"], ["精准饲喂", "粪污资源化利用", "非洲猪瘟防控"]),
    "goats": (["大足黑山羊", "南江黄羊"], ["种草养羊", "舍饲圈养", "羔羊早期断奶"]),
    "beef_cattle": (["西门塔尔牛", "安格斯牛"], ["青贮饲料制作", "人工授精", "肉牛育肥"]),
    "tea": (["福鼎大白茶", "巴渝特早", "黄金芽"], ["茶园机械化采摘", "名优茶加工", "茶园绿色防控"]),
}
NOTES = {
    "guidance": "田间技术指导",
    "diagnosis": "病虫害诊断与防治建议",
    "new_variety": "新品种引进示范",
    "new_technique": "新技术推广示范",
    "training": "技术培训",
    "other": "走访了解生产情况",
}


class DemoVisits:
    """A year of visits (ending yesterday) by the demo network's workers, experts and commissioners.

    Workers visit their households following their industry's seasons (a tenth of the households are neglected,
    so the gaps report has something to show) and hold a training in a village now and then; experts visit their
    workers' households and their industry's bases; commissioners visit the stations and bases they serve and
    teach at the bases' field schools. Villages without households, bases or stations are never visited.

    Every person gets an account (unusable password) that records their visits, and the visits go through
    ``visits_ingest`` in one batch per person, so enrichment and the coverage rollup are exercised as in
    production. A third of the points come in GCJ-02, as the Amap SDK sends them. The history is treated as synced
    on time: the "stale start" flag that a late sync would raise is cleared afterwards. Deterministic for a given
    ``today``; if demo visits already exist nothing is added.
    """

    STEPS = 3  # progress steps: workers, experts, commissioners

    def __init__(self, progress=None, today: date | None = None):
        self.rng = random.Random(SEED + 1)
        self.progress = progress or (lambda n: None)
        self.today = today or timezone.localdate()
        days = [self.today - timedelta(days=n) for n in range(365, 0, -1)]
        self.days_by_month: dict[int, list[date]] = {}
        for day in days:
            self.days_by_month.setdefault(day.month, []).append(day)
        self.created = 0

    def build(self) -> int:
        if Visit.objects.filter(user__username__startswith="demo-").exists():
            return 0
        # All or nothing: a partial history would be skipped by the check above on the next run.
        with transaction.atomic():
            return self._build()

    def _build(self) -> int:
        accounts = self.accounts()
        industries = {i.pk: i for i in Industry.objects.all()}
        workers = ExtensionWorker.objects.filter(expert__county_id=COUNTY_CODE).select_related("user", "expert")
        households: dict[int, list[ModelHousehold]] = {}
        for household in ModelHousehold.objects.alive().filter(worker__in=workers).order_by("id"):
            households.setdefault(household.worker_id, []).append(household)
        farmers: dict = {}
        for farmer in Farmer.objects.alive().filter(household__worker__in=workers).order_by("id"):
            farmers.setdefault(farmer.household_id, []).append(farmer)
        for worker in workers.order_by("expert__industry__sort_order", "id"):
            industry = industries[worker.expert.industry_id]
            self.ingest(accounts[worker], "worker", worker, self.worker_items(worker, industry, households, farmers))
        self.progress(1)
        bases = list(DemonstrationBase.objects.exclude(status=BaseStatus.REVOKED).order_by("id"))
        for expert in Expert.objects.filter(county_id=COUNTY_CODE).select_related("user").order_by("id"):
            industry = industries[expert.industry_id]
            own = [h for w in workers if w.expert_id == expert.pk for h in households.get(w.pk, [])]
            items = self.expert_items(expert, industry, own, [b for b in bases if b.industry_id == industry.pk])
            self.ingest(accounts[expert], "expert", expert, items)
        self.progress(1)
        commissioners = TechCommissioner.objects.filter(county_id=COUNTY_CODE).prefetch_related(
            "stations__industries", "bases__industry"
        )
        for commissioner in commissioners.order_by("id"):
            self.ingest(accounts[commissioner], "commissioner", commissioner, self.commissioner_items(commissioner))
        # Synced on time: a late sync's flag would be noise in the demo's review queue.
        stale = VisitFlag.BITS[VisitFlag.STALE_START]
        Visit.objects.filter(user__username__startswith="demo-").update(flag_bits=F("flag_bits").bitand(~stale))
        self.progress(1)
        return self.created

    def accounts(self) -> dict:
        """The account of every demo person, created (unusable password) where the person has none."""
        people = [
            *ExtensionWorker.objects.filter(expert__county_id=COUNTY_CODE).order_by(
                "expert__industry__sort_order", "id"
            ),
            *Expert.objects.filter(county_id=COUNTY_CODE).order_by("industry__sort_order", "id"),
            *TechCommissioner.objects.filter(county_id=COUNTY_CODE).order_by("id"),
        ]
        new = []
        for n, person in enumerate(people):
            if person.user_id is None:
                kind = {ExtensionWorker: "worker", Expert: "expert", TechCommissioner: "commissioner"}[type(person)]
                role = {"worker": Role.WORKER, "expert": Role.EXPERT, "commissioner": Role.COMMISSIONER}[kind]
                jurisdiction = person.home_township.prefix if kind == "worker" else COUNTY_CODE[:6]
                user = User(username=f"demo-{kind}-{n:03d}", role=role, jurisdiction=jurisdiction)
                user.set_unusable_password()
                new.append((person, user))
        User.objects.bulk_create([user for _person, user in new])
        stored = {u.username: u for u in User.objects.filter(username__in=[user.username for _p, user in new])}
        for person, user in new:
            person.user = stored[user.username]
            type(person).objects.filter(pk=person.pk).update(user=person.user)
        return {person: person.user for person in people}

    def when(self, month_weights, latest: date | None = None) -> datetime:
        """A working-hours start in the past year, in a month drawn by the season's weights (and not after latest)."""
        months = [m for m in range(1, 13) if not latest or self.days_by_month[m][0] <= latest]
        month = self.rng.choices(months, weights=[month_weights[m - 1] for m in months])[0]
        day = self.rng.choice([d for d in self.days_by_month[month] if not latest or d <= latest])
        start = datetime.combine(day, time(self.rng.randint(8, 16), self.rng.randrange(0, 60, 5)))
        return timezone.make_aware(start)

    def item(self, key, kind, industry, started_at, lat, lon, **target) -> dict:
        crs = "gcj02" if self.rng.random() < 0.33 else "wgs84"
        lat += self.rng.gauss(0, 0.0002)
        lon += self.rng.gauss(0, 0.0002)
        if crs == "gcj02":
            lon, lat = wgs84_to_gcj02(lon, lat)
        introduced = []
        if kind in ("new_variety", "new_technique"):
            varieties, techniques = INTRODUCED[industry.code]
            introduced = [self.rng.choice(varieties if kind == "new_variety" else techniques)]
        item = {
            "id": _uuid("visit", *key),
            "kind": kind,
            "industry": industry,
            "started_at": started_at,
            "ended_at": started_at + timedelta(minutes=self.rng.choice([30, 45, 60, 90, 120])),
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "accuracy_m": round(self.rng.uniform(150, 400) if self.rng.random() < 0.03 else self.rng.uniform(4, 30), 1),
            "altitude_m": round(self.rng.uniform(150, 1200), 1),
            "source_crs": crs,
            "mock_location": False,
            "notes": NOTES[kind],
            "participants": 1,
            "introduced": introduced,
            "attendees": [],
            "photos_expected": 0,
        }
        item.update({name: None for name in ("household", "farmer", "base", "station", "village")})
        item.update(target)
        return item

    def worker_items(self, worker, industry, households, farmers) -> list[dict]:
        seasons = SEASONS[industry.code]
        items = []
        mine = households.get(worker.pk, [])
        for h in mine:
            # A tenth of the households are neglected: nobody has been there for four months, if ever.
            neglected = self.rng.random() < 0.1
            for n in range(self.rng.randint(0, 2) if neglected else self.rng.randint(6, 14)):
                started = self.when(seasons, latest=self.today - timedelta(days=120) if neglected else None)
                kind = self.rng.choices(KINDS, KIND_WEIGHTS[started.month in PEST_MONTHS.get(industry.code, ())])[0]
                items.append(self.item(("household", h.pk, n), kind, industry, started, h.lat, h.lon, household=h))
        # A village training every two or three months, at one of the worker's households, for its neighbours.
        for n in range(self.rng.randint(3, 6)) if mine else ():
            host = self.rng.choice(mine)
            started = self.when(seasons)
            attendees = farmers.get(host.pk, [])[: self.rng.randint(3, 10)]
            item = self.item(("training", worker.pk, n), "training", industry, started, host.lat, host.lon)
            item.update(
                village=host.village, attendees=attendees, participants=len(attendees) + self.rng.randint(8, 40)
            )
            items.append(item)
        return items

    def expert_items(self, expert, industry, households, bases) -> list[dict]:
        seasons = SEASONS[industry.code]
        items = []
        for n in range(self.rng.randint(40, 70) if households else 0):
            h = self.rng.choice(households)
            started = self.when(seasons)
            kind = self.rng.choices(KINDS, KIND_WEIGHTS[started.month in PEST_MONTHS.get(industry.code, ())])[0]
            items.append(self.item(("expert", expert.pk, n), kind, industry, started, h.lat, h.lon, household=h))
        for base in bases:
            for n in range(self.rng.randint(4, 8)):
                started = self.when(seasons)
                kind = self.rng.choice(["guidance", "training", "new_variety", "new_technique"])
                item = self.item(("expert-base", expert.pk, base.pk, n), kind, industry, started, base.lat, base.lon)
                item.update(base=base, participants=self.rng.randint(15, 60) if kind == "training" else 2)
                items.append(item)
        return items

    def commissioner_items(self, commissioner) -> list[dict]:
        places = [("station", s, s.industries.all()[0]) for s in commissioner.stations.all() if s.industries.all()]
        places += [("base", b, b.industry) for b in commissioner.bases.all()]
        items = []
        for n in range(self.rng.randint(6, 20) if places else 0):
            field_name, place, industry = self.rng.choice(places)
            started = self.when(SEASONS[industry.code])
            kind = self.rng.choice(
                ["guidance", "training", "new_technique", "new_variety"]
                if field_name == "base"
                else ["guidance", "new_technique", "other"]
            )
            item = self.item(("commissioner", commissioner.pk, n), kind, industry, started, place.lat, place.lon)
            item.update({field_name: place, "participants": self.rng.randint(20, 80) if kind == "training" else 2})
            items.append(item)
        return items

    def ingest(self, user, field_name: str, person, items: list[dict]) -> None:
        if not items:
            return
        prefix = person.home_township_id if field_name == "worker" else person.county_id
        actor = Actor(field_name, person, prefix[:6], prefix)
        results = visits_ingest(user=user, actor=actor, items=items)
        if "failed" in results:
            # A database error rolled a chunk back: the demo would be silently short. Stop (build() rolls back the
            # whole history, so that running the seed again starts it afresh).
            raise CommandError(f"{results.count('failed')} demo visits of {person} could not be stored: run again")
        self.created += results.count("created")
