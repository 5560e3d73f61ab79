"""Domain errors: what went wrong, as a stable machine code and a message in the request's language.

They carry no HTTP. Services, selectors, imaging and geo raise them; ``agri.api.exceptions.exception_handler`` is
the one place that maps each kind to a status code and the API's error shape (other interfaces, such as the
management commands, print the message).
"""

from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

# Seconds a client is asked to wait (Retry-After) before sending again what an Unavailable refused.
RETRY_AFTER_SECONDS = 30


class ApplicationError(Exception):
    """Base of every domain error. ``fields`` names the inputs at fault: ``{name: [message, ...]}``; ``extra`` holds
    machine-readable facts about the error, which the API adds to its error body next to ``code``, ``message`` and
    ``fields``."""

    default_code = "error"
    default_message = _("The request could not be carried out.")
    extra: dict = {}

    def __init__(self, message=None, *, code: str | None = None, fields: dict[str, list] | None = None):
        self.message = message if message is not None else self.default_message
        self.code = code or self.default_code
        self.fields = fields or {}
        super().__init__(str(self.message))


class InvalidInput(ApplicationError):
    """The input breaks a rule the domain checks (the API answers 400)."""

    default_code = "invalid"
    default_message = _("The request contains invalid data.")


class NotAllowed(ApplicationError):
    """The account may not do this (403)."""

    default_code = "permission_denied"
    default_message = _("You do not have permission to perform this action.")


class NotFoundError(ApplicationError):
    """The record does not exist or is outside the caller's scope (404: both look the same)."""

    default_code = "not_found"
    default_message = _("Not found.")


class Conflict(ApplicationError):
    """A client id is already taken and the request is not a replay of the record that holds it (409); nothing was
    changed. The answer is the same whatever that record is (another payload, another account's, another county's,
    deleted): it tells the client that the id is taken and nothing about the record
    (``agri.services.records.taken_id_outcome``)."""

    default_code = "conflict"
    default_message = _("This id is already taken. Nothing was changed: a new record needs a new id.")


class StaleVersion(ApplicationError):
    """The record changed since the client read it: its If-Match no longer matches (412)."""

    default_code = "precondition_failed"
    default_message = _("The record was changed since you read it. Fetch it again and reapply your edit.")


class StaleVisit(StaleVersion):
    """A visit changed since the client read it (412), said in the words of visits."""

    default_message = _("The visit was changed since you read it. Fetch it again and reapply your edit.")


class TooLarge(ApplicationError):
    """An upload over a size limit (413)."""

    default_code = "too_large"


class UnsupportedContent(ApplicationError):
    """An upload of a kind that is not accepted (415)."""

    default_code = "unsupported_format"


class ChecksumMismatch(ApplicationError):
    """The bytes received do not match the checksum sent with them (tus answers 460); nothing of them was kept."""

    default_code = "checksum_mismatch"
    default_message = _("The bytes received do not match their checksum. Nothing was kept; send them again.")


class Gone(ApplicationError):
    """The record existed and is gone for good (410): an abandoned upload that expired."""

    default_code = "gone"
    default_message = _("This no longer exists.")


class LimitReached(ApplicationError):
    """A per-account limit on things in progress at once is reached (429); finishing or ending one frees a place."""

    default_code = "limit_reached"
    default_message = _("Too many at once. Finish or cancel one first.")


class Unprocessable(ApplicationError):
    """Well-formed, but its content cannot be used (422): a corrupt image, a full visit."""

    default_code = "unprocessable"


class Unavailable(ApplicationError):
    """A backing service (database, photo store, cache) cannot take the request just now; retrying later may
    succeed (503 with Retry-After). Nothing was kept."""

    default_code = "retry_later"
    default_message = _("The database is unavailable just now. Send the request again later.")


class InUse(ApplicationError):
    """The record is still referenced by other records, so it cannot be deleted (409)."""

    default_code = "protected"
    default_message = _("This record is still referenced by other records and cannot be deleted.")


class TokenLimitReached(Conflict):
    """A login from a new device name when the account already has its limit of device tokens (409). Nothing was
    revoked: the caller frees a slot (logs a device out) and logs in again. ``extra`` gives the limit and the
    oldest device."""

    default_code = "token_limit"

    def __init__(self, *, limit: int, oldest_token_key: str, oldest_device: str, oldest_created):
        message = format_lazy(
            _(
                "This account is already logged in on {limit} devices, the most allowed. Log a device out first "
                '(the oldest is "{device}", logged in on {created}), then log in again.'
            ),
            limit=limit,
            device=oldest_device or _("(no name)"),
            created=timezone.localtime(oldest_created).strftime("%Y-%m-%d %H:%M"),
        )
        super().__init__(message)
        self.extra = {
            "limit": limit,
            "oldest_device": {"token_key": oldest_token_key, "device": oldest_device, "created": oldest_created},
        }


# Jobs (agri.services.jobs): their file asked for too early, or too late.
JOB_NOT_DONE = _("This job has no file: it has not finished yet, or it failed. Ask for the job to see its state.")
JOB_EXPIRED = _("This job's file expired and was removed. Start the job again.")
