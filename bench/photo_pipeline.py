"""Benchmark: the whole photo pipeline on a 12 MP JPEG against one plain full decode of the same file.

    .venv/bin/python bench/photo_pipeline.py [--runs 15] [photo.jpg]

The pipeline is what an upload costs in CPU: SHA-256 of the bytes, format check and pixel limit, EXIF, the
draft-mode decode, the display (1600 px) and thumbnail (320 px) derivatives turned upright and re-encoded, and the
perceptual hash. The baseline is ``Image.open(...).load()``. Without a file, a 12 MP (4032x3024) JPEG is made from
a real sample photo (upscaled, with sensor-like noise so that it compresses like a camera's, and orientation 6 as
phones held upright write it). Runs alternate between the two so that a busy machine slows both alike. Both the
CPU time of this process (``time.process_time``: what other processes on a shared machine cannot inflate) and the
wall-clock time are measured; their medians and ratios are printed. The target is a ratio of at most 1.5.
"""

import argparse
import hashlib
import io
import os
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.dev")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from PIL import ExifTags, Image  # noqa: E402

from agri.imaging import process_photo  # noqa: E402

SAMPLE = ROOT / "tests" / "data" / "photos" / "ianare_jpg_gps_DSCN0010.jpg"


def twelve_megapixel_jpeg() -> bytes:
    source = Image.open(SAMPLE)
    exif = source.getexif()
    exif[ExifTags.Base.Orientation] = 6
    big = np.asarray(source.resize((4032, 3024), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = np.random.default_rng(12).normal(0, 6, big.shape).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(big + noise, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=92, exif=exif)
    return buf.getvalue()


def pipeline(data: bytes) -> None:
    hashlib.sha256(data).hexdigest()
    process_photo(
        data,
        max_pixels=settings.PHOTOS["max_pixels"],
        display_px=settings.PHOTOS["display_px"],
        thumbnail_px=settings.PHOTOS["thumbnail_px"],
        default_tz=ZoneInfo(settings.TIME_ZONE),
    )


def full_decode(data: bytes) -> None:
    Image.open(io.BytesIO(data)).load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", nargs="?", type=Path, help="a JPEG to use instead of the generated 12 MP one")
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each (at least 5; default 15)")
    args = parser.parse_args()
    data = args.photo.read_bytes() if args.photo else twelve_megapixel_jpeg()
    with Image.open(io.BytesIO(data)) as im:
        print(f"photo: {im.format} {im.width}x{im.height} ({im.width * im.height / 1e6:.1f} MP), {len(data):,} bytes")
    pipeline(data)  # warm up: imports, lazy tables, caches
    full_decode(data)
    times: dict = {(step, clock): [] for step in (full_decode, pipeline) for clock in ("cpu", "wall")}
    runs = max(5, args.runs)
    for _ in range(runs):
        for step in (full_decode, pipeline):
            cpu, wall = time.process_time(), time.perf_counter()
            step(data)
            times[step, "cpu"].append(time.process_time() - cpu)
            times[step, "wall"].append(time.perf_counter() - wall)
    print(f"medians of {runs} alternating runs     CPU ms   wall ms")
    median = {key: statistics.median(values) * 1000 for key, values in times.items()}
    for step, label in ((full_decode, "full decode, Image.open().load()"), (pipeline, "pipeline")):
        print(f"  {label:<34} {median[step, 'cpu']:7.1f}  {median[step, 'wall']:7.1f}")
    ratio = {clock: median[pipeline, clock] / median[full_decode, clock] for clock in ("cpu", "wall")}
    verdict = "OK" if ratio["cpu"] <= 1.5 else "OVER TARGET"
    print(
        f"ratio pipeline / full decode: {ratio['cpu']:.2f}x CPU, {ratio['wall']:.2f}x wall (target <= 1.5x): {verdict}"
    )


if __name__ == "__main__":
    main()
