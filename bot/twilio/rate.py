"""Send-rate discipline: a token bucket per sender, shared by every worker through Redis.

Twilio accepts only so many message segments per second per sender (1 for a US long
code, 3 for toll-free, 100 for a short code, 80 for WhatsApp) and queues the rest for at
most about 4 hours before failing them
(https://help.twilio.com/articles/115002943027-Understanding-Twilio-Rate-Limits-and-Message-Queues).
Leadline keeps under the rate itself: before each send a worker takes the sender's next
slot from the bucket; a slot within ``INLINE_WAIT_S`` is kept and waited for in place, a
later one is not taken and the message goes back in the outbox with ``send_after`` at
about when a slot frees up, to try again then. Every slot taken is one send at or after
its time, so a burst goes out spread over time at no more than the configured rate, and
never sits in Twilio's queue.

The bucket lives in one Redis hash per sender and is updated by one Lua script (atomic
across every worker on every machine), timed by the Redis server's clock.
"""

from __future__ import annotations

from redis import Redis

INLINE_WAIT_S = 1.0
"""A slot this close is waited for in the worker; a later one is scheduled."""

_RESERVE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate) - 1
local wait = 0
if tokens < 0 then wait = -tokens / rate end
if wait > max_wait then tokens = tokens + 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 60)
return tostring(wait)
"""


class SendRate:
    """Per-sender send rates (messages per second) and the shared buckets that enforce them."""

    def __init__(self, redis: Redis, *, default_mps: float | None, overrides: dict[str, float] | None = None,
                 burst: float = 1.0):
        self.redis = redis
        self.default_mps = default_mps
        self.overrides = overrides or {}
        self.burst = burst
        self._script = redis.register_script(_RESERVE)

    def rate_for(self, sender: str) -> float | None:
        """Messages per second allowed for ``sender`` (a ``from`` address or a Messaging Service SID); None: no limit."""
        return self.overrides.get(sender, self.default_mps)

    def reserve(self, sender: str, max_wait_s: float = INLINE_WAIT_S) -> float:
        """Take the sender's next send slot if it is at most ``max_wait_s`` away; returns the seconds until
        that slot (0: now). A return above ``max_wait_s`` means no slot was taken: try again about then."""
        rate = self.rate_for(sender)
        if not rate:
            return 0.0
        return float(self._script(keys=[f"leadline:send-rate:{sender}"],
                                  args=[rate, max(self.burst, 1.0), max_wait_s]))
