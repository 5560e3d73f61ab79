"""The demo's other counties (``seed_demo --counties N``): for each of the N Chongqing districts and counties nearest
to Yunyang, its real outline with invented townships and villages (``geo.demo.synthetic_county_divisions``), a
network smaller than Yunyang's and a year of visits, built by the same code as Yunyang's (:mod:`.network`,
:mod:`.visits`) with smaller sizes. Deterministic: every county has its own seed (its code)."""

from datetime import date

from agri.demo.network import BASES, INDUSTRIES, DemoNetwork, demo_uuid
from agri.demo.visits import DemoVisits
from agri.models import HostType
from geo.demo import District

STAFFED = [code for code, *_rest, staffed in INDUSTRIES if staffed]
NAMES = {code: name for code, name, *_rest in INDUSTRIES}
INDUSTRIES_PER_COUNTY = 4
TOWNSHIPS_PER_COUNTY = 8
VILLAGES_PER_TOWNSHIP = 6


def county_seed(code: str) -> int:
    return int(code[:6])


class CountyNetwork(DemoNetwork):
    """A smaller network: four of the eight staffed industries (a different four in each county), six workers per
    expert with six or so households each, five or so farmers per household, two stations, two bases and eight
    commissioners."""

    n_commissioners = 8
    household_choices = ([6, 5, 7, 4], [70, 12, 12, 6])
    farmer_choices = ([5, 4, 6, 3], [70, 12, 12, 6])

    def __init__(self, district: District, progress=None, this_year: int | None = None):
        super().__init__(progress, this_year, county_code=district.code, seed=county_seed(district.code))
        self.short = district.name.removesuffix("县").removesuffix("区")

    @classmethod
    def n_steps(cls) -> int:
        """Progress steps of a build: stations, bases, commissioners and one per industry."""
        return 3 + INDUSTRIES_PER_COUNTY

    def staffed_industries(self) -> list[str]:
        start = county_seed(self.county.code) % len(STAFFED)
        return [STAFFED[(start + i) % len(STAFFED)] for i in range(INDUSTRIES_PER_COUNTY)]

    def worker_plan(self, industry_code: str) -> tuple[int, int]:
        return 6, 4 + self.rng.randint(0, 2)

    def station_specs(self) -> list[tuple]:
        industries = self.staffed_industries()
        return [
            (
                f"{self.short}{NAMES[code]}科技特派员工作站",
                f"{self.short}{NAMES[code]}专业合作社",
                HostType.COOPERATIVE,
                [code],
            )
            for code in industries[:2]
        ]

    def base_specs(self) -> list[tuple]:
        industries = self.staffed_industries()
        names = {code: name for name, code, *_rest in BASES}
        return [
            (names.get(code, f"{NAMES[code]}试验示范基地"), code, status, certified)
            for code, (_name, _code, status, certified) in zip(industries[:2], BASES, strict=False)
        ]

    def uid(self, *parts):
        return demo_uuid(self.county.code, *parts)


class CountyVisits(DemoVisits):
    """A year of visits in one of the other counties; ``scale`` multiplies every visit count (tests seed less)."""

    household_visits = ((0, 1), (3, 8))
    expert_visits = (15, 30)
    base_visits = (2, 5)
    commissioner_visits = (4, 10)

    def __init__(self, district: District, progress=None, today: date | None = None, scale: float = 1.0):
        super().__init__(progress, today, county_code=district.code, seed=county_seed(district.code) + 1)
        self.scale = scale

    def username(self, kind: str, n: int) -> str:
        return f"demo-{self.prefix}-{kind}-{n:03d}"

    def count(self, bounds: tuple[int, int]) -> int:
        return round(self.sizes.randint(*bounds) * self.scale)
