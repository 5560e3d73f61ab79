from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from agri.demo import DEMO_USERNAMES, INDUSTRIES, DemoNetwork, DemoVisits, demo_accounts, demo_password_check
from agri.demo.counties import TOWNSHIPS_PER_COUNTY, VILLAGES_PER_TOWNSHIP, CountyNetwork, CountyVisits
from geo.demo import other_districts, synthetic_county_divisions, township_records, yunyang_divisions
from geo.services import division_upsert_many

MAX_COUNTIES = 37  # Chongqing's 38 districts and counties, Yunyang aside


class Command(BaseCommand):
    help = (
        "Build the Yunyang County (云阳县) demo: real divisions with synthetic township/village areas, "
        "the extension network, and one account per role. With --counties N, also the N Chongqing districts and "
        "counties nearest to Yunyang, with fictional townships and villages, smaller networks and a year of visits. "
        "Deterministic and safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--counties",
            type=int,
            default=0,
            help=f"Also seed this many other Chongqing districts and counties (0-{MAX_COUNTIES}; default 0).",
        )
        parser.add_argument(
            "--county-visits",
            type=float,
            default=1.0,
            help="Scale the other counties' visit counts by this factor (default 1; tests seed 0.1).",
        )

    def handle(self, *args, **options):
        n_counties = options["counties"]
        if not 0 <= n_counties <= MAX_COUNTIES:
            raise CommandError(f"--counties takes 0 to {MAX_COUNTIES}, not {n_counties}")
        if options["county_visits"] < 0:
            raise CommandError("--county-visits cannot be negative")
        try:
            demo_password_check()
        except ValidationError as exc:
            raise CommandError(f"DEMO_PASSWORD fails the password validators: {' '.join(exc.messages)}") from exc
        per_county = 1 + CountyNetwork.n_steps() + DemoVisits.STEPS
        steps = len(township_records()) + 3 + sum(1 for *_x, staffed in INDUSTRIES if staffed) + DemoVisits.STEPS
        steps += n_counties * per_county
        with tqdm(total=steps, desc="seed_demo", unit="step", disable=options["verbosity"] == 0) as bar:
            with transaction.atomic():
                rows = yunyang_divisions(progress=bar.update)
                division_upsert_many(rows)
                report = DemoNetwork(progress=bar.update).build()
                created = demo_accounts()
                visits = DemoVisits(progress=bar.update).build()
                districts = other_districts(n_counties) if n_counties else []
                for district in districts:
                    bar.set_postfix_str(district.code[:6])
                    county_rows = synthetic_county_divisions(district, TOWNSHIPS_PER_COUNTY, VILLAGES_PER_TOWNSHIP)
                    division_upsert_many(county_rows)
                    rows += county_rows
                    bar.update(1)
                    for name, n in CountyNetwork(district, progress=bar.update).build().created.items():
                        report.add(name, n)
                    visits += CountyVisits(district, progress=bar.update, scale=options["county_visits"]).build()
            bar.update(bar.total - bar.n)
        if options["verbosity"]:
            self.stdout.write(f"divisions upserted: {len(rows)}")
            if districts:
                self.stdout.write(f"other counties: {', '.join(d.name for d in districts)}")
            for name, n in report.created.items():
                self.stdout.write(f"{name} created: {n}")
            self.stdout.write(f"visits created: {visits}" if visits else "visits already present: left unchanged")
            if not report.created:
                self.stdout.write("network already present: left unchanged")
            self.stdout.write(
                f"demo accounts: {', '.join(DEMO_USERNAMES)} ({len(created)} new); "
                f"password from DEMO_PASSWORD (default {settings.DEMO_PASSWORD!r})"
                if created
                else f"demo accounts: {', '.join(DEMO_USERNAMES)} (already present)"
            )
