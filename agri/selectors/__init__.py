"""Reads: functions that return querysets or plain data, scoped to the caller."""

from agri.selectors.network import expert_network, network_summary, target_status
from agri.selectors.visits import visit_lookups, visit_versions

__all__ = ["expert_network", "network_summary", "target_status", "visit_lookups", "visit_versions"]
