"""Per-key token buckets (CONTRACT §3: 50 requests/s, bursts of 100, set per key).

In Redis when there is one, so every web process shares a key's bucket; in process memory
for the Redis-less demo. When Redis is unreachable the limiter lets requests through: the
API keeps accepting while Redis is down (CONTRACT §3), and the database is the record.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import django_rq
from django.conf import settings
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


def rate_take(*, key_id: str, rate_per_second: int, burst: int) -> RateDecision:
    """Take one request from the key's bucket."""
    now = time.time()
    bucket = f"modqueue:rate:{key_id}"
    if settings.MODQUEUE_INLINE_JOBS:
        return _memory.take(bucket, rate_per_second, burst, now)
    global _script
    try:
        if _script is None:
            _script = django_rq.get_connection("ingest").register_script(_TOKEN_BUCKET)
        allowed, wait = _script(keys=[bucket], args=[rate_per_second, burst, now])
    except RedisError as exc:
        log.warning("rate limiter unavailable, letting the request through: %s", exc)
        return RateDecision(True, 0.0)
    return RateDecision(bool(int(allowed)), float(wait))
