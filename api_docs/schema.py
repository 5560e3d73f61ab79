"""Every OpenAPI customisation of the project: summaries, tags and request/response examples.

Summaries are derived from the model's name and the action unless a view sets one with
``extend_schema``. Examples are looked up by serializer class name (or by action for views
without a serializer), so each resource's example lives here once and serves every operation.
"""

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, AllowAny

from agri.api.network_serializers import MaskedPersonalDataMixin
from agri.api.throttling import WriteRateThrottle
from agri.privacy import MASKED_FIELDS

VERBS = {
    "list": "List {plural}",
    "retrieve": "Get one {name}",
    "create": "Create {a} {name}",
    "update": "Replace {a} {name}",
    "partial_update": "Update fields of {a} {name}",
    "destroy": "Delete {a} {name}",
}

HOUSEHOLD_ID = "6f1c2a4e-8d3b-4c1e-9a57-0c2b7d9e4f11"
FARMER_ID = "0b8e5f4a-2c6d-4e8f-a1b3-5d7f9e2c4a68"
TIMESTAMPS = {"created_at": "2025-03-14T09:30:00+08:00", "updated_at": "2025-03-14T09:30:00+08:00"}

# serializer class name -> (request example or None, response example)
EXAMPLES = {
    "IndustrySerializer": (
        {"code": "citrus", "name": "柑橘", "name_en": "Citrus (navel orange)", "sort_order": 1},
        {"id": 1, "code": "citrus", "name": "柑橘", "name_en": "Citrus (navel orange)", "sort_order": 1},
    ),
    "DivisionSerializer": (
        {
            "code": "500235101001",
            "name": "示例村",
            "level": "village",
            "parent": "500235101000",
            "rep_lat": 31.05,
            "rep_lon": 108.85,
        },
        {
            "code": "500235101000",
            "name": "龙角镇",
            "level": "township",
            "parent": "500235000000",
            "boundary_synthetic": True,
            "area_km2": 96.4,
            "rep_lat": 31.02,
            "rep_lon": 108.93,
        },
    ),
    "StationSerializer": (
        {
            "name": "龙缸茶业科技特派员工作站",
            "host_org": "龙缸茶业公司",
            "host_type": "company",
            "industries": ["tea"],
            "lat": 30.8711,
            "lon": 109.0403,
            "village_code": "500235115201",
            "established_on": "2021-06-01",
        },
        {
            "id": 3,
            "name": "龙缸茶业科技特派员工作站",
            "host_org": "龙缸茶业公司",
            "host_type": "company",
            "industries": ["tea"],
            "lat": 30.8711,
            "lon": 109.0403,
            "village_code": "500235115201",
            "established_on": "2021-06-01",
            **TIMESTAMPS,
        },
    ),
    "DemonstrationBaseSerializer": (
        {
            "name": "双土脐橙试验示范基地",
            "industry": "citrus",
            "operator": "云阳县果业合作社",
            "lat": 30.95,
            "lon": 108.76,
            "village_code": "500235106203",
            "area_mu": "320.00",
            "status": "certified",
            "certified_on": "2022-04-18",
            "parcel": {
                "type": "Polygon",
                "coordinates": [
                    [[108.758, 30.948], [108.762, 30.948], [108.762, 30.952], [108.758, 30.952], [108.758, 30.948]]
                ],
            },
        },
        {
            "id": 1,
            "name": "双土脐橙试验示范基地",
            "industry": "citrus",
            "operator": "云阳县果业合作社",
            "lat": 30.95,
            "lon": 108.76,
            "village_code": "500235106203",
            "parcel": None,
            "area_mu": "320.00",
            "certified_on": "2022-04-18",
            "status": "certified",
            "field_school": 1,
            **TIMESTAMPS,
        },
    ),
    "FieldSchoolSerializer": (
        {"name": "双土脐橙农民田间学校", "established_on": "2022-05-01", "capacity": 60},
        {
            "id": 1,
            "base": 1,
            "base_name": "双土脐橙试验示范基地",
            "name": "双土脐橙农民田间学校",
            "established_on": "2022-05-01",
            "capacity": 60,
            **TIMESTAMPS,
        },
    ),
    "ExpertSerializer": (
        {
            "name": "王建国",
            "industry": "citrus",
            "county_code": "500235000000",
            "title": "高级农艺师",
            "organization": "云阳县农业技术推广站",
            "phone": "13812341234",
            "active": True,
        },
        {
            "id": 1,
            "name": "王建国",
            "industry": "citrus",
            "county_code": "500235000000",
            "title": "高级农艺师",
            "organization": "云阳县农业技术推广站",
            "phone": "138****1234",
            "active": True,
            "workers_count": 9,
            **TIMESTAMPS,
        },
    ),
    "ExtensionWorkerSerializer": (
        {
            "name": "李春梅",
            "expert": 1,
            "is_township_based": True,
            "home_township_code": "500235106000",
            "phone": "13912345678",
            "active": True,
        },
        {
            "id": 7,
            "name": "李春梅",
            "expert": 1,
            "industry": "citrus",
            "is_township_based": True,
            "home_township_code": "500235106000",
            "phone": "139****5678",
            "active": True,
            "households_count": 10,
            **TIMESTAMPS,
        },
    ),
    "TechCommissionerSerializer": (
        {
            "name": "张明",
            "affiliation": "西南大学",
            "affiliation_type": "university",
            "specialty": "柑橘栽培",
            "county_code": "500235000000",
            "service_start_year": 2021,
            "service_end_year": None,
            "phone": "13698765432",
            "active": True,
            "stations": [3],
            "bases": [1],
        },
        {
            "id": 12,
            "name": "张明",
            "affiliation": "西南大学",
            "affiliation_type": "university",
            "specialty": "柑橘栽培",
            "county_code": "500235000000",
            "service_start_year": 2021,
            "service_end_year": None,
            "phone": "136****5432",
            "active": True,
            "stations": [3],
            "bases": [1],
            **TIMESTAMPS,
        },
    ),
    "ModelHouseholdSerializer": (
        {
            "id": HOUSEHOLD_ID,
            "head_name": "陈大富",
            "phone": "13512345678",
            "address": "三组12号",
            "industries": ["citrus"],
            "lat": 30.9531,
            "lon": 108.7642,
            "village_code": "500235106203",
        },
        {
            "id": HOUSEHOLD_ID,
            "worker": 7,
            "head_name": "陈大富",
            "phone": "135****5678",
            "address": "三组12号",
            "industries": ["citrus"],
            "lat": 30.9531,
            "lon": 108.7642,
            "village_code": "500235106203",
            "farmers_count": 10,
            **TIMESTAMPS,
        },
    ),
    "FarmerSerializer": (
        {
            "id": FARMER_ID,
            "household": HOUSEHOLD_ID,
            "name": "刘小兰",
            "phone": "13787654321",
            "id_number": "500235198803150025",
            "village_code": "500235106203",
        },
        {
            "id": FARMER_ID,
            "household": HOUSEHOLD_ID,
            "name": "刘小兰",
            "phone": "137****4321",
            "id_number": "500***********0025",
            "village_code": "500235106203",
            **TIMESTAMPS,
        },
    ),
    "LoginSerializer": ({"username": "demo-worker", "password": "nongji-demo-2026", "device": "Redmi Note 12"}, None),
    "TokenSerializer": (
        None,
        {
            "token": "9f3c1b7e2a5d4c8e0b6a1f3d5e7c9b2a4d6f8e0c1b3a5d7f9e2c4b6a8d0f1e3c",
            "expiry": "2025-04-13T09:30:00+08:00",
            "user": {
                "id": 5,
                "username": "demo-worker",
                "first_name": "",
                "last_name": "",
                "role": "worker",
                "role_display": "农技推广人员",
                "jurisdiction": "500235106",
                "person": {"type": "extension_worker", "id": "7", "name": "李春梅"},
            },
        },
    ),
    "HealthSerializer": (None, {"status": "ok", "database": "ok"}),
    "MeSerializer": (
        None,
        {
            "id": 5,
            "username": "demo-worker",
            "first_name": "",
            "last_name": "",
            "role": "worker",
            "role_display": "农技推广人员",
            "jurisdiction": "500235106",
            "person": {"type": "extension_worker", "id": "7", "name": "李春梅"},
        },
    ),
    "DeviceTokenSerializer": (
        None,
        {
            "token_key": "9f3c1b7e2a5d4c8",
            "device": "Redmi Note 12",
            "created": "2025-03-14T09:30:00+08:00",
            "expiry": "2025-04-13T09:30:00+08:00",
            "current": True,
        },
    ),
    "PasswordChangeSerializer": ({"old_password": "nongji-demo-2026", "new_password": "柑橘-溃疡病-2026-春"}, None),
    "PersonalDataRevealSerializer": ({"reason": "核实补贴发放对象身份"}, None),
    "RevealedPersonalDataSerializer": (
        None,
        {"id": FARMER_ID, "name": "刘小兰", "phone": "13787654321", "id_number": "500235198803150025"},
    ),
    "ExpertNetworkSerializer": (
        None,
        {
            "id": 1,
            "name": "王建国",
            "industry": {"code": "citrus", "name": "柑橘"},
            "counts": {"workers": 9, "township_workers": 7, "township_share": 0.7778, "households": 86, "farmers": 801},
            "targets": {"workers": 10, "township_share": 0.7, "households": 100, "farmers": 1000},
            "status": {"workers": "under", "township_share": "met"},
            "workers": [
                {
                    "id": 7,
                    "name": "李春梅",
                    "is_township_based": True,
                    "home_township_code": "500235106000",
                    "home_township_name": "双土镇",
                    "households": 10,
                    "farmers": 97,
                    "target": 10,
                    "status": "met",
                    "household_nodes": [
                        {
                            "id": HOUSEHOLD_ID,
                            "head_name": "陈大富",
                            "village_code": "500235106203",
                            "farmers": 10,
                            "status": "met",
                        }
                    ],
                }
            ],
        },
    ),
    "NetworkSummarySerializer": (
        None,
        {
            "year": 2025,
            "industries": [
                {
                    "industry": {"code": "citrus", "name": "柑橘"},
                    "experts": {"value": 1, "target": 1, "status": "met"},
                    "workers": {"value": 9, "target": 10, "status": "under", "under_target_nodes": 3},
                    "township_share": {"value": 0.7778, "target": 0.7, "status": "met"},
                    "households": {"value": 86, "target": 90, "status": "under", "under_target_nodes": 12},
                    "farmers": {"value": 801, "target": 860, "status": "under"},
                }
            ],
            "bases": {"value": 5, "target_min": 3, "target_max": 6, "status": "met"},
            "field_schools": {"value": 5, "target": 5, "status": "met"},
            "commissioners_in_service": {"value": 38, "target": 40, "status": "under"},
        },
    ),
}

