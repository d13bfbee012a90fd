"""Where the throttle's counts live: Redis when it answers, process memory otherwise.

Every store has the same three operations, on keys that `idp.throttle` builds (a window's
counters carry the window in their key), each one atomic:
    attempt(pair, by_identifier, by_ip, now) -> wait   0: counted as a failure in advance
    succeed(pair, by_identifier, by_ip)                the right secret: the advance taken back
    count(key, now, ttl) -> count                      one more request in a budget
"""

import logging
import threading

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import clock

log = logging.getLogger("idp.throttle")


class MemoryCounters:
    """The counters of one process: for a single node, and while Redis is away."""

    def __init__(self, policy):
        self.policy = policy
        self._lock = threading.Lock()
        self._pairs = {}  # key: (failures, time of the last one)
        self._counts = {}  # key (holding its window): (count, when it may be dropped)
        self._next_sweep = 0

    def attempt(self, pair, by_identifier, by_ip, now):
        policy = self.policy
        with self._lock:
            self._sweep(now)
            failures, last = self._pairs.get(pair, (0, 0))
            if now - last > policy.forget_after:
                failures = 0
            wait = policy.wait(now, failures, last, self._counts.get(by_identifier, (0,))[0], self._counts.get(by_ip, (0,))[0])
            if wait:
                return wait
            self._pairs[pair] = (failures + 1, now)
            self._add(by_identifier, now, policy.per_identifier.seconds)
            self._add(by_ip, now, policy.per_ip.seconds)
            return 0

    def succeed(self, pair, by_identifier, by_ip):
        with self._lock:
            self._pairs.pop(pair, None)
            for key in (by_identifier, by_ip):
                count, expiry = self._counts.get(key, (0, 0))
                if count > 0:
                    self._counts[key] = (count - 1, expiry)

    def count(self, key, now, ttl):
        with self._lock:
            self._sweep(now)
            return self._add(key, now, ttl)

    def clear(self):
        with self._lock:
            self._pairs.clear()
            self._counts.clear()

    def _add(self, key, now, ttl):
        count = self._counts.get(key, (0,))[0] + 1
        self._counts[key] = (count, now + ttl)
        return count

    def _sweep(self, now):
        """Drops what has expired, once a minute, so that memory stays bounded."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 60
        self._counts = {key: value for key, value in self._counts.items() if now < value[1]}
        self._pairs = {key: value for key, value in self._pairs.items() if now - value[1] <= self.policy.forget_after}


# One round trip per check, atomic: the wait of `Policy.wait` (mirrored here; a test runs both
# stores through the same cases), then, when there is none, one failure counted in advance in
# the pair (started afresh when forgotten) and both windows. Hash fields: n = failures,
# t = time of the last one.
_ATTEMPT = """
local now, forget_after = tonumber(ARGV[1]), tonumber(ARGV[2])
local failures = tonumber(redis.call('HGET', KEYS[1], 'n') or 0)
local last = tonumber(redis.call('HGET', KEYS[1], 't') or 0)
if now - last > forget_after then
  failures = 0
end
local wait = 0
if failures > 0 then
  local free = tonumber(ARGV[3])
  if tonumber(redis.call('GET', KEYS[2]) or 0) >= tonumber(ARGV[6]) then
    free = 1
  end
  if failures >= free then
    local delay = math.min(tonumber(ARGV[4]) * 2 ^ math.min(failures - free, 32), tonumber(ARGV[5]))
    wait = math.max(last + delay - now, 0)
  end
end
if tonumber(redis.call('GET', KEYS[3]) or 0) >= tonumber(ARGV[7]) then
  wait = math.max(wait, tonumber(ARGV[8]))
end
if wait > 0 then
  return wait
end
redis.call('HSET', KEYS[1], 'n', failures + 1, 't', now)
redis.call('EXPIRE', KEYS[1], forget_after)
for i = 2, 3 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[i + 7])
end
return 0
"""

# The right secret: the pair forgotten, the advance taken back from both windows.
_SUCCEED = """
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  if tonumber(redis.call('GET', KEYS[i]) or 0) > 0 then
    redis.call('DECR', KEYS[i])
  end
end
"""


class RedisCounters:
    """The same counters in Redis, shared by every node. Any failure raises `redis.RedisError`."""

    def __init__(self, url, policy):
        self.policy = policy
        # Short timeouts and no retries: while Redis is away, one request per retry interval
        # pays the timeout, and the others do not even try.
        self.client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
        self._attempt = self.client.register_script(_ATTEMPT)
        self._succeed = self.client.register_script(_SUCCEED)

    def attempt(self, pair, by_identifier, by_ip, now):
        policy = self.policy
        arguments = [
            now,
            policy.forget_after,
            policy.free_failures,
            policy.base_delay,
            policy.max_delay,
            policy.per_identifier.amount,
            policy.per_ip.amount,
            policy.per_ip.window(now)[1],
            policy.per_identifier.seconds,
            policy.per_ip.seconds,
        ]
        return int(self._attempt(keys=[pair, by_identifier, by_ip], args=arguments))

    def succeed(self, pair, by_identifier, by_ip):
        self._succeed(keys=[pair, by_identifier, by_ip])

    def count(self, key, now, ttl):
        with self.client.pipeline() as pipe:
            count, _ = pipe.incr(key).expire(key, ttl).execute()
        return count


class Counters:
    """Redis when it answers, process memory otherwise: the state of one application."""

    def __init__(self, policy, prefix, redis_url, retry_interval):
        self.policy = policy
        self.prefix = prefix
        self.redis = RedisCounters(redis_url, policy) if redis_url else None
        self.memory = MemoryCounters(policy)
        self.retry_interval = retry_interval
        self._lock = threading.Lock()
        self._down_since = None
        self._next_try = 0

    def run(self, operation):
        """`operation(counters)` on Redis, or on process memory while Redis is away."""
        if self.redis is not None and self._redis_worth_trying():
            try:
                result = operation(self.redis)
            except redis.RedisError as error:
                self._went_down(error)
            else:
                if self._down_since is not None:
                    self._came_back()
                return result
        return operation(self.memory)

    def redis_state(self):
        """ "off" (no Redis configured), "ok" (it answers a PING), or "down" (the counters live
        in process memory): asked by the readiness check. While Redis is down, it is pinged at
        most once per retry interval, like the counters try it; an answer shares the counters
        again at once."""
        if self.redis is None:
            return "off"
        if not self._redis_worth_trying():
            return "down"
        try:
            self.redis.client.ping()
        except redis.RedisError as error:
            self._went_down(error)
            return "down"
        if self._down_since is not None:
            self._came_back()
        return "ok"

    def _redis_worth_trying(self):
        if self._down_since is None:
            return True
        with self._lock:
            now = clock.timestamp()
            if now < self._next_try:
                return False
            self._next_try = now + self.retry_interval  # one request tries, the others wait
            return True

    def _went_down(self, error):
        with self._lock:
            now = clock.timestamp()
            self._next_try = now + self.retry_interval
            if self._down_since is None:
                self._down_since = now
                log.error(
                    "throttling: Redis does not answer (%s); counting in process memory, trying again every %d s",
                    error,
                    self.retry_interval,
                )

    def _came_back(self):
        with self._lock:
            if self._down_since is None:
                return
            log.warning("throttling: Redis answers again after %d s; counters shared again", clock.timestamp() - self._down_since)
            self._down_since = None
            self.memory.clear()
