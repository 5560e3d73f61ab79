"""Local development: `make run`. DEBUG on, everything else as in base."""

from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)

# WhiteNoise serves straight from the app finders until someone runs collectstatic.
if not Path(str(STATIC_ROOT)).exists():  # noqa: F405
    STATIC_ROOT = None
