"""Settings rows read once per process: thresholds, policy categories, quality settings, the
organizations' policy exceptions.

Every decision reads the same few rows that change a few times a year (the thresholds, the
policy's categories, the gold and second review shares). Each process keeps what it read,
tagged with a version kept in Redis (a random token), and reads the rows again once it moves.

- A write to one of these models (`WATCHED`: save or delete, through any code path that sends
  Django's model signals, and `flush`/`migrate`, which send post_migrate) moves the version
  once its transaction commits (`on_commit`: a new random token), so no process can keep what
  it read before the commit under the new version. A Redis that lost the key (restarted
  without persistence, flushed) gets a fresh token, which matches no copy kept. The writing
  process drops its own copies at once.
- A transaction that wrote one of them reads them from the database until it ends, and
  caches nothing meanwhile: a rolled-back write is never remembered.
- The version is read from Redis at most once per web request (reset by request_started) and
  on every call outside requests (workers, commands, tests): a change made in one process is
  seen by the next decision in every other.
- With no REDIS_URL (the single-process demo) the version is the process's own counter.
  When Redis cannot be reached, nothing is cached: the rows are read from the database.

Writes made without model signals (`QuerySet.update`, raw SQL) must call `config_changed()`.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save

log = logging.getLogger(__name__)
T = TypeVar("T")

# What the cached reads are made of; a write to any of them invalidates every entry.
WATCHED = (
    "moderation.Thresholds",
    "moderation.PolicyCategory",
    "moderation.CategoryAlias",
    "moderation.QualitySettings",
    "moderation.PolicyException",
)

_lock = threading.Lock()
_entries: dict[str, tuple[str, Any]] = {}
_local = threading.local()  # .version: the version read in this request, None outside
_local_version = 0  # the version without Redis
_generation = 0  # moved by every write seen in this process
_client: tuple[str, redis.Redis] | None = None  # (its URL, the client)
_WRITTEN = "_modqueue_config_written"  # on the connection: its on-commit list when it wrote


def _key() -> str:
    return f"modqueue:config-version:{settings.DATABASES['default']['NAME']}"


def _redis() -> redis.Redis | None:
    """The client for REDIS_URL, made again when the setting changes (tests point it at a
    private Redis of their own, which is gone after them)."""
    global _client
    url = settings.REDIS_URL
    if not url:
        return None
    if _client is None or _client[0] != url:
        _client = (url, redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1))
    return _client[1]


def _version() -> str | None:
    """The shared version now (once per request), or None when it cannot be known.

    A random token, not a counter: a Redis restarted without persistence (or flushed) loses
    the key, and a fresh random token then matches nothing any process kept, where a counter
    starting again from 0 could match a copy kept long ago."""
    known = getattr(_local, "version", None)
    if known is not None:
        return str(known)
    client = _redis()
    if client is None:
        version: str | None = f"local-{_local_version}"
    else:
        try:
            token = client.get(_key())
            if token is None:
                client.set(_key(), uuid.uuid4().hex, nx=True)
                token = client.get(_key())
            version = token.decode() if isinstance(token, bytes) else str(token)
        except redis.RedisError as error:
            log.warning("config cache: redis unavailable, reading the rows: %s", error)
            return None
    if getattr(_local, "in_request", False):
        _local.version = version
    return version


def _writing() -> bool:
    """Whether the current transaction wrote one of the watched models.

    Marked by the identity of the connection's on-commit list, which Django replaces at every
    commit and rollback: a mark on the `Atomic` object itself would outlive its transaction,
    since `@transaction.atomic` reuses one object for every call of the function it wraps
    (one write made every later decision in that process read through)."""
    conn = transaction.get_connection()
    hooks = getattr(conn, _WRITTEN, None)
    return conn.in_atomic_block and hooks is not None and hooks is conn.run_on_commit


def cached(name: str, load: Callable[[], T]) -> T:
    """`load()`'s answer, kept in this process until the version moves. The caller gets its
    own shallow copy of a list or model instance, so changing it changes nothing kept."""
    if _writing():
        return load()
    version = _version()
    if version is None:
        return load()
    with _lock:
        entry = _entries.get(name)
    if entry is None or entry[0] != version:
        generation = _generation
        value = load()
        with _lock:
            # Not kept if the load itself wrote (get_or_create): that write may roll back.
            if generation == _generation:
                _entries[name] = (version, value)
        return copy.copy(value)
    return copy.copy(entry[1])


def _bump() -> None:
    global _local_version
    with _lock:
        _entries.clear()
        _local_version += 1
    _local.version = None
    client = _redis()
    if client is not None:
        try:
            client.set(_key(), uuid.uuid4().hex)
        except redis.RedisError as error:  # the others keep their copies until it is back
            log.error("config cache: could not move the version: %s", error)


def config_changed(**_: object) -> None:
    """A watched row changed: drop this process's copies now, and every process's once the
    transaction commits (at once outside a transaction)."""
    global _generation
    with _lock:
        _entries.clear()
        _generation += 1
    _local.version = None
    transaction.on_commit(_bump)
    conn = transaction.get_connection()
    if conn.in_atomic_block:
        setattr(conn, _WRITTEN, conn.run_on_commit)


def _request_started(**_: object) -> None:
    _local.version, _local.in_request = None, True


def _request_finished(**_: object) -> None:
    _local.version, _local.in_request = None, False


def connect() -> None:
    """Wire the signals (ModerationConfig.ready)."""
    from django.apps import apps

    for label in WATCHED:
        model = apps.get_model(label)
        post_save.connect(config_changed, sender=model, dispatch_uid=f"config-save-{label}")
        post_delete.connect(config_changed, sender=model, dispatch_uid=f"config-del-{label}")
    # flush (the transactional tests) and migrate rewrite the rows without model signals.
    post_migrate.connect(lambda **kw: _bump(), weak=False, dispatch_uid="config-migrate")
    request_started.connect(_request_started, dispatch_uid="config-request-started")
    request_finished.connect(_request_finished, dispatch_uid="config-request-finished")