VISIT_ID = "2f7052c0-6dc4-45ce-8f3b-07d0ada5553c"
VISIT_REQUEST = {
    "id": VISIT_ID,
    "kind": "diagnosis",
    "industry": "citrus",
    "household": HOUSEHOLD_ID,
    "started_at": "2025-03-14T09:30:00+08:00",
    "ended_at": "2025-03-14T10:10:00+08:00",
    "lat": 30.95614,
    "lon": 108.76893,
    "accuracy_m": 8.5,
    "altitude_m": 312.0,
    "source_crs": "gcj02",
    "mock_location": False,
    "notes": "叶片出现溃疡斑，建议喷施铜制剂",
    "participants": 2,
    "introduced": [],
    "attendees": [],
    "photos_expected": 3,
}
VISIT_RESPONSE = {
    "id": VISIT_ID,
    "kind": "diagnosis",
    "industry": "citrus",
    "household": HOUSEHOLD_ID,
    "farmer": None,
    "base": None,
    "station": None,
    "village": None,
    "started_at": "2025-03-14T09:30:00+08:00",
    "ended_at": "2025-03-14T10:10:00+08:00",
    "lat": 30.9531,
    "lon": 108.7642,
    "accuracy_m": 8.5,
    "altitude_m": 312.0,
    "source_crs": "gcj02",
    "mock_location": False,
    "notes": "叶片出现溃疡斑，建议喷施铜制剂",
    "participants": 2,
    "introduced": [],
    "attendees": [],
    "photos_expected": 3,
    "photos_present": 0,
    "division_code": "500235106203",
    "township_code": "500235106000",
    "flags": [],
    "actor_type": "worker",
    "actor_id": 7,
    "received_at": "2025-03-16T18:02:11+08:00",
    "updated_at": "2025-03-16T18:02:11+08:00",
    "deleted": False,
}
EXAMPLES.update(
    {
        "VisitWriteSerializer": (VISIT_REQUEST, None),
        "VisitSerializer": (None, VISIT_RESPONSE),
        "VisitBatchSerializer": ({"visits": [VISIT_REQUEST]}, None),
        "VisitBatchResponseSerializer": (
            None,
            {
                "results": [
                    {"id": VISIT_ID, "status": "created", "code": "created", "errors": {}},
                    {
                        "id": "9c6373cf-8f4c-4203-a5d6-9fd314e42d23",
                        "status": "invalid",
                        "code": "invalid",
                        "errors": {"lat": [{"code": "max_value", "message": "请确保该值小于或者等于 90。"}]},
                    },
                    {
                        "id": "4d0e6b1a-52c3-4f7e-8a9b-1c2d3e4f5a6b",
                        "status": "failed",
                        "code": "retry_later",
                        "message": "此服务记录暂时未能保存，请稍后重新发送。",
                        "errors": {},
                    },
                ]
            },
        ),
        "VisitHistorySerializer": (
            None,
            {
                "action": "update",
                "at": "2025-03-17T08:00:00+08:00",
                "user": "demo-worker",
                "changes": {"notes": ["叶片出现溃疡斑", "叶片出现溃疡斑，建议喷施铜制剂"]},
            },
        ),
    }
)

