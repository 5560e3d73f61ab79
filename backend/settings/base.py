"""Settings shared by every environment. Everything that differs between machines comes from the environment."""

from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Django's task interface (the backport of Django 6's django.tasks), its database queue, and RQ for Redis.
    "django_tasks",
    "django_tasks_db",
    "django_rq",
    "geo",
    "agri",
    "api_docs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "agri.middleware.NulCharacterMiddleware",  # after LocaleMiddleware: its 400 speaks the caller's language
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # With a read replica: which database each query of the request reads from (backend/db_router.py).
    "backend.db_router.ReplicaRoutingMiddleware",
    # Records show personal data as the request's account may see it (agri.privacy), in every page it renders.
    "agri.middleware.PrivacyReaderMiddleware",
    # A session login refused by the lockout or the login throttle (agri.lockout): a 429 page that says so.
    "agri.middleware.LoginRefusedMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # zstd/Brotli/gzip for clients that ask, ETags kept strong. Below the CSRF middleware, so that it still sees
    # that a response handed out a CSRF token (those are never compressed: BREACH).
    "agri.middleware.CompressionMiddleware",
    # Below it: GETs without an ETag of their own get the hash of their uncompressed body, and 304s for it.
    "agri.middleware.ContentETagMiddleware",
    # Last, so that it sees the views' exceptions first: a database or cache outage is a 503 page, not a 500.
    "agri.middleware.ServiceUnavailableMiddleware",
    # Innermost: a rendered API response frees its data, view and request at once (DRF links them in cycles).
    "agri.middleware.ReleaseRenderedMiddleware",
]

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"
ASGI_APPLICATION = "backend.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite (WAL mode, see agri.apps) needs no setup; give a postgres:// URL for PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# A PostgreSQL streaming replica (hot standby) of the primary: the bureau's reads go there (backend/db_router.py).
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["replica"].setdefault("CONN_HEALTH_CHECKS", True)
    # pytest-django makes no database of its own for it: the replica copies the primary's test database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
# Both do nothing without DATABASES["replica"].
DATABASE_ROUTERS = ["backend.db_router.PrimaryReplicaRouter"]
# Reads of these views (GET/HEAD) may come from the replica: coverage, the maps, the lists and the exports.
REPLICA_READ_VIEWS = frozenset(
    [
        "web-map",
        *(
            f"agri:{name}"
            for name in (
                "coverage-divisions",
                "coverage-hexagons",
                "coverage-gaps",
                "coverage-map",
                "indicators",
                "network-summary",
                "visit-geojson",
                "export-visits",
                "export-model-households",
                "export-demonstration-bases",
                "export-coverage",
                "export-photos",
                "industry-list",
                "division-list",
                "station-list",
                "demonstration-base-list",
                "field-school-list",
                "expert-list",
                "extension-worker-list",
                "tech-commissioner-list",
                "model-household-list",
                "farmer-list",
                "visit-list",
            )
        ),
    ]
)
# After a request of an account that wrote, that account reads from the primary for this long (the replica's lag).
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=10)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "agri.User"
KNOX_TOKEN_MODEL = "agri.DeviceToken"
# knox's own migrations create its AuthToken table even when the model is swapped for ours; that
# orphan table would reference agri_user and block TRUNCATE. knox has no other models to migrate.
MIGRATION_MODULES = {"knox": None}

