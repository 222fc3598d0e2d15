"""``trevor-backend``: the traitlets Application and its configuration.

Shaped like JupyterHub: one Application holds every configurable trait (from
``trevor_backend_config.py``, ``TREVOR_*`` environment variables and the command line);
subcommands are small Applications in :mod:`trevor_backend.commands` that act on their parent's
configuration, named here by import path. The module is over 500 lines on purpose: most of it is
the declaration of each setting, once, with its help text — one place an operator reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
import signal
from dataclasses import fields
from pathlib import Path
from typing import Any

from traitlets import (
    Bool,
    Dict,
    Enum,
    Float,
    Int,
    List,
    TraitError,
    Type,
    Unicode,
    default,
    observe,
    validate,
)
from traitlets.config import Application
from traitlets.utils.bunch import Bunch

from . import allocator, db, tracing
from ._logging import configure_logging
from .auth import Authenticator, TokenAuthenticator
from .jobs import JobClass, JobConfigError, Reconciler, build_jobs
from .ratelimit import DatabaseBuckets, Limit, MemoryBuckets, RateLimiter
from .reads import make_reads
from .runtime import Backend
from .services.audit import AuditKeys
from .services.audit import install_keys as install_audit_keys
from .services.context import Context, Settings
from .services.projects import ProjectSource, YAMLProjectSource
from .storage import ObjectStore, store_from_url
from .version import __version__

COMMON_ALIASES = {
    "config": "TrevorBackend.config_file",
    "ip": "TrevorBackend.ip",
    "port": "TrevorBackend.port",
    "log-level": "Application.log_level",
}


class TrevorBackend(Application):
    name = "trevor-backend"
    description = "The jupyter-trevor review backend (REST API, reconciler, admin dashboard)."
    version = __version__

    aliases = COMMON_ALIASES
    flags = {
        "debug": ({"Application": {"log_level": logging.DEBUG}}, "debug logging"),
    }

    config_file = Unicode(
        "trevor_backend_config.py", config=True, help="The Python configuration file to load."
    )
    data_dir = Unicode(config=True, help="Where embedded state lives (env TREVOR_DATA_DIR).")
    database_url = Unicode(config=True, help="Database URL (env TREVOR_DATABASE_URL).")
    storage_url = Unicode(config=True, help="Object store URL (env TREVOR_STORAGE_URL).")
    ip = Unicode("127.0.0.1", config=True, help="Address to listen on.")
    port = Int(8585, config=True, help="Port to listen on (env TREVOR_PORT).")
    public_url = Unicode(config=True, help="The URL users reach the backend at.")
    secret_key = Unicode(
        config=True,
        help="Key for signed URLs (env TREVOR_SECRET_KEY); generated in the data dir if unset.",
    )
    lean_reads = Bool(
        True,
        config=True,
        help="Serve the hottest GETs (one request, the request list, the review queue) through "
        "the database's own driver instead of the ORM (docs/decisions.md, issue 10). Off: "
        "every read goes through SQLAlchemy. An in-memory SQLite database always does.",
    )
    read_pool_size = Int(
        10,
        config=True,
        help="PostgreSQL connections of the lean read path's own pool (per process).",
    )
    auto_migrate = Bool(
        config=True,
        help="Run database migrations at start. Default: on for SQLite, off otherwise "
        "(run `trevor-backend db upgrade` as a deployment step).",
    )
    authenticator_class = Type(
        TokenAuthenticator, klass=Authenticator, config=True, help="How callers are identified."
    )
    storage_class = Type(
        None,
        klass=ObjectStore,
        allow_none=True,
        config=True,
        help="Object store class; when unset the store is chosen by storage_url.",
    )
    project_source_class = Type(
        YAMLProjectSource, klass=ProjectSource, config=True, help="Where projects come from."
    )
    max_upload_size = Int(5 * 1024**3, config=True, help="Largest accepted object, in bytes.")
    max_body_size = Int(
        16 * 1024**2, config=True, help="Largest JSON request body, in bytes (uploads excepted)."
    )
    required_reviews = Int(2, config=True, help="Independent human reviews per revision.")
    sdc_params = Dict(config=True, help="Deployment-wide SDC parameters (SPEC §9 names).")
    rate_limit = Float(50.0, config=True, help="Sustained requests per second per caller; 0 off.")
    rate_burst = Int(200, config=True, help="Burst size for rate limiting.")
    rate_limit_callers = Dict(
        config=True,
        help="Per-caller limits instead of rate_limit/rate_burst, by username: "
        "{'ingest-bot': {'rate': 200, 'burst': 1000}}.",
    )
    rate_limit_routes = Dict(
        config=True,
        help="Extra limits per caller on one route, as in docs/openapi.json: "
        "{'POST /api/v1/requests/{rid}/objects': {'rate': 1, 'burst': 20}}.",
    )
    rate_limit_store = Enum(
        ["auto", "database", "memory"],
        "auto",
        config=True,
        help="Where token buckets live: 'database' is shared by every replica; 'memory' is per "
        "process; 'auto' is the database on PostgreSQL and memory on SQLite.",
    )
    log_json = Bool(False, config=True, help="Structured JSON log lines (env TREVOR_LOG_JSON=1).")
    tracing_enabled = Bool(
        config=True,
        help="OpenTelemetry traces over OTLP/HTTP (env TREVOR_TRACING=1; the exporter reads the "
        "OTEL_EXPORTER_OTLP_* variables; needs jupyter-trevor[tracing]).",
    )
    tracing_service_name = Unicode(
        "trevor-backend", config=True, help="The service.name of this backend's spans."
    )
    # --- reconciler and review (docs/review-workflow.md) ------------------------------------
    reconciler_enabled = Bool(
        True, config=True, help="Run the reconciler (background jobs) in this serving process."
    )
    reconcile_interval = Float(
        2.0, config=True, help="Seconds between reconciler passes when nothing was due."
    )
    lease_seconds = Float(
        60.0,
        config=True,
        help="Seconds a reconciler holds claimed work; a process that dies leaves the work to "
        "others once its lease has run out.",
    )
    reconciler_jobs = List(
        JobClass(),
        [
            "trevor_backend.services.agent.AgentReviewJob",
            "trevor_backend.services.notifications.outbox.DispatchJob",
            "trevor_backend.services.notifications.outbox.OutboxJob",
            "trevor_backend.services.release_job.ReleaseJob",
            "trevor_backend.services.sla.ExpiryWarningJob",
            "trevor_backend.services.sla.StuckRequestJob",
            "trevor_backend.services.sweep.StoreSweepJob",
        ],
        config=True,
        help="The reconciler's jobs (Job subclasses, by import path), run in this order; one "
        "that cannot be imported or is not a Job stops the start (see trevor_backend/jobs).",
    )
    narrative_class = Type(
        None,
        klass="trevor_backend.services.narrative.Narrative",
        allow_none=True,
        config=True,
        help="Optional LLM narrative of the agent report (e.g. "
        "trevor_backend.services.narrative.OpenAIChatNarrative); off when unset.",
    )
    # --- previews and notifications (docs/previews.md, docs/notifications.md) ------------
    preview_max_bytes = Int(
        20 * 1024**2, config=True, help="Objects larger than this get a metadata-only preview."
    )
    notifier_classes = List(
        Type(klass="trevor_backend.services.notifications.channels.Notifier"),
        [],
        config=True,
        help="Notification channels besides the in-app list (EmailNotifier, WebhookNotifier); "
        "each is configured under its own class name.",
    )
    outbox_max_attempts = Int(
        8, config=True, help="Delivery attempts per outgoing message before it is given up."
    )
    outbox_backoff = Float(
        30.0,
        config=True,
        help="Seconds before the first retry of a failed message; doubles per attempt.",
    )
    outbox_lease = Float(
        None,
        allow_none=True,
        config=True,
        help="Deprecated: use lease_seconds, the one lease of every background job.",
    )
    events_poll_interval = Float(
        1.0, config=True, help="Seconds between database polls of each live event stream."
    )
    events_heartbeat = Float(
        15.0, config=True, help="Seconds of silence after which an event stream sends a comment."
    )
    # --- the keyed audit chain (docs/audit.md) ---------------------------------------------
    audit_key = Unicode(
        config=True,
        help="Key of the audit chain's HMACs (env TREVOR_AUDIT_KEY); keep it outside the "
        "database. Generated in the data dir (audit.key) if unset.",
    )
    audit_key_id = Unicode(
        config=True,
        help="Id recorded with each event signed by audit_key (default: derived from the key).",
    )
    audit_previous_keys = Dict(
        config=True,
        help="Retired audit keys by id, kept to verify the events they signed (env "
        "TREVOR_AUDIT_PREVIOUS_KEYS='id:key,id:key').",
    )
    # --- release and ingress (docs/release.md, docs/ingress.md) ---------------------------
    crate_names_checkers = Bool(
        False,
        config=True,
        help="Name the output checkers in released RO-Crates; by default they appear as "
        "'checker 1', 'checker 2', as researchers see them (docs/audit.md).",
    )
    release_url_lifetime = Int(
        7 * 24 * 3600,
        config=True,
        help="Seconds a release download URL stays valid (S3 allows at most 7 days).",
    )
    release_expiry_warning = Int(
        24 * 3600,
        config=True,
        help="Warn the researcher once when their download URL expires within this many seconds.",
    )
    release_max_attempts = Int(
        3,
        config=True,
        help="Packaging attempts before a release waits for an admin (a checksum mismatch "
        "stops at once).",
    )
    release_lease = Int(
        None,
        allow_none=True,
        config=True,
        help="Deprecated: use lease_seconds, the one lease of every background job.",
    )
    stuck_request_sla = Int(
        3 * 24 * 3600,
        config=True,
        help="Seconds a request may wait in SUBMITTED/AGENT_REVIEW/HUMAN_REVIEW before admins "
        "are alerted (once per state).",
    )
    ingress_upload_url_lifetime = Int(
        24 * 3600, config=True, help="Seconds an ingress upload URL stays valid."
    )

    @default("data_dir")
    def _data_dir_default(self) -> str:
        return os.path.abspath(os.environ.get("TREVOR_DATA_DIR", "trevor-data"))

    @default("database_url")
    def _database_url_default(self) -> str:
        return os.environ.get("TREVOR_DATABASE_URL") or (
            f"sqlite:///{Path(self.data_dir) / 'trevor.sqlite'}"
        )

    @default("storage_url")
    def _storage_url_default(self) -> str:
        return os.environ.get("TREVOR_STORAGE_URL") or (Path(self.data_dir) / "objects").as_uri()

    @default("port")
    def _port_default(self) -> int:
        return int(os.environ.get("TREVOR_PORT", "8585"))

    @default("public_url")
    def _public_url_default(self) -> str:
        return os.environ.get("TREVOR_PUBLIC_URL") or f"http://{self.ip}:{self.port}"

    @default("auto_migrate")
    def _auto_migrate_default(self) -> bool:
        return self.database_url.startswith("sqlite")

    @default("tracing_enabled")
    def _tracing_default(self) -> bool:
        return os.environ.get("TREVOR_TRACING", "") not in ("", "0", "false")

    @default("log_json")
    def _log_json_default(self) -> bool:
        return os.environ.get("TREVOR_LOG_JSON", "") not in ("", "0", "false")

    @default("audit_key")
    def _audit_key_default(self) -> str:
        if env := os.environ.get("TREVOR_AUDIT_KEY"):
            return env
        path = Path(self.data_dir) / "audit.key"
        if not path.exists():
            # Written whole, then linked into place: processes sharing the data dir all end up
            # with the one key, and none reads a half-written file.
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"audit.key.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
            tmp.unlink()
        return path.read_text().strip()

    @default("audit_key_id")
    def _audit_key_id_default(self) -> str:
        # A fingerprint: 48 bits of a hash say which key signed, nothing about the key.
        return hashlib.sha256(b"trevor-audit-key-id\n" + self.audit_key.encode()).hexdigest()[:12]

    @default("audit_previous_keys")
    def _audit_previous_keys_default(self) -> dict[str, str]:
        raw = os.environ.get("TREVOR_AUDIT_PREVIOUS_KEYS", "")
        pairs = (item.split(":", 1) for item in raw.split(",") if ":" in item)
        return {kid.strip(): key.strip() for kid, key in pairs}

    def audit_keys(self) -> AuditKeys:
        keys = {kid: key.encode() for kid, key in self.audit_previous_keys.items()}
        keys[self.audit_key_id] = self.audit_key.encode()
        return AuditKeys(self.audit_key_id, keys)

    @default("secret_key")
    def _secret_key_default(self) -> str:
        if env := os.environ.get("TREVOR_SECRET_KEY"):
            return env
        path = Path(self.data_dir) / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip()

    @validate(
        "release_url_lifetime",
        "release_expiry_warning",
        "release_max_attempts",
        "stuck_request_sla",
        "ingress_upload_url_lifetime",
    )
    def _check_positive(self, proposal: Bunch) -> int:
        value: int = proposal["value"]
        if value < 1:
            raise ValueError(f"{proposal['trait'].name} must be at least 1")
        return value

    @validate("reconcile_interval", "lease_seconds", "outbox_lease", "release_lease")
    def _check_reconciler_times(self, proposal: Bunch) -> float | None:
        seconds: float | None = proposal["value"]
        if seconds is not None and seconds <= 0:
            raise ValueError(f"{proposal['trait'].name} must be positive")
        return seconds

    @validate("sdc_params")
    def _check_sdc_params(self, proposal: Bunch) -> dict[str, Any]:
        from .sdc.params import Params

        params: dict[str, Any] = proposal["value"]
        # Fail at start, naming the bad key, rather than on the first request that uses them.
        Params.from_mapping(params)
        return params

    @validate("rate_limit_callers", "rate_limit_routes")
    def _check_rate_limits(self, proposal: Bunch) -> dict[str, Any]:
        # Fail at start, naming the bad entry, not on the first request it would limit.
        name = proposal["trait"].name
        limits: dict[str, Any] = proposal["value"]
        try:
            RateLimiter(MemoryBuckets(), None, **{name.removeprefix("rate_limit_"): limits})
        except ValueError as exc:
            raise TraitError(str(exc)) from exc
        return limits

    @validate("required_reviews")
    def _check_reviews(self, proposal: Bunch) -> int:
        reviews: int = proposal["value"]
        if reviews < 1:
            raise ValueError("required_reviews must be at least 1")
        return reviews

    # --- building the backend ----------------------------------------------------------

    def load_config(self) -> None:
        path = Path(self.config_file)
        if path.exists():
            self.load_config_file(path.name, path=str(path.parent.resolve()))
        elif "config_file" in self.config.get("TrevorBackend", {}):
            self.log.critical("config file %s not found", path)
            self.exit(1)

    def settings(self) -> Settings:
        """The services' settings, each from the trait of its name (defined once, above)."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(Settings)}
        values["sdc_params"] = dict(self.sdc_params)
        values["secret_key"] = self.secret_key.encode()
        values["public_url"] = self.public_url.rstrip("/")
        return Settings(**values)

    def make_store(self) -> ObjectStore:
        if self.storage_class is not None:
            return self.storage_class(parent=self)
        return store_from_url(self.storage_url, parent=self)

    async def make_backend(self, *, migrate: bool | None = None) -> Backend:
        engine = db.make_engine(self.database_url)
        install_audit_keys(engine, self.audit_keys())
        if self.tracing_enabled:
            tracing.setup(service_name=self.tracing_service_name)
            tracing.instrument_engine(engine)
        if self.auto_migrate if migrate is None else migrate:
            await db.upgrade(engine)
        elif await db.current_revision(engine) != db.head_revision():
            await engine.dispose()
            raise SystemExit(
                "the database schema is not up to date: run `trevor-backend db upgrade`"
            )
        ctx = Context(
            engine=engine,
            sessions=db.session_factory(engine),
            store=self.make_store(),
            settings=self.settings(),
            notifiers=[cls(parent=self) for cls in self.notifier_classes],
            reads=make_reads(self.database_url, pool_size=self.read_pool_size)
            if self.lean_reads
            else None,
        )
        return Backend(
            ctx=ctx,
            authenticator=self.authenticator_class(parent=self),
            rate_limiter=self.make_rate_limiter(ctx),
        )

    def make_rate_limiter(self, ctx: Context) -> RateLimiter | None:
        default = Limit(self.rate_limit, self.rate_burst) if self.rate_limit > 0 else None
        if default is None and not self.rate_limit_callers and not self.rate_limit_routes:
            return None
        store = self.rate_limit_store
        if store == "auto":
            store = "memory" if db.is_sqlite(ctx.engine) else "database"
        buckets = DatabaseBuckets(ctx.engine, ctx.sessions) if store == "database" else None
        return RateLimiter(
            buckets or MemoryBuckets(),
            default,
            callers=dict(self.rate_limit_callers),
            routes=dict(self.rate_limit_routes),
        )

    @observe("outbox_lease", "release_lease")
    def _deprecated_lease(self, change: Any) -> None:
        self.log.warning(
            "TrevorBackend.%s is deprecated: every background job now holds its work for "
            "TrevorBackend.lease_seconds and renews it while it works",
            change["name"],
        )

    def job_lease(self) -> float:
        """``lease_seconds``; while only the deprecated per-job leases are configured, the
        longest of them (a longer lease only delays the takeover after a crash, a shorter one
        could cut an email or webhook send short)."""
        old = [v for v in (self.outbox_lease, self.release_lease) if v is not None]
        if old and "lease_seconds" not in self.config.get("TrevorBackend", {}):
            return float(max(old))
        return self.lease_seconds

    def make_reconciler(self, backend: Backend) -> Reconciler:
        """The background jobs of this process, over ``backend``'s context."""
        return Reconciler(
            backend.ctx,
            build_jobs(self.reconciler_jobs, parent=self),
            interval=self.reconcile_interval,
            lease_seconds=self.job_lease(),
            app=self,
        )

    # --- serving ----------------------------------------------------------------------

    async def serve(self, *, ready: Any = None) -> None:
        from .web import make_app, make_server

        backend = await self.make_backend()
        app = make_app(backend)
        # Streamed uploads churn through large buffers (see allocator.py).
        self.log.debug("malloc settings: %s", allocator.keep_freed_memory() or "unchanged")
        server = make_server(
            app, xheaders=True, max_body_size=self.max_body_size, idle_connection_timeout=300
        )
        # Jobs are built before listening: one that cannot be built stops the start.
        try:
            reconciler = self.make_reconciler(backend) if self.reconciler_enabled else None
        except JobConfigError:
            await backend.close()
            raise
        self.log.debug("froze %d startup objects", allocator.freeze_startup_heap())
        server.listen(self.port, self.ip)
        self.log.info("trevor-backend listening on http://%s:%s", self.ip, self.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if reconciler is not None:
            reconciler.start()
        if ready is not None:
            ready(backend)
        try:
            await stop.wait()
        finally:
            self.log.info("shutting down")
            server.stop()
            if reconciler is not None:
                await reconciler.stop()
            await server.close_all_connections()
            await backend.close()
            tracing.shutdown()  # flushes the spans not yet exported

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if self.subapp is None:
            self.load_config()
            configure_logging(self.log, json_lines=self.log_json)

    def start(self) -> None:
        if self.subapp is not None:
            self.subapp.start()
            return
        asyncio.run(self.serve())


TrevorBackend.subcommands = {
    name: (f"trevor_backend.commands.{cls}", description)
    for name, cls, description in (
        ("serve", "ServeApp", "Serve the REST API and dashboard (the default)."),
        ("demo", "DemoApp", "Create the demo world (projects, users; tokens printed) and serve."),
        ("db", "DbApp", "Database maintenance."),
        (
            "sync-projects",
            "SyncProjectsApp",
            "Sync projects, users and memberships from a YAML file.",
        ),
        ("token", "TokenApp", "API tokens."),
        ("audit", "AuditApp", "Audit log tools."),
        (
            "reconcile",
            "ReconcileApp",
            "Run the reconciler's jobs: until nothing is due (--once), or forever.",
        ),
    )
}


def main(argv: list[str] | None = None) -> None:
    TrevorBackend.launch_instance(argv)


if __name__ == "__main__":
    # Run the importable module's Application, not this __main__ copy: the subcommands check
    # their parent against trevor_backend.app.TrevorBackend.
    from trevor_backend.app import main as _main

    _main()