PHOTO_ID = "5b0e8a53-3f0c-4a4e-9d7e-2c1f6b8a9e01"
PHOTO_URL = f"https://nongji.example.cn/api/v1/photos/{PHOTO_ID}"
EXAMPLES.update(
    {
        "PhotoUploadSerializer": ({"id": PHOTO_ID, "file": "(binary: IMG_20250314_093512.jpg)"}, None),
        "PhotoPutSerializer": ({"visit": VISIT_ID, "file": "(binary: IMG_20250314_093512.heic)"}, None),
        "PhotoSerializer": (
            None,
            {
                "id": PHOTO_ID,
                "visit": VISIT_ID,
                "sha256": "9f2b5c0e7d1a4b3c8e6f0a2d4c6b8e0f1a3c5e7d9b1f3a5c7e9d1b3f5a7c9e1d",
                "width": 3024,
                "height": 4032,
                "content_type": "image/heic",
                "taken_at": "2025-03-14T09:35:12.054000+08:00",
                "exif_lat": 30.956141,
                "exif_lon": 108.768932,
                "exif_alt_m": 311.6,
                "camera": "HUAWEI Mate 40 Pro",
                "orientation": 6,
                "flags": [],
                "created_at": "2025-03-16T18:02:15+08:00",
                "original": f"{PHOTO_URL}/original/",
                "display": f"{PHOTO_URL}/display/",
                "thumbnail": f"{PHOTO_URL}/thumbnail/",
            },
        ),
    }
)

