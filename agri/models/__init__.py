from agri.models.accounts import BUREAU_ROLES, DeviceToken, Role, User
from agri.models.organizations import BaseStatus, DemonstrationBase, FieldSchool, HostType, Industry, Station
from agri.models.people import AffiliationType, Expert, ExtensionWorker, Farmer, ModelHousehold, TechCommissioner
from agri.models.visits import TARGET_FIELDS, SourceCrs, Visit, VisitEvent, VisitFlag, VisitKind

__all__ = [
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
    "Role",
    "Station",
    "TechCommissioner",
    "User",
    "TARGET_FIELDS",
    "SourceCrs",
    "Visit",
    "VisitEvent",
    "VisitFlag",
    "VisitKind",
]
