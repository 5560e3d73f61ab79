"""Writes: plain functions named ``<entity>_<action>`` that validate, write and return."""

from agri.services.accounts import farmer_personal_data_reveal, user_password_change
from agri.services.network import base_create, same_as_stored

__all__ = ["base_create", "farmer_personal_data_reveal", "same_as_stored", "user_password_change"]
