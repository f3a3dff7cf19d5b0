"""Django settings: everything deployment-specific comes from the environment.

See docs/DEPLOY.md for the variables. Unset variables give a working single-machine
setup under SR_DATA_DIR (default ./var); bad values raise ImproperlyConfigured.
"""

from __future__ import annotations

import secrets
import warnings
from pathlib import Path

import dj_database_url
from channels_redis.core import RedisChannelLayer
from django.core.exceptions import ImproperlyConfigured

from webapp.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_path,
    env_str,
    env_url,
    is_placeholder_password,
    is_public_deployment,
    redis_url_for_celery,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("SR_DATA_DIR", BASE_DIR / "var")
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "static")
DEBUG = env_bool("DEBUG", False)
# `make run` has no nginx in front: serve /static/ from the app unless told not to.
SR_SERVE_STATIC = env_bool("SR_SERVE_STATIC", True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data dir."""
    key = env_str("SECRET_KEY")
    if key is not None:
        if len(key) < 32:
            raise ImproperlyConfigured("SECRET_KEY: must be at least 32 characters")
        if "change-me" in key:
            raise ImproperlyConfigured("SECRET_KEY: still the placeholder from env.example")
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)  # database, key, uploads
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind nginx (deploy/): trust its X-Forwarded-Proto to know the request was HTTPS.
if env_bool("SR_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SR_SECURE_COOKIES", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "webapp.accounts",
    "webapp.jobs",
    "webapp.images",
    "webapp.api",
    "webapp.training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if SR_SERVE_STATIC else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.middleware.ServiceErrorMiddleware",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- database: PostgreSQL from DATABASE_URL, else SQLite in the data dir ---------------
_db_url = env_url("DATABASE_URL", ("postgres", "postgresql", "sqlite"))
if _db_url:
    DATABASES = {"default": dj_database_url.parse(_db_url, conn_max_age=60)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                             "NAME": DATA_DIR / "db.sqlite3"}}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The web process and the worker write the same file: WAL lets readers run beside the
    # writer, IMMEDIATE transactions and a timeout turn lock contention into short waits.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE",
         "timeout": 20})
    # A file (not :memory:) so the real Celery worker in the tests sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: broker and channel layer. Unset means "none configured" (webapp.run starts a
# private server and sets REDIS_URL for its children; tests do the same). --------------
REDIS_URL = env_url("REDIS_URL", ("redis", "rediss", "unix"))


def channel_layers(redis_url: str | None) -> dict:
    """The channel layer's receive is a blocking BZPOPMIN of `brpop_timeout` (5 s) seconds;
    redis-py's default socket timeout is also 5 s, so an idle socket's read timed out and
    the consumer died with 1011. The socket timeout must clearly exceed the blocking read."""
    if not redis_url:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    read_timeout = RedisChannelLayer.brpop_timeout * 3
    host = {"address": redis_url, "socket_timeout": read_timeout, "socket_connect_timeout": 5}
    return {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                        "CONFIG": {"hosts": [host], "expiry": 30}}}


CHANNEL_LAYERS = channel_layers(REDIS_URL)
# Job sockets send {"type": "keepalive"} after this many quiet seconds.
SR_WS_KEEPALIVE_SECONDS = env_int("SR_WS_KEEPALIVE_SECONDS", 20, minimum=1)

CELERY_BROKER_URL = redis_url_for_celery(REDIS_URL) if REDIS_URL else "memory://"
CELERY_RESULT_BACKEND = None  # results live on the Job row, not in Celery
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"webapp.jobs.tasks.job_run_task": {"queue": "gpu"}}
# A job that runs past the hard limit is killed and marked failed (see jobs.tasks).
SR_JOB_SOFT_TIME_LIMIT = env_int("SR_JOB_TIME_LIMIT", 3600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = SR_JOB_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = SR_JOB_SOFT_TIME_LIMIT + 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": SR_JOB_SOFT_TIME_LIMIT + 600}
# Delivery (docs/RELIABILITY.md): a job whose worker died runs again until it has had this
# many tries; a running job is touched every SR_JOB_HEARTBEAT_SECONDS and counts as lost
# after SR_JOB_STALE_SECONDS of silence; the reconciler sweeps every SR_SWEEP_SECONDS and
# republishes a queued job with no message in the broker SR_QUEUE_GRACE_SECONDS after it
# was last published.
SR_JOB_MAX_ATTEMPTS = env_int("SR_JOB_MAX_ATTEMPTS", 2, minimum=1)
SR_JOB_HEARTBEAT_SECONDS = env_int("SR_JOB_HEARTBEAT_SECONDS", 5, minimum=1)
SR_JOB_STALE_SECONDS = env_int("SR_JOB_STALE_SECONDS", 30, minimum=3)
SR_SWEEP_SECONDS = env_int("SR_SWEEP_SECONDS", 5, minimum=1)
SR_QUEUE_GRACE_SECONDS = env_int("SR_QUEUE_GRACE_SECONDS", 15, minimum=1)
if SR_JOB_STALE_SECONDS < 3 * SR_JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("SR_JOB_STALE_SECONDS must be at least 3x "
                               "SR_JOB_HEARTBEAT_SECONDS, or live jobs look lost")

# --- uploads and the engine ------------------------------------------------------------
SR_MAX_UPLOAD_BYTES = env_int("SR_MAX_UPLOAD_BYTES", 50 * 1024 * 1024, minimum=1024)
SR_MAX_PIXELS = env_int("SR_MAX_PIXELS", 40_000_000, minimum=64)
SR_MAX_FILES = env_int("SR_MAX_FILES", 20, minimum=1)
# An upscale whose output would be larger is refused before it is queued (400).
SR_MAX_OUTPUT_PIXELS = env_int("SR_MAX_OUTPUT_PIXELS", 64_000_000, minimum=64)
# Videos (.mp4, .m4v, .mov, .mkv, .webm) are probed at upload and refused there (400) when
# over these: bytes, seconds, frames, pixels per input frame (the declared size), pixels per
# upscaled frame. SR_VIDEO_CRF is the encoder's quality (lower is better, 18 ~ transparent).
# A video job keeps a finished segment every SR_VIDEO_SEGMENT_SECONDS of work (the most a
# worker crash loses: the rerun resumes after it; each segment starts with a keyframe), and
# its page shows the newest segment's first frame, looked for every SR_VIDEO_PREVIEW_SECONDS.
SR_MAX_VIDEO_BYTES = env_int("SR_MAX_VIDEO_BYTES", 190 * 1024 * 1024, minimum=1024)
SR_MAX_VIDEO_SECONDS = env_int("SR_MAX_VIDEO_SECONDS", 600, minimum=1)
SR_MAX_VIDEO_FRAMES = env_int("SR_MAX_VIDEO_FRAMES", 36_000, minimum=1)
SR_MAX_VIDEO_PIXELS = env_int("SR_MAX_VIDEO_PIXELS", 1920 * 1080, minimum=64)
SR_MAX_VIDEO_OUTPUT_PIXELS = env_int("SR_MAX_VIDEO_OUTPUT_PIXELS", 3840 * 2160, minimum=64)
SR_VIDEO_CRF = env_int("SR_VIDEO_CRF", 18, minimum=0)
SR_VIDEO_SEGMENT_SECONDS = env_int("SR_VIDEO_SEGMENT_SECONDS", 10, minimum=1)
SR_VIDEO_PREVIEW_SECONDS = env_int("SR_VIDEO_PREVIEW_SECONDS", 5, minimum=1)
SR_DEVICE = env_str("SR_DEVICE", "auto")
if SR_DEVICE not in ("auto", "cpu", "cuda"):
    raise ImproperlyConfigured(f"SR_DEVICE={SR_DEVICE!r}: expected auto, cpu or cuda")
# LR tile edge: "auto" (the whole image, or the largest tiles that fit the engine's
# SR_ENGINE_TILE_MEMORY_MB), 0 (never tile) or a number of pixels.
SR_TILE: int | str = ("auto" if env_str("SR_TILE", "auto") in ("auto", "")
                       else env_int("SR_TILE", 0))
# The self-check (PSNR/SSIM without a reference) runs on the upload's central crop of this
# edge, so it costs the same for any upload size (0: the whole image).
SR_SELF_CHECK_CROP = env_int("SR_SELF_CHECK_CROP", 256, minimum=0)
# NIQE (no-reference, lower is better) of every image output runs on its central crop of this
# edge (0: the whole output; values under 192 count as 192, the least it means anything on).
SR_NIQE_CROP = env_int("SR_NIQE_CROP", 1024, minimum=0)
# Per-user limits (0: none): jobs queued or running and bytes stored (429 at submission),
# jobs running at once (workers leave the rest queued).
SR_USER_MAX_ACTIVE_JOBS = env_int("SR_USER_MAX_ACTIVE_JOBS", 100, minimum=0)
SR_USER_MAX_RUNNING_JOBS = env_int("SR_USER_MAX_RUNNING_JOBS", 2, minimum=0)
SR_USER_MAX_BYTES = env_int("SR_USER_MAX_BYTES", 10 * 1024**3, minimum=0)
# Days after which `manage.py prune_uploads` deletes uploads (0: only with --days).
SR_UPLOAD_RETENTION_DAYS = env_int("SR_UPLOAD_RETENTION_DAYS", 0, minimum=0)
# Bodies are refused before they are read (webapp/guard.py): over this size (dataset archive
# routes: SR_DATASET_MAX_ARCHIVE_BYTES), or over SR_ANONYMOUS_BODY_BYTES without a login.
SR_MAX_REQUEST_BYTES = env_int("SR_MAX_REQUEST_BYTES", 200 * 1024 * 1024, minimum=1024)
SR_ANONYMOUS_BODY_BYTES = env_int("SR_ANONYMOUS_BODY_BYTES", 64 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # form fields; files stream to temp files
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = SR_MAX_FILES + 1  # + the optional reference

# --- training studio: datasets (uploaded archives, or server folders under an allow-list) ---
_shared_data = BASE_DIR.parent / "shared" / "data"
SR_DATASET_ROOTS = [Path(p).expanduser().resolve() for p in env_list(
    "SR_DATASET_ROOTS", [str(_shared_data)] if _shared_data.is_dir() else [])]
SR_DATASET_MAX_BYTES = env_int("SR_DATASET_MAX_BYTES", 2 * 1024**3, minimum=1024)
SR_DATASET_MAX_FILES = env_int("SR_DATASET_MAX_FILES", 5000, minimum=1)
SR_DATASET_MAX_ARCHIVE_BYTES = env_int("SR_DATASET_MAX_ARCHIVE_BYTES", 1024**3, minimum=1024)
# Queues a training or evaluation job may be sent to (the first is the default).
SR_TRAIN_QUEUES = env_list("SR_TRAIN_QUEUES", ["gpu", "default"])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Media never gets a public URL: files are served by views that check ownership or a share link.
# Static files: WhiteNoise serves what the finders see (no collectstatic needed for `make run`);
# only files it indexed at start-up exist for it, so a crafted path is a plain 404.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False
# ...and STATIC_ROOT exists only after collectstatic (deployments), so do not warn about it.
warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}


# --- security and abuse limits ---------------------------------------------------------
def _refuse_placeholder_passwords() -> None:
    """A public deployment must not start with env.example's placeholders or a well-known
    password; local use (DEBUG, or only local hosts) may keep its throwaway ones."""
    passwords = {"DATABASE_URL": DATABASES["default"].get("PASSWORD"),
                 "POSTGRES_PASSWORD": env_str("POSTGRES_PASSWORD")}
    for name, password in passwords.items():
        if password and is_placeholder_password(password):
            raise ImproperlyConfigured(
                f"{name}: the database password is a placeholder or a well-known default; "
                "set a strong one")


if is_public_deployment(DEBUG, ALLOWED_HOSTS):
    _refuse_placeholder_passwords()

# HTTPS: off by default because `make run` serves plain HTTP on 127.0.0.1; env.example has
# the production values. Health probes (compose healthcheck, monitors) come over plain HTTP.
SECURE_SSL_REDIRECT = env_bool("SR_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SR_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SR_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SR_HSTS_PRELOAD", False)

# Sign-up: open to anyone, closed (staff create accounts), or with an invite code.
SR_SIGNUP = env_choice("SR_SIGNUP", ("open", "closed", "invite"), "closed")
# Failed log-ins per username and per client address before the login form answers 429.
SR_LOGIN_MAX_FAILURES = env_int("SR_LOGIN_MAX_FAILURES", 5, minimum=1)
SR_LOGIN_WINDOW_SECONDS = env_int("SR_LOGIN_WINDOW_SECONDS", 15 * 60, minimum=1)
# Behind nginx every request comes from 127.0.0.1: the client is the address nginx appended
# to X-Forwarded-For.
SR_BEHIND_PROXY = env_bool("SR_BEHIND_PROXY", False)
# The throttle's counters must be shared by all web processes: Redis when there is one.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "sr-studio"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Uploads and results are the service user's alone (the entry points also set umask 077).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Static files are public and nginx (another user) serves them: not the private modes above.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
                    "OPTIONS": {"file_permissions_mode": 0o644,
                                "directory_permissions_mode": 0o755}},
}
