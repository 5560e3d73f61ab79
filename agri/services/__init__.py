"""Writes: plain functions named ``<entity>_<action>`` that validate, write and return."""

from agri.services.network import base_create, same_as_stored

__all__ = ["base_create", "same_as_stored"]
