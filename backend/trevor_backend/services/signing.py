"""HMAC-signed backend URLs for stores that cannot pre-sign (the local directory store).

A link names what it grants (``purpose`` and an id) and until when (``expires``, Unix
seconds); the signature is HMAC-SHA256 over exactly those, keyed with ``Settings.secret_key``.
Nothing is stored: any replica sharing the key can check a link, and an altered id, purpose or
expiry breaks the signature. Comparison is constant-time so the signature cannot be guessed
byte by byte from response timings.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import urllib.parse
from datetime import UTC, datetime

from ..errors import Forbidden

DOWNLOAD = "release-download"
UPLOAD = "ingress-upload"
# ASCII digits only: str.isdigit() also accepts superscripts such as "³", which int() refuses.
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _message(purpose: str, ident: str, expires: int) -> bytes:
    # Newline-separated: neither purposes, ids (route-restricted to [A-Za-z0-9_-]) nor
    # integers contain one, so two different triples never share a message.
    return f"{purpose}\n{ident}\n{expires}".encode()


def signature(secret: bytes, purpose: str, ident: str, expires: int) -> str:
    if not secret:
        raise RuntimeError("no secret key configured for signed URLs")
    return hmac.new(secret, _message(purpose, ident, expires), hashlib.sha256).hexdigest()


def signed_url(
    base_url: str, path: str, secret: bytes, purpose: str, ident: str, expires_at: datetime
) -> str:
    expires = int(expires_at.timestamp())
    query = urllib.parse.urlencode(
        {"expires": expires, "signature": signature(secret, purpose, ident, expires)}
    )
    return f"{base_url.rstrip('/')}{path}?{query}"


def verify(
    secret: bytes,
    purpose: str,
    ident: str,
    expires: str | None,
    sig: str | None,
    *,
    now: float | None = None,
) -> datetime:
    """Return the link's expiry, or raise ``Forbidden`` (403) for an altered or expired link.

    The signature is checked before the expiry so that the answer for a forged link never
    depends on the expiry it claims."""
    if not expires or not sig or not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(sig):
        raise Forbidden("this link is not valid (missing or malformed signature)")
    want = signature(secret, purpose, ident, int(expires))
    if not hmac.compare_digest(want.encode(), sig.encode()):
        raise Forbidden("this link is not valid (signature mismatch)")
    if int(expires) <= (time.time() if now is None else now):
        raise Forbidden("this link has expired; ask for a new one")
    return datetime.fromtimestamp(int(expires), UTC)
