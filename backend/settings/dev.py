"""Local development: `make run`. DEBUG on, everything else as in base."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
