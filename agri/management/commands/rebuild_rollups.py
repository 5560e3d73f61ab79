import time

from django.core.management.base import BaseCommand

from agri.services.rollups import rollup_table_sizes, rollups_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the visit rollups (coverage counts: the daily rollup and the monthly division, cell and presence "
        "tables, at every grain; people per month and per year) from the visit table, in SQL, one year at a time. "
        "Safe at any moment: it runs in one transaction, and visit writes keep the rollup current afterwards."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        verbose = options["verbosity"] > 0

        def progress(year: int, visits: int, rows: int) -> None:
            if verbose:
                self.stdout.write(f"rebuild_rollups: {year}: {visits:,} visits -> {rows:,} rollup rows")

        visits, rows = rollups_rebuild(progress=progress)
        if verbose:
            self.stdout.write(
                f"rebuild_rollups: done, {visits:,} live visits -> {rows:,} rollup rows "
                f"in {time.monotonic() - started:.1f} s"
            )
            sizes = ", ".join(f"{table} {n:,}" for table, n in rollup_table_sizes().items())
            self.stdout.write(f"rebuild_rollups: rows per table: {sizes}")
