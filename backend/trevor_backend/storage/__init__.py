"""Object storage for uploaded and released objects: a local directory or S3.

``store_from_url`` turns ``TREVOR_STORAGE_URL`` into a store; the app's ``storage_class`` trait
can name any other :class:`ObjectStore` subclass.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from .base import (
    ObjectNotFound,
    ObjectStore,
    ObjectWriter,
    StorageError,
    WriterContext,
    content_disposition,
    validate_key,
)
from .local import LocalStore
from .s3 import S3Store

__all__ = [
    "LocalStore",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectWriter",
    "S3Store",
    "StorageError",
    "WriterContext",
    "content_disposition",
    "store_from_url",
    "validate_key",
]

# Environment variables read for s3:// URLs, as trait name -> variable. Credentials are not
# listed: botocore reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (and
# profiles, web identity, instance roles) itself.
S3_ENVIRONMENT = {
    "endpoint_url": "TREVOR_S3_ENDPOINT_URL",
    "public_endpoint_url": "TREVOR_S3_PUBLIC_ENDPOINT_URL",
    "region_name": "TREVOR_S3_REGION",
    "addressing_style": "TREVOR_S3_ADDRESSING_STYLE",
}


def store_from_url(url: str, **kwargs: Any) -> ObjectStore:
    """``file:///abs/dir`` -> :class:`LocalStore`; ``s3://bucket[/prefix]`` -> :class:`S3Store`.

    ``kwargs`` are passed to the store (``parent=``/``config=`` for traitlets configuration,
    or trait values, which win over the environment)."""
    parts = urllib.parse.urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"storage URL takes no query or fragment: {url!r}")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file storage URL must be file:///absolute/path, not {url!r}")
        path = urllib.parse.unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError(f"file storage URL needs an absolute path: {url!r}")
        return LocalStore(root=path, **kwargs)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"s3 storage URL needs a bucket: {url!r}")
        settings: dict[str, Any] = {
            "bucket": parts.netloc,
            "prefix": urllib.parse.unquote(parts.path).strip("/"),
        }
        # Only variables that are set are passed, so trait config files still apply otherwise.
        for trait, variable in S3_ENVIRONMENT.items():
            if os.environ.get(variable):
                settings[trait] = os.environ[variable]
        settings.update(kwargs)
        return S3Store(**settings)
    raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket[/prefix]")