# Every authenticate() call (API, admin, session logins) goes through the failed-login lockout (agri/lockout.py).
AUTHENTICATION_BACKENDS = ["agri.lockout.LockoutModelBackend"]
# Failed logins in a window lock the account (any IP), or the client IP (any account); see docs/security.md.
LOGIN_LOCKOUT = {
    "account_failures": env.int("LOGIN_LOCKOUT_ACCOUNT_FAILURES", default=10),
    # Much higher than per account: a village or carrier NAT puts many honest users behind one address.
    "ip_failures": env.int("LOGIN_LOCKOUT_IP_FAILURES", default=100),
    "window_seconds": env.int("LOGIN_LOCKOUT_MINUTES", default=15) * 60,
}
# Largest non-file request body (JSON, form fields) in bytes, checked by Django and DRF before parsing (413): 10 MiB
# holds a 500-visit sync batch with long notes. Photo files have their own limit (PHOTOS["max_bytes"]).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Chinese first: the users are county staff and farmers' advisers. English via Accept-Language.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "agri" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Leaflet for the bureau's web map: the static files of the django-leaflet package (no CDN, nothing copied).
# Only its static folder is used: as an installed app, admin autodiscovery would import leaflet.admin, which needs
# GeoDjango and a system GDAL. find_spec locates the package without importing it.
# Plotly.js for the plan dashboard's charts: the plotly package's own copy (package_data/plotly.min.js), served
# under static/plotly/ (the folder also holds the package's sample data sets and templates, which nothing links).
STATICFILES_DIRS = [
    Path(find_spec("leaflet").origin).parent / "static",
    ("plotly", Path(find_spec("plotly").origin).parent / "package_data"),
]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Without collectstatic (development, tests) WhiteNoise finds files in the apps; production runs collectstatic.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# Files go through STORAGES (local filesystem by default).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Visit photos are private evidence: their own storage, outside any URL route, served only by permission-checked
# views. Local files under PHOTO_ROOT by default; any S3-compatible store (MinIO, OSS, COS, OBS) with
# STORAGE_BACKEND=s3 and the AWS_* variables (see docs/operations.md).
if env("STORAGE_BACKEND", default="local") == "s3":
    STORAGES["photos"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "location": env("AWS_LOCATION", default="photos"),
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", default=None),
            "signature_version": env("AWS_S3_SIGNATURE_VERSION", default="s3v4"),
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    STORAGES["photos"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": env("PHOTO_ROOT", default=str(Path(MEDIA_ROOT) / "private" / "photos")),
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }

# Job results (big exports): their own private storage, beside the photos' (the same S3 bucket under JOB_LOCATION,
# or local files under JOB_ROOT), served only by the permission-checked job view.
if env("STORAGE_BACKEND", default="local") == "s3":
    STORAGES["jobs"] = {
        "BACKEND": STORAGES["photos"]["BACKEND"],
        "OPTIONS": {**STORAGES["photos"]["OPTIONS"], "location": env("JOB_LOCATION", default="jobs")},
    }
else:
    STORAGES["jobs"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            **STORAGES["photos"]["OPTIONS"],
            "location": env("JOB_ROOT", default=str(Path(MEDIA_ROOT) / "private" / "jobs")),
        },
    }

# Long work (year exports, rollup rebuilds) runs as jobs on Django's task interface (docs/operations.md, "Jobs").
# TASK_BACKEND=database (default): the queue is a table of the app's own database, run by `manage.py db_worker`
# (make run starts one); no other service. TASK_BACKEND=rq: the queue is Redis (RQ_URL), run by
# `manage.py rqworker --job-class django_tasks_rq.Job default`, as many as wanted on any machine.
TASK_BACKEND = env("TASK_BACKEND", default="database")
# The queue the jobs go to (workers are started for it); two installations may share one Redis with two names.
JOB_QUEUE = env("JOB_QUEUE", default="default")
RQ_QUEUES = {
    JOB_QUEUE: {
        "URL": env("RQ_URL", default="redis://127.0.0.1:6379/0"),
        # An export of a province-year takes tens of minutes; RQ would kill it after its default 3 minutes.
        "DEFAULT_TIMEOUT": env.int("JOB_TIMEOUT_SECONDS", default=6 * 3600),
    }
}
if TASK_BACKEND == "rq":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [JOB_QUEUE]}}
elif TASK_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": [JOB_QUEUE]}}
else:
    raise ImproperlyConfigured(f"TASK_BACKEND must be 'database' or 'rq', not {TASK_BACKEND!r}")
JOBS = {
    # How long a finished job's file stays downloadable; `manage.py cleanup_expired_jobs` removes it afterwards.
    "result_hours": env.int("JOB_RESULT_HOURS", default=48),
}

