"""Artifacts in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO) through s3fs.

How calls run: s3fs is asynchronous underneath (aiobotocore). A synchronous-mode
``S3FileSystem`` keeps its client on fsspec's own I/O loop thread, and we submit its
coroutines (``_put_file``, ...) to that loop and await the result from ours. So thousands of
concurrent puts cost no thread each (``asyncio.to_thread`` would cap them at the default
pool's handful of threads), and the store works from any event loop, including
successive ``asyncio.run`` calls, without being tied to the loop that made it.

Objects are never half-written: an object under twice ``PART_BYTES`` goes in one PUT; a
larger one goes as a multipart upload that becomes visible only when completed and is
aborted by s3fs on failure. Content-Type is set on the object so a public URL serves it.

Memory is bounded whatever the object's size: s3fs reads each part into memory, and by
default reads ten 50 MiB parts at once (a 1 GiB video upload grew the process by ~290 MB).
Uploads and downloads here move ``PART_BYTES`` parts, ``PARTS_IN_FLIGHT`` at a time, so one
transfer holds at most ``PART_BYTES * PARTS_IN_FLIGHT`` (32 MiB) of parts, and a store at
most ``max_transfers`` times that.

Credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID``, config files, ...) or
from environment variables named in the storage options (``key_env``, ``secret_env``,
``token_env``). Every value is registered with the redactor; no error text carries one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from runner.errors import REDACTOR, StorageError, redact
from runner.storage.keys import check_key

T = TypeVar("T")

#: Multipart part size (the AWS CLI's default); objects below twice this go in a single
#: PUT, which s3fs reads whole. Larger objects get larger parts only to stay within S3's
#: 10,000 parts (past 80 GiB).
PART_BYTES = 8 << 20
#: Parts one upload or download moves at once: each is a buffer of up to a part's size.
PARTS_IN_FLIGHT = 4
#: S3's limit on the parts of one multipart upload.
MAX_PARTS = 10_000
#: Concurrent transfers per store (and HTTP connections in the pool); ``max_transfers``
#: in the storage options overrides it.
DEFAULT_MAX_TRANSFERS = 16

_CREDENTIAL_ENV_OPTIONS = {"key_env": "key", "secret_env": "secret", "token_env": "token"}
_LITERAL_SECRET_OPTIONS = frozenset(
    {
        "key",
        "secret",
        "token",
        "username",
        "password",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
_STANDARD_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
)


class S3Backend:
    """Stores keys as objects under ``s3://bucket/prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None,
        region: str | None,
        options: Mapping[str, Any],
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint_url or "the default AWS endpoint"
        fs_options = dict(options)
        credentials = _credentials_from_env(fs_options)
        self._max_transfers = _positive_int(fs_options.pop("max_transfers", DEFAULT_MAX_TRANSFERS))
        client_kwargs = dict(fs_options.pop("client_kwargs", {}))
        if endpoint_url:
            client_kwargs["endpoint_url"] = endpoint_url
        if region:
            client_kwargs["region_name"] = region
        config_kwargs = {
            "max_pool_connections": self._max_transfers,
            **fs_options.pop("config_kwargs", {}),
        }
        import s3fs  # imported here: botocore is slow to load and only S3 users need it

        try:
            self._fs = s3fs.S3FileSystem(
                **credentials,
                client_kwargs=client_kwargs,
                config_kwargs=config_kwargs,
                # Each store owns its client: no options or state shared through the cache.
                skip_instance_cache=True,
                **fs_options,
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise StorageError(f"invalid S3 storage options: {redact(str(exc))}") from exc
        self._slots: asyncio.Semaphore | None = None

    @property
    def root_uri(self) -> str:
        return f"s3://{self._root_path()}"

    def uri_for(self, key: str) -> str:
        return f"s3://{self._path_for_key(key)}"

    def path_for(self, uri: str) -> str:
        """``bucket/key`` for one of this store's ``s3://`` URIs."""
        root = self.root_uri + "/"
        if not uri.startswith(root):
            raise StorageError(f"{uri!r} is not an object of this store ({self.root_uri})")
        # HTTP layers may fold "a/../b" in the request path, so ".." must not slip through.
        check_key(uri.removeprefix(root))
        return uri.removeprefix("s3://")

    async def put(self, local_path: Path, key: str, *, content_type: str) -> None:
        target = self.uri_for(key)
        if not local_path.is_file():
            raise StorageError(f"cannot upload {target}: {local_path} is not a file")
        part_bytes = part_size(local_path.stat().st_size)
        await self._call(
            lambda: self._fs._put_file(
                str(local_path),
                self._path_for_key(key),
                ContentType=content_type,
                chunksize=part_bytes,
                max_concurrency=PARTS_IN_FLIGHT,
            ),
            action="upload",
            target=target,
        )

    async def put_bytes(self, data: bytes, key: str, *, content_type: str) -> None:
        await self._call(
            lambda: self._fs._pipe_file(
                self._path_for_key(key), data, ContentType=content_type, chunksize=PART_BYTES
            ),
            action="upload",
            target=self.uri_for(key),
        )

    async def download(self, uri: str, destination: Path) -> None:
        path = self.path_for(uri)
        partial = destination.with_name(f".{destination.name}.part")
        try:
            await self._call(
                lambda: self._fs._get_file(
                    path, str(partial), chunksize=PART_BYTES, max_concurrency=PARTS_IN_FLIGHT
                ),
                action="download",
                target=uri,
            )
            partial.replace(destination)
        finally:
            partial.unlink(missing_ok=True)

    async def exists(self, uri: str) -> bool:
        bucket, key = self._split(uri)

        async def head() -> bool:
            try:
                await self._fs._call_s3("head_object", Bucket=bucket, Key=key)
            except FileNotFoundError:
                # A HEAD has no body, so a missing bucket looks the same: no object either way.
                return False
            return True

        return await self._call(head, action="check", target=uri)

    async def read_bytes(self, uri: str) -> bytes:
        path = self.path_for(uri)
        data: bytes = await self._call(lambda: self._fs._cat_file(path), action="read", target=uri)
        return data

    async def delete(self, uri: str) -> None:
        bucket, key = self._split(uri)
        # S3 deletes are idempotent: deleting a missing key succeeds.
        await self._call(
            lambda: self._fs._call_s3("delete_object", Bucket=bucket, Key=key),
            action="delete",
            target=uri,
        )

    async def signed_url(self, uri: str, expires_s: int) -> str:
        """A presigned GET URL for the object, valid ``expires_s`` seconds."""
        bucket, key = self._split(uri)

        async def sign() -> str:
            url: str = await self._fs.s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
            )
            return url

        async def signed() -> str:
            await self._fs.set_session()
            return await sign()

        return await self._call(signed, action="sign", target=uri)

    async def _call(self, make: Callable[[], Awaitable[T]], *, action: str, target: str) -> T:
        """Run an s3fs coroutine on fsspec's loop; translate its errors at this edge."""

        async def limited() -> T:
            # Runs on fsspec's loop thread, so the semaphore is only ever touched there.
            if self._slots is None:
                self._slots = asyncio.Semaphore(self._max_transfers)
            async with self._slots:
                return await make()

        future = asyncio.run_coroutine_threadsafe(limited(), self._fs.loop)
        try:
            return await asyncio.wrap_future(future)
        except Exception as exc:
            raise StorageError(self._describe(exc, action, target)) from exc

    def _describe(self, exc: Exception, action: str, target: str) -> str:
        from botocore import exceptions as boto

        code = _error_code(exc)
        if code == "NoSuchBucket":
            reason = f"bucket {self.bucket!r} does not exist at {self.endpoint}"
        elif code in ("NoSuchKey", "404") or isinstance(exc, FileNotFoundError):
            reason = "no such object"
        elif code in _ACCESS_DENIED_CODES or isinstance(exc, PermissionError):
            reason = (
                f"access denied by {self.endpoint}: check the storage credentials "
                "(AWS_* variables, or key_env/secret_env in the storage options)"
            )
        elif _caused_by(exc, boto.ConnectionError):
            reason = f"cannot reach storage endpoint {self.endpoint}"
        elif _caused_by(exc, (boto.HTTPClientError, TimeoutError)):
            reason = f"storage endpoint {self.endpoint} did not answer"
        elif _caused_by(exc, (boto.NoCredentialsError, boto.PartialCredentialsError)):
            reason = (
                "no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or name the variables with key_env/secret_env in the storage options"
            )
        elif code is not None:
            reason = f"{code}: {_server_message(exc)}".rstrip(": ")
        else:
            lines = str(exc).strip().splitlines()
            reason = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
        return redact(f"cannot {action} {target}: {reason}")

    def _root_path(self) -> str:
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def _path_for_key(self, key: str) -> str:
        return f"{self._root_path()}/{key}"

    def _split(self, uri: str) -> tuple[str, str]:
        bucket, _, key = self.path_for(uri).partition("/")
        return bucket, key


