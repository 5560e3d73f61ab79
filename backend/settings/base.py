"""Settings shared by every environment. Everything that differs between machines comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
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
    "geo",
    "agri",
    "api_docs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "agri.User"
KNOX_TOKEN_MODEL = "agri.DeviceToken"
# knox's own migrations create its AuthToken table even when the model is swapped for ours; that
# orphan table would reference agri_user and block TRUNCATE. knox has no other models to migrate.
MIGRATION_MODULES = {"knox": None}

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
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Without collectstatic (development, tests) WhiteNoise finds files in the apps; production runs collectstatic.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# Files go through STORAGES (local filesystem by default).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Redis when configured (shared by all app processes); per-process memory otherwise.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://nongji")}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["agri.api.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "agri.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "api_docs.schema.AutoSchema",
    "EXCEPTION_HANDLER": "agri.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env("THROTTLE_LOGIN", default="20/min"),
    },
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

REST_KNOX = {
    # A phone keeps working offline for weeks; each sync refreshes the expiry.
    "TOKEN_TTL": timedelta(days=env.int("TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": True,
    "TOKEN_LIMIT_PER_USER": env.int("TOKEN_LIMIT_PER_USER", default=20),
    "AUTH_HEADER_PREFIX": "Token",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Nongji 农技 API",
    "DESCRIPTION": (
        "Agricultural science-and-technology extension network of a Chinese county: stations, "
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
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums"],
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
}

DEMO_PASSWORD = env("DEMO_PASSWORD", default="nongji-demo-2026")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Visit checks: these flag a visit for review; they never reject it.
VISIT_CHECKS = {
    "max_target_distance_m": env.float("VISIT_MAX_TARGET_DISTANCE_M", default=3000.0),
    "max_accuracy_m": env.float("VISIT_MAX_ACCURACY_M", default=100.0),
    "clock_skew_minutes": env.int("VISIT_CLOCK_SKEW_MINUTES", default=10),
    "max_age_days": env.int("VISIT_MAX_AGE_DAYS", default=30),
}
# How often each process checks whether divisions changed (and its point-assignment index must be rebuilt).
DIVISION_INDEX_CHECK_SECONDS = env.float("DIVISION_INDEX_CHECK_SECONDS", default=5.0)
