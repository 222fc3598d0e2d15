"""A read path below the ORM for the hottest GETs (one request, the request list, the review
queue): the database's own driver, plain SQL and JSON built from rows (issue 10). The rules
(who sees what, which actions, verdicts) stay in the services, which call this."""

from .driver import PostgresReads, ReadDriver, Reader, SqliteReads, make_reads

__all__ = ["PostgresReads", "ReadDriver", "Reader", "SqliteReads", "make_reads"]