# For operations whose response has no serializer: keyed by the view action (or the view's class name).
ACTION_EXAMPLES = {
    "boundary": {
        "type": "Feature",
        "id": "500235101000",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[108.9, 31.0], [108.95, 31.0], [108.95, 31.05], [108.9, 31.0]]],
        },
        "properties": {
            "code": "500235101000",
            "name": "龙角镇",
            "level": "township",
            "synthetic": True,
            "area_km2": 96.4,
        },
    },
}

# Coverage maps, gaps, a station's service area and the plan's indicators (agri.api.coverage_views).
_RING = [[108.76, 30.95], [108.78, 30.95], [108.78, 30.97], [108.76, 30.97], [108.76, 30.95]]
_INDICATOR = {"target_max": None, "numerator": None, "denominator": None}
COVERAGE_GAPS = {
    "days": 90,
    "since": "2025-01-01",
    "until": "2025-03-31",
    "households": [
        {
            "id": HOUSEHOLD_ID,
            "head_name": "陈大富",
            "worker_id": 7,
            "worker_name": "李春梅",
            "village_code": "500235106203",
            "village_name": "坪天村",
            "township_code": "500235106000",
            "lat": 30.9531,
            "lon": 108.7642,
            "last_visit": "2024-11-20",
        }
    ],
    "villages": [
        {
            "code": "500235106205",
            "name": "新胜村",
            "township_code": "500235106000",
            "households": 3,
            "last_visit": None,
            "rep_lat": 30.9602,
            "rep_lon": 108.7711,
            "geometry": {"type": "Polygon", "coordinates": [_RING]},
        }
    ],
}
PLAN_INDICATORS = {
    "year": 2025,
    "indicators": [
        {
            "code": "commissioners_in_service",
            "name": "科技特派员在岗人数",
            "name_en": "Tech commissioners in service",
            "unit": "人",
            "value": 38,
            "target": 40,
            "status": "under",
            **_INDICATOR,
            "by_industry": [
                {"code": "citrus", "name": "柑橘", "value": 9, "target": None, "status": None, **_INDICATOR}
            ],
            "by_township": [
                {"code": "500235106000", "name": "双土镇", "value": 4, "target": None, "status": None, **_INDICATOR}
            ],
        },
        {
            "code": "households_per_worker",
            "name": "每名农技推广人员联系科技示范户",
            "name_en": "Model households per worker",
            "unit": "户",
            "value": 9.3836,
            "target": 10,
            "target_max": 10,
            "status": "under",
            "numerator": 685,
            "denominator": 73,
            "by_industry": [
                {
                    "code": "citrus",
                    "name": "柑橘",
                    "value": 9.6,
                    "target": 10,
                    "target_max": 10,
                    "status": "under",
                    "numerator": 96,
                    "denominator": 10,
                }
            ],
            "by_township": [
                {
                    "code": "500235106000",
                    "name": "双土镇",
                    "value": 10.0,
                    "target": 10,
                    "target_max": 10,
                    "status": "met",
                    "numerator": 30,
                    "denominator": 3,
                }
            ],
        },
    ],
}
EXAMPLES.update(
    {
        "DivisionCoverageSerializer": (
            None,
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": "500235106000",
                        "geometry": {"type": "Polygon", "coordinates": [_RING]},
                        "properties": {
                            "code": "500235106000",
                            "name": "双土镇",
                            "level": "township",
                            "visits": 412,
                            "households_visited": 27,
                            "households": 30,
                            "coverage": 0.9,
                            "workers_active": 3,
                            "commissioners_active": 2,
                            "last_visit": "2025-03-30",
                        },
                    }
                ],
            },
        ),
        "HexagonCoverageSerializer": (
            None,
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "id": "8740c9a1affffff",
                        "geometry": {"type": "Polygon", "coordinates": [_RING]},
                        "properties": {
                            "h3": "8740c9a1affffff",
                            "resolution": 7,
                            "visits": 18,
                            "last_visit": "2025-03-28",
                        },
                    }
                ],
            },
        ),
        "CoverageGapsSerializer": (None, COVERAGE_GAPS),
        "ServiceAreaSerializer": (
            None,
            {
                "station": {"id": 3, "name": "龙缸茶业科技特派员工作站", "lat": 30.8711, "lon": 109.0403},
                "radius_km": 5.0,
                "days": 90,
                "since": "2025-01-01",
                "until": "2025-03-31",
                "households": 12,
                "households_visited": 9,
                "coverage": 0.75,
                "items": [
                    {
                        "id": HOUSEHOLD_ID,
                        "head_name": "陈大富",
                        "village_code": "500235115201",
                        "lat": 30.8742,
                        "lon": 109.0431,
                        "distance_km": 0.428,
                        "visited": True,
                        "last_visit": "2025-03-12",
                    }
                ],
            },
        ),
        "PlanIndicatorsSerializer": (None, PLAN_INDICATORS),
    }
)
# Their JSON sits beside file formats, whose responses are keyed by media type: found by the view's name.
ACTION_EXAMPLES.update({"CoverageGapsView": COVERAGE_GAPS, "PlanIndicatorsView": PLAN_INDICATORS})


