"""``trevor-backend``'s subcommands: small Applications that act on their parent's configuration.

They live apart from :mod:`trevor_backend.app`, which holds the one Application and its traits;
the Application names them by import path, so this module depends on it and not the reverse.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from traitlets import Bool, TraitError, Unicode
from traitlets.config import Application

from . import db
from ._logging import configure_logging
from .app import COMMON_ALIASES, TrevorBackend
from .jobs import JobConfigError


class SubApp(Application):
    """A subcommand: merges its command line into the parent and runs :meth:`run`."""

    aliases = COMMON_ALIASES

    @property
    def trevor(self) -> TrevorBackend:
        app = self.parent
        while not isinstance(app, TrevorBackend):
            assert app is not None, "subcommand run without trevor-backend"
            app = app.parent
        return app

    def start(self) -> None:
        try:
            self.trevor.update_config(self.cli_config)
            self.trevor.load_config()
            configure_logging(self.trevor.log, json_lines=self.trevor.log_json)
            code = asyncio.run(self.run())
        except (TraitError, JobConfigError) as exc:
            # A configuration that cannot work stops the process with the reason, not a
            # traceback; a supervisor sees the exit status.
            self.trevor.log.critical("trevor-backend cannot start: %s", exc)
            self.exit(1)
        if code:
            self.exit(code)

    async def run(self) -> int:
        raise NotImplementedError


class GroupApp(Application):
    """A group of subcommands (db, token, audit): runs the one named, else lists them."""

    def start(self) -> None:
        if self.subapp is not None:
            self.subapp.start()
            return
        self.print_subcommands()
        self.exit(2)


class ServeApp(SubApp):
    description = "Serve the REST API and dashboard (the default)."

    async def run(self) -> int:
        await self.trevor.serve()
        return 0


class DbUpgradeApp(SubApp):
    description = "Apply database migrations."

    async def run(self) -> int:
        engine = db.make_engine(self.trevor.database_url)
        try:
            await db.upgrade(engine)
            print(f"database at revision {await db.current_revision(engine)}")
        finally:
            await engine.dispose()
        return 0


class DbApp(GroupApp):
    name = "trevor-backend db"
    description = "Database maintenance."
    subcommands = {"upgrade": (DbUpgradeApp, DbUpgradeApp.description)}


class SyncProjectsApp(SubApp):
    description = "Sync projects, users and memberships from a YAML file."

    async def run(self) -> int:
        from .errors import ValidationFailed
        from .principal import system
        from .services.projects import sync_projects

        if len(self.extra_args) != 1:
            print("usage: trevor-backend sync-projects FILE.yaml", file=sys.stderr)
            return 2
        source = self.trevor.project_source_class(self.extra_args[0], parent=self.trevor)
        try:
            spec = await source.load()
        except ValidationFailed as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            for err in exc.errors:
                print(f"  {err.pointer}: {err.detail}", file=sys.stderr)
            return 1
        backend = await self.trevor.make_backend()
        try:
            async with backend.ctx.sessions.begin() as session:
                report = await sync_projects(session, system("sync-projects"), spec)
        finally:
            await backend.close()
        print("\n".join(report.lines()))
        return 0


class TokenCreateApp(SubApp):
    description = "Create an API token for a user and print it (shown once)."

    async def run(self) -> int:
        from .auth import create_token
        from .services.projects import user_by_name

        if len(self.extra_args) != 1:
            print("usage: trevor-backend token create USERNAME", file=sys.stderr)
            return 2
        backend = await self.trevor.make_backend()
        try:
            async with backend.ctx.sessions.begin() as session:
                user = await user_by_name(session, self.extra_args[0])
                if user is None:
                    print(f"error: no user {self.extra_args[0]!r}", file=sys.stderr)
                    return 1
                print(await create_token(session, user, note="cli"))
        finally:
            await backend.close()
        return 0


class TokenListApp(SubApp):
    description = "List API tokens: a user's, or everyone's (never the secrets)."

    async def run(self) -> int:
        from .principal import system

        if len(self.extra_args) > 1:
            print("usage: trevor-backend token list [USERNAME]", file=sys.stderr)
            return 2
        who = self.extra_args[0] if self.extra_args else "*"
        backend = await self.trevor.make_backend()
        try:
            tokens = await backend.tokens.list(system("token-list"), who)
        finally:
            await backend.close()
        print("id\tuser\tprefix\tcreated_at\tlast_used_at\tnote")
        for t in tokens.items:
            last = t.last_used_at.isoformat() if t.last_used_at else "-"
            created = t.created_at.isoformat()
            print(f"{t.id}\t{t.user}\t{t.prefix}\t{created}\t{last}\t{t.note or ''}")
        return 0


class TokenRevokeApp(SubApp):
    description = "Revoke an API token by id (audited); it answers 401 at once everywhere."

    async def run(self) -> int:
        from .errors import NotFound
        from .principal import system

        if len(self.extra_args) != 1:
            print("usage: trevor-backend token revoke TOKEN_ID", file=sys.stderr)
            return 2
        backend = await self.trevor.make_backend()
        try:
            revoked = await backend.tokens.revoke(system("token-revoke"), self.extra_args[0])
        except NotFound:
            print(f"error: no token {self.extra_args[0]!r}", file=sys.stderr)
            return 1
        finally:
            await backend.close()
        print(f"revoked {revoked.id} ({revoked.prefix}…) of {revoked.user}")
        return 0


class TokenApp(GroupApp):
    name = "trevor-backend token"
    description = "API tokens."
    subcommands = {
        "create": (TokenCreateApp, TokenCreateApp.description),
        "list": (TokenListApp, TokenListApp.description),
        "revoke": (TokenRevokeApp, TokenRevokeApp.description),
    }


class AuditVerifyApp(SubApp):
    description = (
        "Verify the audit log's hash chain and keyed MACs (and, with --anchor FILE, that the "
        "log still holds the anchored head); exit 0 when it holds."
    )
    anchor = Unicode("", config=True, help="An anchor file written by `audit anchor`.")
    aliases = {**COMMON_ALIASES, "anchor": "AuditVerifyApp.anchor"}

    async def run(self) -> int:
        from .services import audit

        anchor = None
        if self.anchor:
            anchor = audit.Anchor.from_json(await asyncio.to_thread(Path(self.anchor).read_text))
        backend = await self.trevor.make_backend()
        try:
            async with backend.ctx.sessions() as session:
                result = await audit.verify(session, anchor=anchor)
        finally:
            await backend.close()
        if result.ok:
            print(
                f"audit log intact: {result.checked} events, {result.keyed} with keyed MACs"
                + (f", anchored head event {anchor.seq} present" if anchor else "")
            )
            return 0
        print(
            f"audit log BROKEN at event {result.bad_seq}: {result.reason} "
            f"({result.checked} events verified before it)",
            file=sys.stderr,
        )
        return 1


class AuditAnchorApp(SubApp):
    description = (
        "Print the audit chain's head as JSON (and write it to --output FILE): keep it outside "
        "the database to detect a truncated log with `audit verify --anchor FILE`."
    )
    output = Unicode("", config=True, help="Also write the anchor to this file.")
    aliases = {**COMMON_ALIASES, "output": "AuditAnchorApp.output"}

    async def run(self) -> int:
        from .services import audit

        backend = await self.trevor.make_backend()
        try:
            async with backend.ctx.sessions() as session:
                head = await audit.anchor(session)
        finally:
            await backend.close()
        if head is None:
            print("the audit log is empty: nothing to anchor", file=sys.stderr)
            return 1
        if self.output:
            await asyncio.to_thread(Path(self.output).write_text, head.to_json() + "\n")
        print(head.to_json())
        return 0


class AuditApp(GroupApp):
    name = "trevor-backend audit"
    description = "Audit log tools."
    subcommands = {
        "verify": (AuditVerifyApp, AuditVerifyApp.description),
        "anchor": (AuditAnchorApp, AuditAnchorApp.description),
    }


class ReconcileApp(SubApp):
    description = "Run the reconciler's jobs: until nothing is due (--once), or forever."

    once = Bool(False, config=True, help="Run passes until nothing is due, then exit.")
    flags = {"once": ({"ReconcileApp": {"once": True}}, "run until nothing is due, then exit")}

    async def run(self) -> int:
        backend = await self.trevor.make_backend()
        reconciler = self.trevor.make_reconciler(backend)
        try:
            if self.once:
                done = await reconciler.run_until_idle()
                print(f"reconciled: {done} items done")
                return 0
            reconciler.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            return 0
        finally:
            await reconciler.stop()
            await backend.close()


class DemoApp(SubApp):
    description = "Create the demo world (projects, users; tokens printed) and serve."

    async def run(self) -> int:
        from .demo import create_demo_world

        backend = await self.trevor.make_backend(migrate=True)
        try:
            tokens = await create_demo_world(backend)
        finally:
            await backend.close()
        path = Path(self.trevor.data_dir) / "demo-tokens.json"
        path.write_text(json.dumps(tokens, indent=2))
        os.chmod(path, 0o600)
        print(f"trevor-backend demo on {self.trevor.public_url}")
        for user, token in tokens.items():
            print(f"  {user:<8} {token}")
        print(f"(tokens also in {path})", flush=True)
        await self.trevor.serve()
        return 0
