from agri.models.accounts import BUREAU_ROLES, DeviceToken, RetiredToken, Role, TokenEnd, User
from agri.models.audit import PersonalDataAccess
from agri.models.changes import Change, ChangeKind
from agri.models.jobs import Job, JobState, job_storage
from agri.models.organizations import BaseStatus, DemonstrationBase, FieldSchool, HostType, Industry, Station
from agri.models.people import AffiliationType, Expert, ExtensionWorker, Farmer, ModelHousehold, TechCommissioner
from agri.models.photos import Photo, PhotoFlag, PhotoUpload
from agri.models.rollups import DivisionMonth, HexMonth, PresenceCount, PresenceMonth, VisitRollup
from agri.models.visits import TARGET_FIELDS, SourceCrs, Visit, VisitEvent, VisitFlag, VisitKind

__all__ = [
    "Job",
    "JobState",
    "job_storage",
    "Change",
    "ChangeKind",
    "BUREAU_ROLES",
    "AffiliationType",
    "BaseStatus",
    "DemonstrationBase",
    "DeviceToken",
    "Expert",
    "ExtensionWorker",
    "Farmer",
    "FieldSchool",
    "HostType",
    "Industry",
    "ModelHousehold",
    "PersonalDataAccess",
    "Photo",
    "PhotoFlag",
    "PhotoUpload",
    "RetiredToken",
    "Role",
    "Station",
    "TechCommissioner",
    "TokenEnd",
    "User",
    "TARGET_FIELDS",
    "SourceCrs",
    "Visit",
    "VisitEvent",
    "VisitFlag",
    "VisitKind",
    "VisitRollup",
    "DivisionMonth",
    "HexMonth",
    "PresenceCount",
    "PresenceMonth",
]
