"""The deterministic Yunyang demo network: 1 expert -> 10 workers -> 10 households -> 10 farmers,
with the realistic gaps a real county has (a missing worker here, a thin household there), and the
county's stations, demonstration bases with their field schools, and tech commissioners.

Host organisations, people and phone numbers are fictitious (Faker, zh_CN); the divisions are
real (see geo.demo). The same seed always gives the same rows, and ids are derived from natural
keys, so running it twice changes nothing.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import shapely
from django.db import transaction
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
    Station,
    TechCommissioner,
)
from agri.validators import with_check_digit
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


def demo_uuid(*parts) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts))


@dataclass
class SeedReport:
    created: dict = field(default_factory=dict)

    def add(self, name: str, n: int):
        self.created[name] = self.created.get(name, 0) + n


class DemoNetwork:
    """Builds the demo network on top of the Yunyang divisions (which must already be stored).

    The class attributes size it; :class:`agri.demo.counties.CountyNetwork` sets smaller ones for the demo's other
    counties."""

    n_commissioners = 44
    # households per worker and farmers per household: the choices and their weights
    household_choices = ([10, 9, 8, 7, 11], [70, 12, 8, 5, 5])
    farmer_choices = ([10, 9, 8, 6, 12], [72, 10, 8, 5, 5])

    def __init__(self, progress=None, this_year: int | None = None, county_code: str = COUNTY_CODE, seed: int = SEED):
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.progress = progress or (lambda n: None)
        self.this_year = this_year or timezone.localdate().year
        self.report = SeedReport()
        self.county = AdminDivision.objects.get(code=county_code)
        prefix = county_code[:6]
        self.townships = list(AdminDivision.objects.townships().within(prefix).order_by("code"))
        self.villages_by_township: dict[str, list[AdminDivision]] = {}
        for village in AdminDivision.objects.villages().within(prefix).order_by("code"):
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
        for code in self.staffed_industries():
            self.industry_tree(industries[code])
        return self.report

    # What the network holds; a smaller county overrides these.
    def staffed_industries(self) -> list[str]:
        return [code for code, *_rest, staffed in INDUSTRIES if staffed]

    def worker_plan(self, industry_code: str) -> tuple[int, int]:
        """(workers, township-based workers) under the industry's expert."""
        return WORKER_PLAN[industry_code]

    def station_specs(self) -> list[tuple]:
        return STATIONS

    def base_specs(self) -> list[tuple]:
        return BASES

    def uid(self, *parts) -> uuid.UUID:
        """A record's id from its natural key (Yunyang's keys carry no county, as they always have)."""
        return demo_uuid(*parts)

    def industries(self) -> dict[str, Industry]:
        for order, (code, name, name_en, _staffed) in enumerate(INDUSTRIES, start=1):
            _obj, created = Industry.objects.update_or_create(
                code=code, defaults={"name": name, "name_en": name_en, "sort_order": order}
            )
            self.report.add("industries", int(created))
        return {i.code: i for i in Industry.objects.all()}

    def stations(self, industries) -> list[Station]:
        out = []
        for name, host, host_type, codes in self.station_specs():
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
        for name, code, status, certified_on in self.base_specs():
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
        for i in range(self.n_commissioners):
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
            organization=f"{self.county.name}农业技术推广中心",
            phone=self.phone(),
        )
        n_workers, n_township = self.worker_plan(industry.code)
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
            n_households = self.rng.choices(*self.household_choices)[0]
            for h in range(n_households):
                village = self.rng.choice(self.villages_by_township[township.code])
                lat, lon = self.point_in(village)
                household = ModelHousehold(
                    id=self.uid("household", industry.code, w, h),
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
                n_farmers = self.rng.choices(*self.farmer_choices)[0]
                for f in range(n_farmers):
                    id_number = ""
                    if self.rng.random() < 0.4:
                        birth = date(self.rng.randint(1955, 1995), self.rng.randint(1, 12), self.rng.randint(1, 28))
                        county = self.county.code[:6]
                        id_number = with_check_digit(f"{county}{birth:%Y%m%d}{self.rng.randint(0, 999):03d}")
                    farmers.append(
                        Farmer(
                            id=self.uid("farmer", industry.code, w, h, f),
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
