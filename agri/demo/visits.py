"""A year of visits by the demo network's people, through the same ingest as the API's."""

import random
from datetime import date, datetime, time, timedelta

from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agri.demo.network import demo_uuid
from agri.models import (
    BaseStatus,
    DemonstrationBase,
    Expert,
    ExtensionWorker,
    Farmer,
    Industry,
    ModelHousehold,
    Role,
    TechCommissioner,
    User,
    Visit,
    VisitFlag,
)
from agri.services.visits import Actor, visits_ingest
from geo.crs import wgs84_to_gcj02
from geo.demo import COUNTY_CODE, SEED

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
    # How many visits: per household (a neglected one, the others), expert, base and commissioner; min and max.
    household_visits = ((0, 2), (6, 14))
    expert_visits = (40, 70)
    base_visits = (4, 8)
    commissioner_visits = (6, 20)

    def __init__(self, progress=None, today: date | None = None, county_code: str = COUNTY_CODE, seed: int = SEED + 1):
        self.county_code = county_code
        self.prefix = county_code[:6]
        self.rng = random.Random(seed)
        # How many visits each person makes is drawn from a stream of its own: the draws of the days (a choice
        # among a month's days, whose number follows the calendar) take a varying share of ``rng``'s stream, and
        # would make the demo's size depend on the day it is seeded.
        self.sizes = random.Random(f"{seed}/sizes")
        self.progress = progress or (lambda n: None)
        self.today = today or timezone.localdate()
        days = [self.today - timedelta(days=n) for n in range(365, 0, -1)]
        self.days_by_month: dict[int, list[date]] = {}
        for day in days:
            self.days_by_month.setdefault(day.month, []).append(day)
        self.created = 0

    def build(self) -> int:
        if Visit.objects.filter(user__username__startswith="demo-", scope_code__prefix=self.prefix).exists():
            return 0
        # All or nothing: a partial history would be skipped by the check above on the next run.
        with transaction.atomic():
            return self._build()

    def _build(self) -> int:
        accounts = self.accounts()
        steps, previous = 0, None
        for kind, person, items in self.plan():
            if previous is not None and kind != previous:  # the workers' (experts') visits are in
                self.progress(1)
                steps += 1
            previous = kind
            self.ingest(accounts[person], kind, person, items)
        # Synced on time: a late sync's flag would be noise in the demo's review queue.
        stale = VisitFlag.BITS[VisitFlag.STALE_START]
        Visit.objects.filter(user__in=[user for user in accounts.values()]).update(
            flag_bits=F("flag_bits").bitand(~stale)
        )
        self.progress(self.STEPS - steps)
        return self.created

    def plan(self):
        """Each person's visits, as ``(kind, person, items)``: the workers', then the experts', then the
        commissioners'. Reads the network; writes nothing."""
        industries = {i.pk: i for i in Industry.objects.all()}
        workers = ExtensionWorker.objects.filter(expert__county_id=self.county_code).select_related("user", "expert")
        households: dict[int, list[ModelHousehold]] = {}
        for household in ModelHousehold.objects.alive().filter(worker__in=workers).order_by("id"):
            households.setdefault(household.worker_id, []).append(household)
        farmers: dict = {}
        for farmer in Farmer.objects.alive().filter(household__worker__in=workers).order_by("id"):
            farmers.setdefault(farmer.household_id, []).append(farmer)
        for worker in workers.order_by("expert__industry__sort_order", "id"):
            industry = industries[worker.expert.industry_id]
            yield "worker", worker, self.worker_items(worker, industry, households, farmers)
        bases = list(
            DemonstrationBase.objects.exclude(status=BaseStatus.REVOKED)
            .filter(village__code__prefix=self.prefix)
            .order_by("id")
        )
        for expert in Expert.objects.filter(county_id=self.county_code).select_related("user").order_by("id"):
            industry = industries[expert.industry_id]
            own = [h for w in workers if w.expert_id == expert.pk for h in households.get(w.pk, [])]
            yield (
                "expert",
                expert,
                self.expert_items(expert, industry, own, [b for b in bases if b.industry_id == industry.pk]),
            )
        commissioners = TechCommissioner.objects.filter(county_id=self.county_code).prefetch_related(
            "stations__industries", "bases__industry"
        )
        for commissioner in commissioners.order_by("id"):
            yield "commissioner", commissioner, self.commissioner_items(commissioner)

    def accounts(self) -> dict:
        """The account of every demo person, created (unusable password) where the person has none."""
        people = [
            *ExtensionWorker.objects.filter(expert__county_id=self.county_code).order_by(
                "expert__industry__sort_order", "id"
            ),
            *Expert.objects.filter(county_id=self.county_code).order_by("industry__sort_order", "id"),
            *TechCommissioner.objects.filter(county_id=self.county_code).order_by("id"),
        ]
        new = []
        for n, person in enumerate(people):
            if person.user_id is None:
                kind = {ExtensionWorker: "worker", Expert: "expert", TechCommissioner: "commissioner"}[type(person)]
                role = {"worker": Role.WORKER, "expert": Role.EXPERT, "commissioner": Role.COMMISSIONER}[kind]
                jurisdiction = person.home_township.prefix if kind == "worker" else self.prefix
                user = User(username=self.username(kind, n), role=role, jurisdiction=jurisdiction)
                user.set_unusable_password()
                new.append((person, user))
        User.objects.bulk_create([user for _person, user in new])
        stored = {u.username: u for u in User.objects.filter(username__in=[user.username for _p, user in new])}
        for person, user in new:
            person.user = stored[user.username]
            type(person).objects.filter(pk=person.pk).update(user=person.user)
        return {person: person.user for person in people}

    def username(self, kind: str, n: int) -> str:
        return f"demo-{kind}-{n:03d}"

    def count(self, bounds: tuple[int, int]) -> int:
        return self.sizes.randint(*bounds)

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
            "id": demo_uuid("visit", *key),
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
            neglected = self.sizes.random() < 0.1
            for n in range(self.count(self.household_visits[0] if neglected else self.household_visits[1])):
                started = self.when(seasons, latest=self.today - timedelta(days=120) if neglected else None)
                kind = self.rng.choices(KINDS, KIND_WEIGHTS[started.month in PEST_MONTHS.get(industry.code, ())])[0]
                items.append(self.item(("household", h.pk, n), kind, industry, started, h.lat, h.lon, household=h))
        # A village training every two or three months, at one of the worker's households, for its neighbours.
        for n in range(self.sizes.randint(3, 6)) if mine else ():
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
        for n in range(self.count(self.expert_visits) if households else 0):
            h = self.rng.choice(households)
            started = self.when(seasons)
            kind = self.rng.choices(KINDS, KIND_WEIGHTS[started.month in PEST_MONTHS.get(industry.code, ())])[0]
            items.append(self.item(("expert", expert.pk, n), kind, industry, started, h.lat, h.lon, household=h))
        for base in bases:
            for n in range(self.count(self.base_visits)):
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
        for n in range(self.count(self.commissioner_visits) if places else 0):
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