# Redis when configured (shared by all app processes); per-process memory otherwise.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://nongji")}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agri.api.authentication.TokenAuthentication",  # knox's, in one query per request
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["agri.api.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "agri.api.filters.FilterBackend",  # django-filter's, which skips unfiltered queries
        "agri.api.filters.PrivateSearchFilter",  # DRF's, without the fields a reader is not shown
        "agri.api.filters.PrivateOrderingFilter",  # DRF's, without the fields a reader is not shown
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "agri.api.renderers.JSONRenderer",  # DRF's output, rendered by orjson
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # orjson with the nesting bounded; no parser lets a NUL character through (PostgreSQL's text refuses it).
    "DEFAULT_PARSER_CLASSES": [
        "agri.api.renderers.JSONParser",
        "agri.api.renderers.FormParser",
        "agri.api.renderers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "agri.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "api_docs.schema.AutoSchema",
    "EXCEPTION_HANDLER": "agri.api.exceptions.exception_handler",
    # Writes are throttled per account, not per IP: one village NAT must not slow its neighbours.
    "DEFAULT_THROTTLE_CLASSES": ["agri.api.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "login": env("THROTTLE_LOGIN", default="20/min"),
        # A phone back from weeks offline pushes visits in batches of 500 and photos one by one: 10/s is plenty.
        "write": env("THROTTLE_WRITE", default="600/min"),
    },
    # Client IP for throttles and login lockout: REMOTE_ADDR unless a reverse proxy is declared (production: 1),
    # so that a client cannot pick its own IP with X-Forwarded-For.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Sync pulls (agri.selectors.sync): the change log is kept this long (manage.py prune_changes); a token older
# than the retention less a day must start a first sync (400 sync_token_expired).
SYNC_RETENTION_DAYS = env.int("SYNC_RETENTION_DAYS", default=90)

REST_KNOX = {
    # A phone keeps working offline for weeks; each sync refreshes the expiry.
    "TOKEN_TTL": timedelta(days=env.int("TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": True,
    "TOKEN_LIMIT_PER_USER": env.int("TOKEN_LIMIT_PER_USER", default=20),
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    # ASCII: client generators make the package's name of it (nongji_api_client).
    "TITLE": "Nongji API",
    "DESCRIPTION": (
        "Nongji: the agricultural science-and-technology extension network of a Chinese county: stations, "
        "demonstration bases, experts, extension workers, model households and farmers.\n\n"
        "Authenticate with `POST /api/v1/auth/login/` and send `Authorization: Token <token>`. "
        'Errors share one shape: `{"code", "message", "fields"}`; the message follows '
        "`Accept-Language` (zh-hans or en). Coordinates are WGS-84."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "TargetStatusEnum": ["under", "met", "over"],
        "BaseStatusEnum": "agri.models.organizations.BaseStatus",
        "VisitFlagEnum": "agri.models.visits.VisitFlag.CODES",
        "PhotoFlagEnum": "agri.models.photos.PhotoFlag.CODES",
        "PolygonTypeEnum": ["Polygon"],
        "MultiPolygonTypeEnum": ["MultiPolygon"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api_docs.schema.add_enum_varnames",
        "api_docs.schema.translate_response_descriptions",
        "api_docs.schema.drop_codes_only_choice_lists",
        "api_docs.schema.translate_texts",
    ],
}

# The plan's ratios (专栏3). They are targets, not caps; override any of them from the environment.
NETWORK_TARGETS = {
    "experts_per_industry": env.int("TARGET_EXPERTS_PER_INDUSTRY", default=1),
    "workers_per_expert": env.int("TARGET_WORKERS_PER_EXPERT", default=10),
    "township_worker_share": env.float("TARGET_TOWNSHIP_WORKER_SHARE", default=0.7),
    "households_per_worker": env.int("TARGET_HOUSEHOLDS_PER_WORKER", default=10),
    "farmers_per_household": env.int("TARGET_FARMERS_PER_HOUSEHOLD", default=10),
    "bases_min": env.int("TARGET_BASES_MIN", default=3),
    "bases_max": env.int("TARGET_BASES_MAX", default=6),
    "field_schools_per_base": 1,
    "commissioners_min": env.int("TARGET_COMMISSIONERS_MIN", default=40),
    # Yearly service figures: 专栏3 sets no number, so the floors are the levels the plan's first chapter reports
    # (到村服务360余次, 技术培训60余场, 每年引进新品种40余个、新技术30余项).
    "village_visits_min": env.int("TARGET_VILLAGE_VISITS_MIN", default=360),
    "trainings_min": env.int("TARGET_TRAININGS_MIN", default=60),
    "new_varieties_min": env.int("TARGET_NEW_VARIETIES_MIN", default=40),
    "new_techniques_min": env.int("TARGET_NEW_TECHNIQUES_MIN", default=30),
}

DEMO_PASSWORD = env("DEMO_PASSWORD", default="nongji-demo-2026")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Masks phone and ID numbers that a database error or a library might quote (no code logs them on purpose).
    "formatters": {
        "plain": {
            "class": "backend.log_redaction.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # pyogrio logs every GIS file it writes at INFO.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "pyogrio": {"level": "WARNING"}},
}

# Visit checks: these flag a visit for review; they never reject it.
VISIT_CHECKS = {
    "max_target_distance_m": env.float("VISIT_MAX_TARGET_DISTANCE_M", default=3000.0),
    "max_accuracy_m": env.float("VISIT_MAX_ACCURACY_M", default=100.0),
    "clock_skew_minutes": env.int("VISIT_CLOCK_SKEW_MINUTES", default=10),
    "max_age_days": env.int("VISIT_MAX_AGE_DAYS", default=30),
}
# A sync batch is committed this many new visits at a time: when the database fails part-way, the chunks already
# committed stay stored and the rest are reported "failed" (retry later), never lost.
VISIT_SYNC_CHUNK_SIZE = env.int("VISIT_SYNC_CHUNK_SIZE", default=100)
# How often each process checks whether divisions changed (and its point-assignment index must be rebuilt).
DIVISION_INDEX_CHECK_SECONDS = env.float("DIVISION_INDEX_CHECK_SECONDS", default=5.0)

# Personal data: bureau viewers see coverage positions no finer than this H3 resolution (7: cells of ~5 km²).
# Households in coverage outputs stand at their cell's centre for them, and hexagons stop at this resolution.
COVERAGE_VIEWER_H3_RESOLUTION = env.int("COVERAGE_VIEWER_H3_RESOLUTION", default=7)

# Visit photos: upload limits, derivative sizes, and the evidence checks (these flag, never reject).
PHOTOS = {
    "max_bytes": env.int("PHOTO_MAX_BYTES", default=25 * 1024 * 1024),
    "max_pixels": env.int("PHOTO_MAX_PIXELS", default=60_000_000),
    "max_per_visit": env.int("PHOTO_MAX_PER_VISIT", default=100),
    # Memory one upload may take to decode (its bytes, the decoded pixels in Pillow's modes, the derivatives): a
    # photo over it is refused (422 image_too_large) before decoding. A process decodes at most
    # PHOTO_DECODE_CONCURRENCY photos at once; an upload that waits PHOTO_DECODE_WAIT_SECONDS for a turn gets 503.
    "max_decode_bytes": env.int("PHOTO_MAX_DECODE_BYTES", default=256 * 1024 * 1024),
    "decode_concurrency": env.int("PHOTO_DECODE_CONCURRENCY", default=1),
    "decode_wait_seconds": env.float("PHOTO_DECODE_WAIT_SECONDS", default=20.0),
    "display_px": 1600,
    "thumbnail_px": 320,
}
# Resumable photo uploads (tus 1.0, /api/v1/uploads/): an upload not finished this long after its last byte expires;
# per account, at most this many unfinished at once and this many bytes declared by them together.
PHOTO_UPLOADS = {
    "expiry_hours": env.float("PHOTO_UPLOAD_EXPIRY_HOURS", default=24.0),
    "max_open": env.int("PHOTO_UPLOAD_MAX_OPEN", default=20),
    "max_pending_bytes": env.int("PHOTO_UPLOAD_MAX_PENDING_BYTES", default=200 * 1024 * 1024),
    # On S3, received bytes are gathered into multipart parts of this size (S3's minimum part is 5 MiB).
    "s3_part_bytes": env.int("PHOTO_UPLOAD_S3_PART_BYTES", default=5 * 1024 * 1024),
}
PHOTO_CHECKS = {
    "max_visit_distance_m": env.float("PHOTO_MAX_VISIT_DISTANCE_M", default=1000.0),
    "max_time_gap_hours": env.float("PHOTO_MAX_TIME_GAP_HOURS", default=12.0),
    # Perceptual hashes (64 bits) at most this many bits apart count as the same picture.
    "near_duplicate_bits": env.int("PHOTO_NEAR_DUPLICATE_BITS", default=6),
}

# The bureau's web map (/map/, session login). No basemap by default: the county's own layers on a plain background,
# so the page asks nothing of any host but this server (intranets without internet). A basemap is any XYZ tile URL,
# e.g. an intranet tile server, Tianditu or OSM, with its attribution. Amap/Tencent tiles are GCJ-02: set
# MAP_CRS=gcj02 (or open /map/?crs=gcj02) and the page asks the API for GCJ-02 coordinates.
MAP_TILE_URL = env("MAP_TILE_URL", default="")
MAP_TILE_ATTRIBUTION = env("MAP_TILE_ATTRIBUTION", default="")
MAP_TILE_SUBDOMAINS = env("MAP_TILE_SUBDOMAINS", default="abc")
MAP_CRS = env("MAP_CRS", default="wgs84")
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/map/"
# GIS exports write GeoPackage/Shapefile this many rows at a time, so memory stays bounded.
EXPORT_CHUNK_ROWS = env.int("EXPORT_CHUNK_ROWS", default=5000)
# Where `manage.py backup` writes its archive when given no path.
BACKUP_DIR = env.path("BACKUP_DIR", default=BASE_DIR / "backups")
