"""Writes: plain functions named ``<entity>_<action>`` taking keyword-only arguments."""

from agri.services.accounts import (
    device_token_issue,
    device_tokens_retire,
    farmer_personal_data_reveal,
    user_password_change,
)
from agri.services.network import base_create
from agri.services.records import record_create_once, record_soft_delete, record_update, same_as_stored

__all__ = [
    "base_create",
    "device_token_issue",
    "device_tokens_retire",
    "farmer_personal_data_reveal",
    "record_create_once",
    "record_soft_delete",
    "record_update",
    "same_as_stored",
    "user_password_change",
]
