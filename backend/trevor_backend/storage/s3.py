"""Object store on S3 (AWS, SeaweedFS, MinIO, Ceph RGW) through aiobotocore.

Atomicity comes from S3 itself: a PUT or a completed multipart upload becomes visible whole or
not at all. Large writes are multipart uploads whose parts are invisible until
``CompleteMultipartUpload``; an abandoned upload (crashed process) stays invisible and is
removed by :meth:`S3Store.cleanup_temp` or a bucket lifecycle rule.

Over 500 lines on purpose: it is one class implementing the whole ``ObjectStore`` interface
against one service (multipart writes, verified reads, presigned links, cleanup); split, each part
would need the client, bucket and retry policy the others share.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from traitlets import Bool, CaselessStrEnum, Float, Int, TraitError, Unicode, validate
from traitlets.utils.bunch import Bunch

from .base import (
    Background,
    ObjectNotFound,
    ObjectStore,
    ObjectWriter,
    StorageError,
    content_disposition,
    seconds,
    validate_key,
    validate_prefix,
)

MiB = 1 << 20
GiB = 1 << 30
# S3 limits: parts are 5 MiB..5 GiB (except the last), at most 10 000 per upload; CopyObject
# handles at most 5 GiB; pre-signed SigV4 URLs live at most 7 days.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
_GONE_UPLOAD_CODES = {"404", "NoSuchUpload"}
_BUCKET_EXISTS_CODES = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _check_expiry(expires_in: int) -> int:
    if not 1 <= int(expires_in) <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_in must be between 1 and {MAX_PRESIGN_SECONDS} seconds")
    return int(expires_in)


class S3Writer(ObjectWriter):
    """Small objects become one PutObject at commit. Once ``part_size`` bytes are buffered a
    multipart upload starts; each part is uploaded while the next one fills (at most two parts in
    memory), so the caller's reading and hashing overlap with the network."""

    def __init__(self, store: S3Store, key: str, s3_key: str) -> None:
        super().__init__(key)
        self._store = store
        self.s3_key = s3_key
        self._batch: list[bytes] = []
        self._batched = 0
        self.upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._background = Background()

    @property
    def part_count(self) -> int:
        """Parts uploaded so far (0 while the object still fits a single PUT)."""
        return len(self._parts)

    def _part_target(self) -> int:
        # Doubling the part size every 1000 parts keeps any realistic object under the
        # 10 000-part limit without making small uploads use huge parts.
        return min(self._store.part_size << (len(self._parts) // 1000), MAX_PART_SIZE)

    async def _write(self, data: bytes) -> None:
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= self._part_target():
            await self._send_part()

    def _take_batch(self) -> bytes:
        data = self._batch[0] if len(self._batch) == 1 else b"".join(self._batch)
        self._batch = []
        self._batched = 0
        return data

    async def _send_part(self) -> None:
        await self._background.wait()
        if len(self._parts) >= MAX_PARTS:
            raise StorageError(f"{self.key!r} exceeds the S3 limit of {MAX_PARTS} parts")
        client = await self._store._get_client()
        store = self._store
        if self.upload_id is None:
            with store._errors():
                response = await client.create_multipart_upload(
                    Bucket=store.bucket, Key=self.s3_key
                )
            self.upload_id = response["UploadId"]
            store._active_uploads[self.upload_id] = self
        number = len(self._parts) + 1
        part: dict[str, Any] = {"PartNumber": number}
        self._parts.append(part)
        data = self._take_batch()

        async def upload() -> None:
            with store._errors():
                response = await client.upload_part(
                    Bucket=store.bucket,
                    Key=self.s3_key,
                    UploadId=self.upload_id,
                    PartNumber=number,
                    Body=data,
                )
            part["ETag"] = response["ETag"]

        self._background.start(upload())

    async def _commit(self) -> None:
        client = await self._store._get_client()
        store = self._store
        if self.upload_id is None:
            with store._errors():
                await client.put_object(
                    Bucket=store.bucket, Key=self.s3_key, Body=self._take_batch()
                )
            return
        if self._batch:
            await self._send_part()
        await self._background.wait()
        with store._errors():
            await client.complete_multipart_upload(
                Bucket=store.bucket,
                Key=self.s3_key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        store._active_uploads.pop(self.upload_id, None)

    async def _abort(self) -> None:
        self._batch = []
        # A part still uploading after this (we were cancelled meanwhile) may survive the
        # abort; cleanup_temp and the lifecycle rule are the backstop for that rare case.
        await self._background.settle()
        if self.upload_id is None:
            return
        store = self._store
        store._active_uploads.pop(self.upload_id, None)
        try:
            client = await store._get_client()
            await client.abort_multipart_upload(
                Bucket=store.bucket, Key=self.s3_key, UploadId=self.upload_id
            )
        except ClientError as exc:
            if _error_code(exc) not in _GONE_UPLOAD_CODES:
                # Raising here would hide the error that caused the abort; the upload is
                # invisible anyway and cleanup_temp (or a lifecycle rule) reclaims its parts.
                store.log.warning("Could not abort upload of %r: %s", self.key, exc)
        except (BotoCoreError, OSError, StorageError) as exc:
            store.log.warning("Could not abort upload of %r: %s", self.key, exc)


class S3Store(ObjectStore):
    """Objects in ``bucket`` under ``prefix``; key ``a/b`` is the S3 key ``<prefix>/a/b``."""

    bucket = Unicode(help="Bucket name.").tag(config=True)

    prefix = Unicode(
        "", help="Key prefix inside the bucket, so several deployments can share one bucket."
    ).tag(config=True)

    endpoint_url = Unicode(
        None,
        allow_none=True,
        help="S3 endpoint, e.g. http://127.0.0.1:8333 for SeaweedFS; None means AWS.",
    ).tag(config=True)

    public_endpoint_url = Unicode(
        None,
        allow_none=True,
        help="Endpoint written into pre-signed URLs when browsers reach S3 under another name "
        "than the backend does (e.g. an ingress host). Defaults to endpoint_url.",
    ).tag(config=True)

    region_name = Unicode(
        None,
        allow_none=True,
        help="Region; None lets botocore use AWS_REGION / AWS_DEFAULT_REGION / its config, "
        "falling back to us-east-1.",
    ).tag(config=True)

    addressing_style = CaselessStrEnum(
        ["auto", "path", "virtual"],
        "auto",
        help="'path' puts the bucket in the URL path (SeaweedFS, MinIO); 'virtual' in the host "
        "name (AWS). 'auto' means path when endpoint_url is set, else botocore's choice.",
    ).tag(config=True)

    access_key_id = Unicode(
        None,
        allow_none=True,
        help="Access key; None uses the AWS credential chain (AWS_ACCESS_KEY_ID, profiles, "
        "web identity, instance roles).",
    ).tag(config=True)

    secret_access_key = Unicode(None, allow_none=True, help="Secret key, with access_key_id.").tag(
        config=True
    )

    session_token = Unicode(None, allow_none=True, help="Session token for temporary keys.").tag(
        config=True
    )

    ca_bundle = Unicode(
        None, allow_none=True, help="CA bundle file for TLS to a private endpoint."
    ).tag(config=True)

    verify_tls = Bool(True, help="Verify the endpoint's TLS certificate.").tag(config=True)

    part_size = Int(
        8 * MiB,
        help="Objects larger than this are multipart uploads with parts of about this size "
        "(minimum 5 MiB). Each active upload holds up to two parts in memory.",
    ).tag(config=True)

    multipart_copy_threshold = Int(
        5 * GiB,
        help="move() of objects larger than this copies in ranges (UploadPartCopy); S3 "
        "refuses a single CopyObject above 5 GiB.",
    ).tag(config=True)

    copy_part_size = Int(512 * MiB, help="Range size for multipart copies.").tag(config=True)

    create_bucket = Bool(False, help="Create the bucket on first use if it does not exist.").tag(
        config=True
    )

    request_checksum_calculation = CaselessStrEnum(
        ["when_supported", "when_required"],
        "when_supported",
        help="botocore's request checksums; 'when_required' for older S3-compatible servers "
        "that reject the CRC headers newer botocore sends.",
    ).tag(config=True)

    connect_timeout = Float(10.0, help="Seconds to establish a connection.").tag(config=True)
    read_timeout = Float(60.0, help="Seconds to wait for a response chunk.").tag(config=True)
    max_attempts = Int(3, help="Attempts per request (botocore 'standard' retries).").tag(
        config=True
    )
    max_pool_connections = Int(32, help="Concurrent HTTP connections to S3.").tag(config=True)
    ping_timeout = Float(5.0, help="Seconds before ping() declares S3 unreachable.").tag(
        config=True
    )

    @validate("bucket")
    def _validate_bucket(self, proposal: Bunch) -> str:
        bucket: str = proposal["value"]
        if not bucket:
            raise TraitError("S3Store.bucket must be set")
        return bucket

    @validate("prefix")
    def _validate_prefix(self, proposal: Bunch) -> str:
        prefix: str = proposal["value"].strip("/")
        if prefix:
            validate_key(prefix)
        return prefix

    @validate("part_size", "copy_part_size")
    def _validate_part_size(self, proposal: Bunch) -> int:
        size: int = proposal["value"]
        if not MIN_PART_SIZE <= size <= MAX_PART_SIZE:
            raise TraitError(
                f"{proposal['trait'].name} must be between 5 MiB and 5 GiB (S3 part limits)"
            )
        return size

    @validate("multipart_copy_threshold")
    def _validate_copy_threshold(self, proposal: Bunch) -> int:
        threshold: int = proposal["value"]
        if not 0 <= threshold <= 5 * GiB:
            raise TraitError("multipart_copy_threshold must be between 0 and 5 GiB")
        return threshold

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.bucket:
            raise TraitError("S3Store.bucket must be set")
        self._session = get_session()
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._client: Any = None
        self._signer: Any = None
        self._client_lock = asyncio.Lock()
        # Multipart uploads still being written by this process; cleanup_temp skips them.
        # Weak, so an upload whose writer was dropped without commit or abort becomes sweepable.
        self._active_uploads: weakref.WeakValueDictionary[str, S3Writer] = (
            weakref.WeakValueDictionary()
        )

    def __repr__(self) -> str:
        where = self.endpoint_url or "aws"
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={where!r})"

    # -- client ----------------------------------------------------------------------------

    def _client_config(self) -> AioConfig:
        style = self.addressing_style.lower()
        if style == "auto" and self.endpoint_url:
            style = "path"
        return AioConfig(
            s3={"addressing_style": style},
            signature_version="s3v4",
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "max_attempts": self.max_attempts},
            max_pool_connections=self.max_pool_connections,
            request_checksum_calculation=self.request_checksum_calculation.lower(),
        )

    def _client_context(self, endpoint_url: str | None) -> Any:
        return self._session.create_client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=self.region_name,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
            verify=self.ca_bundle if self.ca_bundle else self.verify_tls,
            config=self._client_config(),
        )

    async def _get_client(self) -> Any:
        """The shared client, created on first use (it binds to the running event loop)."""
        if self._client is not None:
            return self._client
        async with self._client_lock:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                try:
                    client = await stack.enter_async_context(
                        self._client_context(self.endpoint_url)
                    )
                    if self.public_endpoint_url:
                        self._signer = await stack.enter_async_context(
                            self._client_context(self.public_endpoint_url)
                        )
                    else:
                        self._signer = client
                    if self.create_bucket:
                        await self._ensure_bucket(client)
                except BaseException:
                    await stack.aclose()
                    raise
                self._exit_stack = stack
                self._client = client
        return self._client

    async def _ensure_bucket(self, client: Any) -> None:
        try:
            await client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _NOT_FOUND_CODES | {"NoSuchBucket"}:
                raise StorageError(f"cannot check bucket {self.bucket!r}: {exc}") from exc
        params: dict[str, Any] = {"Bucket": self.bucket}
        region = client.meta.region_name
        # us-east-1 is the one region that rejects an explicit LocationConstraint.
        if region and region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await client.create_bucket(**params)
            self.log.info("Created bucket %s", self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in _BUCKET_EXISTS_CODES:
                raise StorageError(f"cannot create bucket {self.bucket!r}: {exc}") from exc

    @contextlib.contextmanager
    def _errors(self, key: str | None = None) -> Any:
        """Translate botocore failures into the store's exceptions."""
        try:
            yield
        except ClientError as exc:
            if key is not None and _error_code(exc) in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from exc
            raise StorageError(f"S3 {self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 {self.bucket}: {exc}") from exc

    def _s3_key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- writing ---------------------------------------------------------------------------

    async def _open_writer(self, key: str) -> S3Writer:
        s3_key = self._s3_key(key)
        await self._get_client()
        return S3Writer(self, key, s3_key)

    async def delete(self, key: str) -> None:
        s3_key = self._s3_key(key)
        client = await self._get_client()
        with self._errors():
            await client.delete_object(Bucket=self.bucket, Key=s3_key)

    async def move(self, src: str, dst: str) -> None:
        """Copy then delete: S3 has no rename. A crash in between leaves both copies, never
        neither; callers record the new key only after move returns."""
        src_key, dst_key = self._s3_key(src), self._s3_key(dst)
        size = await self.size(src)
        if src_key == dst_key:
            return
        client = await self._get_client()
        source = {"Bucket": self.bucket, "Key": src_key}
        if size <= self.multipart_copy_threshold:
            with self._errors(src):
                await client.copy_object(Bucket=self.bucket, Key=dst_key, CopySource=source)
        else:
            await self._multipart_copy(client, src, source, dst_key, size)
        with self._errors():
            await client.delete_object(Bucket=self.bucket, Key=src_key)

    async def _multipart_copy(
        self, client: Any, src: str, source: dict[str, str], dst_key: str, size: int
    ) -> None:
        with self._errors(src):
            response = await client.create_multipart_upload(Bucket=self.bucket, Key=dst_key)
        upload_id = response["UploadId"]
        parts = []
        try:
            for number, start in enumerate(range(0, size, self.copy_part_size), start=1):
                end = min(start + self.copy_part_size, size) - 1
                with self._errors(src):
                    result = await client.upload_part_copy(
                        Bucket=self.bucket,
                        Key=dst_key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource=source,
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
            with self._errors(src):
                await client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=dst_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError):
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=dst_key, UploadId=upload_id
                )
            raise

    # -- reading ---------------------------------------------------------------------------

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        return self._iter_object(key, self._s3_key(key), chunk_size)

    async def _iter_object(self, key: str, s3_key: str, chunk_size: int) -> AsyncIterator[bytes]:
        client = await self._get_client()
        with self._errors(key):
            response = await client.get_object(Bucket=self.bucket, Key=s3_key)
        # The HTTP stream hands out whatever arrived (often a few KiB); regroup into
        # chunk_size pieces so consumers do not pay per-chunk overhead thousands of times.
        pending: list[bytes] = []
        pending_size = 0
        async with response["Body"] as body:
            while True:
                with self._errors(key):
                    piece = await body.read(chunk_size - pending_size)
                if not piece:
                    break
                pending.append(piece)
                pending_size += len(piece)
                if pending_size >= chunk_size:
                    yield b"".join(pending)
                    pending, pending_size = [], 0
        if pending:
            yield b"".join(pending)

    async def read_bytes(self, key: str) -> bytes:
        s3_key = self._s3_key(key)
        client = await self._get_client()
        with self._errors(key):
            response = await client.get_object(Bucket=self.bucket, Key=s3_key)
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

    async def _head(self, key: str) -> dict[str, Any]:
        s3_key = self._s3_key(key)
        client = await self._get_client()
        with self._errors(key):
            head: dict[str, Any] = await client.head_object(Bucket=self.bucket, Key=s3_key)
            return head

    async def exists(self, key: str) -> bool:
        try:
            await self._head(key)
        except ObjectNotFound:
            return False
        return True

    async def size(self, key: str) -> int:
        return int((await self._head(key))["ContentLength"])

    async def etag(self, key: str) -> str:
        """The object's ETag without quotes; multipart objects end in '-<parts>'."""
        return str((await self._head(key))["ETag"]).strip('"')

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        validate_prefix(prefix)
        return self._list(prefix)

    async def _list(self, prefix: str) -> AsyncIterator[str]:
        client = await self._get_client()
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = client.get_paginator("list_objects_v2")
        with self._errors():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for item in page.get("Contents", ()):
                    yield item["Key"][len(base) :]

    # -- pre-signed URLs -------------------------------------------------------------------

    async def presigned_get_url(
        self, key: str, expires_in: int, filename: str | None = None
    ) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._s3_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        await self._get_client()
        with self._errors():
            url: str = await self._signer.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=_check_expiry(expires_in)
            )
            return url

    async def presigned_put_url(self, key: str, expires_in: int, size: int | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._s3_key(key)}
        if size is not None:
            if size < 0:
                raise ValueError("size must not be negative")
            # Content-Length becomes a signed header: S3 rejects a body of any other size.
            params["ContentLength"] = size
        await self._get_client()
        with self._errors():
            url: str = await self._signer.generate_presigned_url(
                "put_object", Params=params, ExpiresIn=_check_expiry(expires_in)
            )
            return url

    # -- housekeeping ----------------------------------------------------------------------

    async def ping(self) -> None:
        try:
            client = await asyncio.wait_for(self._get_client(), self.ping_timeout)
            await asyncio.wait_for(client.head_bucket(Bucket=self.bucket), self.ping_timeout)
        except TimeoutError as exc:
            raise StorageError(f"S3 bucket {self.bucket!r} did not answer in time") from exc
        except (ClientError, BotoCoreError, OSError) as exc:
            raise StorageError(f"S3 bucket {self.bucket!r} is not reachable: {exc}") from exc

    async def list_incomplete_uploads(self) -> list[dict[str, Any]]:
        """Multipart uploads under this store's prefix that were never completed or aborted."""
        client = await self._get_client()
        base = f"{self.prefix}/" if self.prefix else ""
        uploads: list[dict[str, Any]] = []
        paginator = client.get_paginator("list_multipart_uploads")
        with self._errors():
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                uploads.extend(page.get("Uploads") or ())
        return uploads

    async def cleanup_temp(self, older_than: float | timedelta) -> int:
        """Abort multipart uploads started more than ``older_than`` seconds ago (their parts
        cost storage but are invisible). Uploads open in this process are skipped."""
        cutoff = datetime.now(UTC) - timedelta(seconds=seconds(older_than))
        client = await self._get_client()
        removed = 0
        for upload in await self.list_incomplete_uploads():
            if upload["UploadId"] in self._active_uploads or upload["Initiated"] > cutoff:
                continue
            try:
                await client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                removed += 1
            except ClientError as exc:
                if _error_code(exc) not in _GONE_UPLOAD_CODES:
                    raise StorageError(f"cannot abort upload of {upload['Key']!r}: {exc}") from exc
        if removed:
            self.log.info("Aborted %d stale multipart upload(s) in %s", removed, self.bucket)
        return removed

    async def close(self) -> None:
        stack, self._exit_stack = self._exit_stack, None
        self._client = self._signer = None
        if stack is not None:
            await stack.aclose()