def part_size(size: int) -> int:
    """The part size for an object of ``size`` bytes: ``PART_BYTES``, or more when that
    many parts would pass S3's limit."""
    return max(PART_BYTES, -(-size // MAX_PARTS))


def _credentials_from_env(options: dict[str, Any]) -> dict[str, str]:
    """Pop ``*_env`` options and read the variables they name; refuse literal secrets."""
    literal = sorted(_LITERAL_SECRET_OPTIONS & options.keys())
    if literal:
        raise StorageError(
            f"storage options must not hold credentials ({', '.join(literal)}); "
            "name environment variables with key_env/secret_env/token_env instead"
        )
    for name in _STANDARD_ENV:
        REDACTOR.add(os.environ.get(name))
    credentials: dict[str, str] = {}
    for option, argument in _CREDENTIAL_ENV_OPTIONS.items():
        variable = options.pop(option, None)
        if variable is None:
            continue
        raw = os.environ.get(str(variable))
        REDACTOR.add(raw)
        value = raw.strip() if raw else None  # as keys are: a .env line may end in a space
        if not value:
            raise StorageError(
                f"storage option {option} names the environment variable {variable}, "
                "which is not set"
            )
        credentials[argument] = value
    return credentials


def _positive_int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise StorageError(
            f"storage option max_transfers must be a positive integer, not {value!r}"
        )
    return number


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _error_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchBucket``, ``AccessDenied``, ...) behind an s3fs error."""
    for link in _causes(exc):
        response = getattr(link, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
    return None


def _server_message(exc: BaseException) -> str:
    """The first line of the server's own message behind an s3fs error, if any."""
    for link in _causes(exc):
        response = getattr(link, "response", None)
        if isinstance(response, dict):
            lines = str(response.get("Error", {}).get("Message") or "").strip().splitlines()
            return lines[0] if lines else ""
    return ""


def _caused_by(
    exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]
) -> bool:
    return any(isinstance(link, kinds) for link in _causes(exc))
