"""Per-key token buckets (CONTRACT §3: 50 requests/s, bursts of 100, set per key), and the
count of failed authentications per client address (CONTRACT §3 v2: more than 30 in a minute
and the address is refused before any signature work).

In Redis when there is one, so every web process shares a key's bucket and an address's
failures; in process memory for the Redis-less demo. When Redis is unreachable the limiters
let requests through: the API keeps accepting while Redis is down (CONTRACT §3), and the
database is the record.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

import django_rq
from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV rate/s, burst, now (s, float). Returns {allowed, seconds to wait}.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: float


class _MemoryBuckets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, burst: float, now: float) -> RateDecision:
        with self._lock:
            tokens, at = self._state.get(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - at) * rate)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return RateDecision(True, 0.0)
            self._state[key] = (tokens, now)
            return RateDecision(False, (1 - tokens) / rate)


_memory = _MemoryBuckets()
_script = None


def _now() -> float:
    return time.time()


def _redis() -> Redis:
    return django_rq.get_connection("ingest")


def rate_take(*, key_id: str, rate_per_second: int, burst: int) -> RateDecision:
    """Take one request from the key's bucket."""
    now = _now()
    bucket = f"modqueue:rate:{key_id}"
    if settings.MODQUEUE_INLINE_JOBS:
        return _memory.take(bucket, rate_per_second, burst, now)
    global _script
    try:
        if _script is None:
            _script = _redis().register_script(_TOKEN_BUCKET)
        allowed, wait = _script(keys=[bucket], args=[rate_per_second, burst, now])
    except RedisError as exc:
        log.warning("rate limiter unavailable, letting the request through: %s", exc)
        return RateDecision(True, 0.0)
    return RateDecision(bool(int(allowed)), float(wait))


# --- failed authentications per client address (CONTRACT §3 v2) ----------------------------

# A sliding window: an address that failed MODQUEUE_AUTH_FAILURE_LIMIT times in the last
# AUTH_FAILURE_WINDOW seconds is refused until the oldest of those failures is that old.
# The contract caps the refusal at a minute.
AUTH_FAILURE_WINDOW = 60.0
AUTH_FAILURE_PREFIX = "modqueue:authfail:"
# Addresses the in-memory counter keeps before it forgets those with no recent failure.
_MEMORY_ADDRESSES = 10_000


def _refusal(failures: list[float], limit: int, now: float) -> RateDecision:
    """Refused while `limit` failures are inside the window; `failures` oldest first."""
    recent = [at for at in failures if at > now - AUTH_FAILURE_WINDOW]
    if len(recent) < limit:
        return RateDecision(True, 0.0)
    # Accepted again once all but limit - 1 of them have left the window.
    frees_at = recent[len(recent) - limit] + AUTH_FAILURE_WINDOW
    return RateDecision(False, min(AUTH_FAILURE_WINDOW, max(1.0, frees_at - now)))


class _MemoryFailures:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, deque[float]] = {}

    def check(self, address: str, limit: int, now: float) -> RateDecision:
        with self._lock:
            return _refusal(list(self._state.get(address, ())), limit, now)

    def record(self, address: str, now: float) -> None:
        with self._lock:
            if len(self._state) >= _MEMORY_ADDRESSES:
                self._state = {
                    a: d for a, d in self._state.items() if d and d[-1] > now - AUTH_FAILURE_WINDOW
                }
            failures = self._state.setdefault(address, deque())
            failures.append(now)
            while failures and failures[0] <= now - AUTH_FAILURE_WINDOW:
                failures.popleft()

    def clear(self) -> None:
        with self._lock:
            self._state.clear()


_memory_failures = _MemoryFailures()


def _failure_key(address: str) -> str:
    return f"{AUTH_FAILURE_PREFIX}{address}"


def auth_failures_check(*, address: str) -> RateDecision:
    """Whether this client address may try to authenticate, before any key look-up or
    signature work: refused (with the seconds to wait, at most a minute) once it failed
    MODQUEUE_AUTH_FAILURE_LIMIT times within the window."""
    limit = settings.MODQUEUE_AUTH_FAILURE_LIMIT
    now = _now()
    if settings.MODQUEUE_INLINE_JOBS:
        return _memory_failures.check(address, limit, now)
    key = _failure_key(address)
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - AUTH_FAILURE_WINDOW)
        pipe.zrange(key, 0, -1, withscores=True)
        _, entries = pipe.execute()
    except RedisError as exc:
        log.warning("failed-authentication limiter unavailable, letting through: %s", exc)
        return RateDecision(True, 0.0)
    return _refusal(sorted(score for _, score in entries), limit, now)


def auth_failure_record(*, address: str) -> None:
    """Count one failed authentication (any 401) from this client address."""
    now = _now()
    if settings.MODQUEUE_INLINE_JOBS:
        _memory_failures.record(address, now)
        return
    key = _failure_key(address)
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.zadd(key, {f"{now:.6f}:{uuid.uuid4().hex[:12]}": now})
        pipe.zremrangebyscore(key, "-inf", now - AUTH_FAILURE_WINDOW)
        pipe.expire(key, int(AUTH_FAILURE_WINDOW) + 1)
        pipe.execute()
    except RedisError as exc:
        log.warning("failed-authentication limiter unavailable, not counting: %s", exc)
