"""``manage.py import_divisions PATH``: official boundaries from GeoJSON, a zipped Shapefile or a GeoPackage."""

import time

import shapely
from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import transaction
from tqdm import tqdm

from geo.codes import Level
from geo.importers import (
    OVERLAP_TOLERANCE,
    DivisionFile,
    DivisionImportError,
    division_overlaps,
    read_division_rows,
)
from geo.models import AdminDivision
from geo.services import division_upsert_many
from geo.signals import divisions_imported

# division_upsert_many measures and simplifies each geometry; batches keep the progress bar moving.
BATCH_SIZE = 50


class Command(BaseCommand):
    help = (
        "Import administrative division boundaries (GeoJSON, zipped Shapefile or GeoPackage), upserting by code. "
        "Geometry is reprojected to WGS-84 and made valid; stored visits are then reassigned. Running it twice "
        "is harmless."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="A .geojson/.json, a .zip holding a Shapefile, a .shp or a .gpkg file.")
        parser.add_argument("--level", required=True, choices=Level.values, help="Level of every feature.")
        parser.add_argument("--code-field", default="code", help="Attribute with the statistical code (default code).")
        parser.add_argument("--name-field", default="name", help="Attribute with the name (default name).")
        parser.add_argument(
            "--parent-code", help="Parent division of every feature; by default it is derived from each code."
        )
        parser.add_argument(
            "--crs",
            help="Source CRS when the file has none or it is wrong: EPSG:4490 (CGCS2000), EPSG:4326, any EPSG code, "
            "or gcj02/bd09 for outlines taken from Chinese web maps.",
        )
        parser.add_argument("--encoding", help="Shapefile attribute encoding when there is no .cpg (e.g. GBK).")
        parser.add_argument("--layer", help="Layer to read from a GeoPackage (or a zip) with several.")
        parser.add_argument(
            "--allow-overlap",
            action="store_true",
            help="Import even when features overlap each other or stored divisions other than their own ancestors "
            "and descendants (the overlaps are still listed). Points in an overlap go to the smaller village code.",
        )
        parser.add_argument(
            "--overlap-tolerance",
            type=float,
            default=OVERLAP_TOLERANCE * 100,
            metavar="PERCENT",
            help="An overlap smaller than this share of the smaller division is a sliver between two sources' "
            f"outlines, not an overlap (default {OVERLAP_TOLERANCE * 100:g}).",
        )

    @no_translations  # messages in English, like the rest of the command's output
    def handle(self, *args, **options):
        started = time.perf_counter()
        source = DivisionFile(
            path=options["path"],
            level=options["level"],
            code_field=options["code_field"],
            name_field=options["name_field"],
            parent_code=options["parent_code"],
            crs=options["crs"],
            encoding=options["encoding"],
            layer=options["layer"],
        )
        if not 0 <= options["overlap_tolerance"] < 100:
            raise CommandError("--overlap-tolerance is a percentage from 0 to 100.")
        try:
            rows = read_division_rows(source)
        except DivisionImportError as exc:
            raise CommandError(str(exc)) from exc
        overlaps = division_overlaps(rows, tolerance=options["overlap_tolerance"] / 100)
        if overlaps and not options["allow_overlap"]:
            raise CommandError(
                "\n".join(overlaps) + "\nNothing was imported: a point in an overlap could be counted in the wrong "
                "division, or in another county. Correct the outlines, or pass --allow-overlap."
            )
        for line in overlaps:
            self.stdout.write(self.style.WARNING(f"{line} (allowed by --allow-overlap)"))
        codes = [row.code for row in rows]
        existing = set(AdminDivision.objects.filter(code__in=codes).values_list("code", flat=True))
        with (
            transaction.atomic(),
            tqdm(total=len(rows), unit="division", desc="import", disable=options["verbosity"] < 1) as progress,
        ):
            for start in range(0, len(rows), BATCH_SIZE):
                batch = rows[start : start + BATCH_SIZE]
                division_upsert_many(batch)
                progress.update(len(batch))
        created = len(rows) - len(existing)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(rows)} {source.level} divisions imported ({created} new, {len(existing)} updated) "
                f"in {time.perf_counter() - started:.1f} s."
            )
        )
        # The divisions are committed; apps built on geo (agri: the stored visits) follow them now.
        started = time.perf_counter()
        bounds = tuple(float(v) for v in shapely.total_bounds([row.geometry for row in rows]))
        results = divisions_imported.send(sender=self.__class__, codes=codes, level=source.level, bounds=bounds)
        for _, summary in results:
            if summary:
                self.stdout.write(f"{summary} ({time.perf_counter() - started:.1f} s)")
