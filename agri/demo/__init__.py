"""The Yunyang demo: the extension network (:mod:`.network`), one account per role (:mod:`.accounts`) and a
year of visits (:mod:`.visits`), all deterministic and safe to build twice (``manage.py seed_demo``)."""

from agri.demo.accounts import DEMO_USERNAMES, demo_accounts, demo_password_check
from agri.demo.network import INDUSTRIES, DemoNetwork
from agri.demo.visits import DemoVisits

__all__ = [
    "DEMO_USERNAMES",
    "INDUSTRIES",
    "DemoNetwork",
    "DemoVisits",
    "demo_accounts",
    "demo_password_check",
]