def _name(serializer) -> str | None:
    if isinstance(serializer, dict):  # {status: serializer}: take the success response
        serializer = next((v for k, v in serializer.items() if str(k).startswith("2")), None)
    if serializer is None:
        return None
    cls = serializer if isinstance(serializer, type) else type(serializer)
    if getattr(serializer, "many", False):
        cls = type(serializer.child)
    return cls.__name__


class FieldErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. `required`, `max_value`, `does_not_exist`.")
    message = serializers.CharField(help_text="The reason in the caller's language.")


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API (agri.api.exceptions)."""

    code = serializers.CharField(help_text="Machine-readable and stable, e.g. `invalid`, `not_found`, `throttled`.")
    message = serializers.CharField(help_text="Follows `Accept-Language` (zh-hans or en).")
    fields = serializers.DictField(
        child=serializers.ListField(child=FieldErrorSerializer()),
        help_text="Each offending field (a dotted path for nested items) with its reasons; empty otherwise.",
    )


# Error statuses every operation may answer, by what the operation takes (see AutoSchema._error_statuses).
ERROR_DESCRIPTIONS = {
    "400": "Invalid parameters or body: `fields` says which and why.",
    "401": "No token, or an expired or revoked one.",
    "403": "The caller's role may not do this.",
    "404": "No such record within the caller's jurisdiction (or no such page).",
    "409": "The record conflicts with a stored one, or is still referenced by others.",
    "413": "The request body is too large.",
    "415": "The body's media type is not accepted here.",
    "429": "Too many requests: retry later (see `Retry-After`).",
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None:
            self._add_error_responses(operation)
        return operation

    def _get_parameters(self):
        parameters = super()._get_parameters()
        for parameter in parameters:
            # An empty query parameter (`?industry=`, as HTML forms send it) is the same as leaving it out.
            if parameter["in"] == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        return parameters

    def _error_statuses(self, operation) -> list[str]:
        """The error statuses the operation can answer with, derived from what it takes and who may call it."""
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        public = any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        codes = set()
        if has_body or any(p["in"] == "query" for p in parameters):
            codes.add("400")
        if not public:
            codes |= {"401", "403"}
        if any(p["in"] == "path" for p in parameters) or any(p["name"] == "page" for p in parameters):
            codes.add("404")
        if self.method == "DELETE" or self._is_create_operation():
            codes.add("409")
        if has_body:
            codes |= {"413", "415"}
        # Writes are throttled per account (WriteRateThrottle); a view may add its own throttle (login).
        own_throttle = any(not isinstance(t, WriteRateThrottle) for t in self.view.get_throttles())
        if self.method not in SAFE_METHODS or own_throttle:
            codes.add("429")
        return sorted(codes)

    def _add_error_responses(self, operation) -> None:
        """Every error of the API has the same JSON body: document it on each status an operation can answer."""
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation.setdefault("responses", {})
        codes = set(self._error_statuses(operation)) | {code for code in responses if code[0] in "45"}
        for code in sorted(codes):
            response = responses.setdefault(code, {"description": ERROR_DESCRIPTIONS.get(code, "")})
            if not response.get("content"):
                response["content"] = {"application/json": {"schema": error}}
        operation["responses"] = dict(sorted(responses.items()))

    def _model_names(self):
        queryset = getattr(self.view, "queryset", None)
        if queryset is None:
            return None, None
        meta = queryset.model._meta
        return meta.verbose_name, meta.verbose_name_plural

    def get_summary(self):
        summary = super().get_summary()
        if summary:
            return summary
        action = getattr(self.view, "action", None)
        name, plural = self._model_names()
        if action in VERBS and name:
            name = _english(name)
            return VERBS[action].format(name=name, plural=_english(plural), a="an" if name[0] in "aeiou" else "a")
        doc = (self.view.__doc__ or "").strip().splitlines()
        return doc[0].rstrip(".") if doc else None

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "response" and isinstance(serializer, MaskedPersonalDataMixin):
            # Answers mask these (138****1234) for callers who may not see them: the input's pattern does not apply.
            for name in MASKED_FIELDS:
                field = schema["properties"].get(name)
                if field is not None:
                    kept = {key: value for key, value in field.items() if key in ("title", "readOnly", "nullable")}
                    schema["properties"][name] = {
                        **kept,
                        "type": "string",
                        "description": "Masked (e.g. `138****1234`) unless the caller is a bureau admin or the "
                        "record's owner.",
                    }
        return schema

    def map_parsers(self):
        # The API's clients send JSON. The form parsers stay for the browsable API's HTML forms, where an empty
        # field means "absent" or null: a semantics a JSON schema cannot state, so they are not documented.
        # Photo uploads take multipart only and keep it.
        parsers = super().map_parsers()
        return ["application/json"] if "application/json" in parsers else parsers

    def get_filter_backends(self):
        # GIS exports answer with a file, not a list, but take the list's filters: document them.
        if getattr(self.view, "schema_list_filters", False):
            return getattr(self.view, "filter_backends", [])
        return super().get_filter_backends()

    def get_examples(self):
        examples = super().get_examples()
        if examples:
            return examples
        out = []
        if self.method in ("POST", "PUT", "PATCH"):
            request_example = EXAMPLES.get(_name(self.get_request_serializer()), (None, None))[0]
            if request_example is not None:
                if self.method == "PATCH":
                    request_example = dict(list(request_example.items())[:2])
                out.append(OpenApiExample("request", value=request_example, request_only=True))
        response = self.get_response_serializers()
        response_example = EXAMPLES.get(_name(response), (None, None))[1]
        if response_example is None:
            response_example = ACTION_EXAMPLES.get(
                getattr(self.view, "action", None), ACTION_EXAMPLES.get(type(self.view).__name__)
            )
        if response_example is not None:
            out.append(OpenApiExample("response", value=response_example, response_only=True))
        return out


def _english(text: str) -> str:
    """Model names are translatable; the schema is written in English."""
    from django.utils import translation

    with translation.override("en"):
        return str(text)


class LookupFieldExtension(OpenApiSerializerFieldExtension):
    """Visit payload ids resolved against preloaded rows: document each as the id type it takes."""

    target_class = "agri.api.visit_serializers.LookupField"

    def map_serializer_field(self, auto_schema, direction):
        kind = self.target.kind
        if kind in ("household", "farmer"):
            return build_basic_type(OpenApiTypes.UUID)
        if kind in ("base", "station"):
            return build_basic_type(OpenApiTypes.INT)
        return build_basic_type(OpenApiTypes.STR)
