from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from tqdm import tqdm

from agri.demo import DEMO_USERNAMES, INDUSTRIES, DemoNetwork, DemoVisits, demo_accounts, demo_password_check
from geo.demo import township_records, yunyang_divisions
from geo.services import division_upsert_many


class Command(BaseCommand):
    help = (
        "Build the Yunyang County (云阳县) demo: real divisions with synthetic township/village areas, "
        "the extension network, and one account per role. Deterministic and safe to run twice."
    )

    def handle(self, *args, **options):
        try:
            demo_password_check()
        except ValidationError as exc:
            raise CommandError(f"DEMO_PASSWORD fails the password validators: {' '.join(exc.messages)}") from exc
        steps = len(township_records()) + 3 + sum(1 for *_x, staffed in INDUSTRIES if staffed) + DemoVisits.STEPS
        with tqdm(total=steps, desc="seed_demo", unit="step", disable=options["verbosity"] == 0) as bar:
            with transaction.atomic():
                rows = yunyang_divisions(progress=bar.update)
                division_upsert_many(rows)
                report = DemoNetwork(progress=bar.update).build()
                created = demo_accounts()
                visits = DemoVisits(progress=bar.update).build()
            bar.update(bar.total - bar.n)
        if options["verbosity"]:
            self.stdout.write(f"divisions upserted: {len(rows)}")
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
