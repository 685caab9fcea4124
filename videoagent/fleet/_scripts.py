"""The Lua scripts of fleet mode: each one atomic step on Redis, timed by Redis ``TIME``.

Every script starts with the same prelude. It reads the server's clock (in
microseconds: callers' clocks never enter a decision) and checks the
*epoch*, a token Redis holds while it keeps its data. A Redis that lost its
data (restarted without persistence) has no epoch; the first caller that
knew an older one sets a *quarantine*: no request is admitted for one
provisional hold (a window plus the longest a request may stay unanswered,
twice), and no slot is granted until every live process has re-registered
its leases. Fail closed: the requests and leases Redis forgot cannot be
counted, so nothing is admitted until they are over or back.

A freed slot is published on the ``slots`` channel with the name of the
process whose ticket is first in the queue: only that process asks again
(and, granted with slots still free, wakes the next first one).

Keys (all under one ``{account}`` hash tag, so a Redis Cluster keeps them on
one node): ``KEYS[1..4]`` are always the epoch, the quarantined epoch, the
request block and the slot block. Numbers go to Redis formatted by ``n()``:
Lua's default conversion keeps only 14 digits.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACQUIRE",
    "ADOPT",
    "BIND",
    "DEQUEUE",
    "HEARTBEAT",
    "PAUSE",
    "PUBLISH",
    "RELEASE",
    "RELEASE_SEEN",
    "RELEASE_SLOT",
    "RESERVE",
    "SCRIPTS",
    "SYNC",
    "UNWATCH",
]

_PRELUDE: Final = """
local function n(x) return string.format('%.0f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function raise_to(key, value)
  local old = tonumber(redis.call('GET', key) or '0')
  if value > old then
    redis.call('SET', key, n(value), 'PX', n((value - now) / 1000 + 1000))
  end
end
-- A slot may be free: wake the process whose ticket is first in the slot queue.
local function wake_first(queue, channel)
  local first = redis.call('ZRANGE', queue, 0, 0)[1]
  if first then redis.call('PUBLISH', channel, string.match(first, '^(.*):%d+$') or first) end
end
-- Whether a lease (a placeholder, or a project seen ended) is in the ended set.
local function ended(set, member)
  return tonumber(redis.call('ZSCORE', set, member) or '0') > now
end
-- Placeholders (``p:`` leases: lost creates that may have taken effect) among the leases.
local function placeholders(leases)
  local count = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', leases, '(' .. n(now), '+inf')) do
    if string.sub(m, 1, 2) == 'p:' then count = count + 1 end
  end
  return count
end
local epoch = redis.call('GET', KEYS[1])
local function quarantine()
  raise_to(KEYS[3], now + tonumber(ARGV[3]))
  raise_to(KEYS[4], now + tonumber(ARGV[4]))
end
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[1], epoch)
  if ARGV[1] ~= '' then quarantine(); redis.call('SET', KEYS[2], epoch) end
elseif ARGV[1] ~= '' and epoch ~= ARGV[1] and redis.call('GET', KEYS[2]) ~= epoch then
  quarantine(); redis.call('SET', KEYS[2], epoch)
end
"""

#: KEYS[5] log, [6] wanted flag; ARGV[5] member, [6] limit, [7] need,
#: [8] provisional hold (us). -> {epoch, wait_us (0: admitted), entries}.
#: Raises the wanted flag when the wait hangs on a request still in flight
#: (in-flight members are ``i:``, answered ones ``d:``, unknown clients' ``f:``):
#: that request's release then publishes, and the waiters look again.
ACQUIRE: Final = (
    _PRELUDE
    + """
local blocked = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked > now then return {epoch, blocked - now, -1} end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', n(now))
local used = redis.call('ZCARD', KEYS[5])
local excess = used + tonumber(ARGV[7]) - tonumber(ARGV[6])
if excess <= 0 then
  redis.call('ZADD', KEYS[5], n(now + tonumber(ARGV[8])), 'i:' .. ARGV[5])
  return {epoch, 0, used + 1}
end
local e = redis.call('ZRANGE', KEYS[5], excess - 1, excess - 1, 'WITHSCORES')
if string.sub(e[1], 1, 2) == 'i:' then redis.call('SET', KEYS[6], '1', 'PX', 2000) end
return {epoch, math.max(1, tonumber(e[2]) - now), used}
"""
)

#: KEYS[5] log, [6] wanted flag; ARGV[5] member, [6] counted, [7] hold (us),
#: [8] server's remaining (-1: none), [9] limit, [10] window (us), [11] channel,
#: [12] age (us): the hold runs from the answer, which came that long before
#: the write was sent (a write that rode along with a later call).
RELEASE: Final = (
    _PRELUDE
    + """
redis.call('ZREM', KEYS[5], 'i:' .. ARGV[5])
if ARGV[6] == '1' then
  local expiry = now + tonumber(ARGV[7]) - tonumber(ARGV[12] or '0')
  redis.call('ZADD', KEYS[5], n(expiry), 'd:' .. ARGV[5])
end
local remaining = tonumber(ARGV[8])
if remaining >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', n(now))
  local deficit = tonumber(ARGV[9]) - remaining - redis.call('ZCARD', KEYS[5])
  for i = 1, deficit do
    redis.call('ZADD', KEYS[5], n(now + tonumber(ARGV[10])), 'f:' .. ARGV[5] .. ':' .. i)
  end
end
if ARGV[6] ~= '1' or redis.call('DEL', KEYS[6]) == 1 then redis.call('PUBLISH', ARGV[11], '1') end
return {epoch}
"""
)

#: A 429's Retry-After: ARGV[5] pause (us) blocks every process of the account;
#: ARGV[6] age (us): it was met that long before the write was sent.
PAUSE: Final = (
    _PRELUDE
    + """
raise_to(KEYS[3], now + tonumber(ARGV[5]) - tonumber(ARGV[6] or '0'))
return {epoch}
"""
)

#: KEYS[5] slot leases (zset), [6] queue (zset by arrival), [7] queue liveness,
#: [8] arrival counter, [9] lease owners (hash); ARGV[5] limit, [6] lease (us),
#: [7] liveness (us), [8] process, [9] channel, [10...] this process's waiting
#: tickets, in arrival order (each joins the queue on its first call).
#: -> {epoch, wait hint (us, -1 none), leases, placeholders, granted flag of each ticket...}
#: A ticket already granted (its answer lost) is granted again.
RESERVE: Final = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', n(now))
local dead = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', n(now))
for _, d in ipairs(dead) do redis.call('ZREM', KEYS[6], d); redis.call('ZREM', KEYS[7], d) end
for i = 10, #ARGV do
  if not redis.call('ZSCORE', KEYS[5], 'r:' .. ARGV[i]) then
    if not redis.call('ZSCORE', KEYS[6], ARGV[i]) then
      redis.call('ZADD', KEYS[6], redis.call('INCR', KEYS[8]), ARGV[i])
    end
    redis.call('ZADD', KEYS[7], n(now + tonumber(ARGV[7])), ARGV[i])
  end
end
local leases = redis.call('ZCARD', KEYS[5])
local blocked = tonumber(redis.call('GET', KEYS[4]) or '0')
local free = tonumber(ARGV[5]) - leases
local answer = {epoch, -1, leases, placeholders(KEYS[5])}
local granted, waiting = 0, 0
for i = 10, #ARGV do
  local t = ARGV[i]
  local flag = 0
  if redis.call('ZSCORE', KEYS[5], 'r:' .. t) then
    flag = 1
  elseif blocked <= now and redis.call('ZRANK', KEYS[6], t) < free then
    redis.call('ZREM', KEYS[6], t); redis.call('ZREM', KEYS[7], t)
    redis.call('ZADD', KEYS[5], n(now + tonumber(ARGV[6])), 'r:' .. t)
    redis.call('HSET', KEYS[9], 'r:' .. t, ARGV[8])
    free = free - 1
    granted = granted + 1
    flag = 1
  else
    waiting = waiting + 1
  end
  answer[#answer + 1] = flag
end
answer[3] = leases + granted
-- Slots still free: the first ticket now is another process's (ours were granted).
if blocked <= now and free > 0 then wake_first(KEYS[6], ARGV[9]) end
if waiting > 0 then
  if blocked > now then
    answer[2] = blocked - now
  elseif free <= 0 then
    local e = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    if e[2] then answer[2] = math.max(1, tonumber(e[2]) - now) end
  end
end
return answer
"""
)

#: A waiter gave up (cancelled): KEYS[5] leases, [6] queue, [7] liveness,
#: [8] owners; ARGV[5] ticket, [6] channel.
DEQUEUE: Final = (
    _PRELUDE
    + """
local queued = redis.call('ZREM', KEYS[6], ARGV[5]); redis.call('ZREM', KEYS[7], ARGV[5])
if redis.call('ZREM', KEYS[5], 'r:' .. ARGV[5]) + queued > 0 then wake_first(KEYS[6], ARGV[6]) end
redis.call('HDEL', KEYS[8], 'r:' .. ARGV[5])
return {epoch}
"""
)

#: A reservation's request answered: KEYS[5] leases, [6] owners, [7] queue,
#: [8] ended; ARGV[5] ticket, [6] project id ('' none; ``p:<ticket>``: a
#: placeholder, the request failed but may have activated a project), [7]
#: active, [8] lease (us), [9] process, [10] channel. A project bound active
#: is no longer one seen ended.
BIND: Final = (
    _PRELUDE
    + """
redis.call('ZREM', KEYS[5], 'r:' .. ARGV[5]); redis.call('HDEL', KEYS[6], 'r:' .. ARGV[5])
if ARGV[7] == '1' then
  redis.call('ZADD', KEYS[5], n(now + tonumber(ARGV[8])), ARGV[6])
  redis.call('HSET', KEYS[6], ARGV[6], ARGV[9])
  redis.call('ZREM', KEYS[8], ARGV[6])
else
  wake_first(KEYS[7], ARGV[10])
end
return {epoch}
"""
)

#: A project of ours left the active states: KEYS[5] leases, [6] owners,
#: [7] queue; ARGV[5] project, [6] process, [7] channel.
RELEASE_SLOT: Final = (
    _PRELUDE
    + """
if redis.call('HGET', KEYS[6], ARGV[5]) == ARGV[6] then
  redis.call('HDEL', KEYS[6], ARGV[5])
  redis.call('ZREM', KEYS[5], ARGV[5])
  wake_first(KEYS[7], ARGV[7])
end
return {epoch}
"""
)

#: Polling by a job queue (``polling="queue"``): a project seen to leave the
#: active states frees its lease whichever process holds it, and is recorded
#: in the ended set for ARGV[7] us: the holder's heartbeat lets it go instead
#: of renewing it, and no older sighting adopts it again (until a bind).
#: KEYS[5] leases, [6] owners, [7] queue, [8] ended; ARGV[5] project,
#: [6] channel, [7] how long it is remembered (us).
RELEASE_SEEN: Final = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', n(now))
redis.call('ZADD', KEYS[8], n(now + tonumber(ARGV[7])), ARGV[5])
redis.call('HDEL', KEYS[6], ARGV[5])
if redis.call('ZREM', KEYS[5], ARGV[5]) > 0 then wake_first(KEYS[7], ARGV[6]) end
return {epoch}
"""
)

#: A project seen active: hold its slot unless a live process does (or it was
#: seen ended since: this sighting may be the older one).
#: KEYS[5] leases, [6] owners, [7] processes, [8] ended; ARGV[5] project,
#: [6] lease (us), [7] process. -> {epoch, 1 if ours now}
ADOPT: Final = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', n(now))
if ended(KEYS[8], ARGV[5]) then return {epoch, 0} end
local owner = redis.call('HGET', KEYS[6], ARGV[5])
if owner == ARGV[7] then return {epoch, 1} end
if owner and redis.call('ZSCORE', KEYS[5], ARGV[5])
   and tonumber(redis.call('ZSCORE', KEYS[7], owner) or '0') > now then
  return {epoch, 0}
end
redis.call('ZADD', KEYS[5], n(now + tonumber(ARGV[6])), ARGV[5])
redis.call('HSET', KEYS[6], ARGV[5], ARGV[7])
return {epoch, 1}
"""
)

#: The server counts ARGV[5] active projects. The known ones hold leases named
#: by their ids; placeholders beyond the others (there is no such project) end,
#: recorded in the ended set for their owner's heartbeat; the unknown ones
#: beyond the placeholders are held by unknown clients for ARGV[6] us (``f:``).
#: KEYS[5] leases, [6] queue, [7] owners, [8] ended placeholders; ARGV[7] tag,
#: [8] channel, [9] how long an ended placeholder is remembered (us).
#: -> {epoch, leases added, placeholders kept, ended placeholders...}
SYNC: Final = (
    _PRELUDE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', n(now))
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', n(now))
local members = redis.call('ZRANGE', KEYS[5], 0, -1)
local known, foreign, held = 0, 0, {}
for _, m in ipairs(members) do
  local kind = string.sub(m, 1, 2)
  if kind == 'p:' then held[#held + 1] = m
  elseif kind == 'f:' then foreign = foreign + 1
  elseif kind ~= 'r:' then known = known + 1 end
end
local unknown = math.max(0, tonumber(ARGV[5]) - known)
local kept = math.min(#held, unknown)
local answer = {epoch, 0, kept}
for i = kept + 1, #held do
  redis.call('ZREM', KEYS[5], held[i]); redis.call('HDEL', KEYS[7], held[i])
  redis.call('ZADD', KEYS[8], n(now + tonumber(ARGV[9])), held[i])
  answer[#answer + 1] = held[i]
end
local add = unknown - kept - foreign
for i = 1, add do
  redis.call('ZADD', KEYS[5], n(now + tonumber(ARGV[6])), 'f:' .. ARGV[7] .. ':' .. i)
end
answer[2] = math.max(0, add)
if #answer > 3 or tonumber(ARGV[5]) < #members then wake_first(KEYS[6], ARGV[8]) end
return answer
"""
)

#: The process lives: KEYS[5] processes, [6] leases, [7] owners, [8] request
#: log, [9] watch owners, [10] slot queue liveness, [11] ended leases.
#: ARGV[5] process, [6] liveness (us, of the process and of its queued slot
#: tickets), [7] slot lease (us), [8] in-flight hold (us), then counts and
#: lists: slots held, requests in flight, projects watched, slot tickets
#: queued, placeholders held (renewed unless a server count ended them; one
#: Redis forgot is registered again). A slot another live process owns (it
#: bound the project we adopted before its bind) is left to it, and one seen
#: ended (``RELEASE_SEEN``) let go. -> {epoch, placeholders in the fleet, kept
#: flags of the slots, owned flags of the watched projects..., kept flags of
#: the placeholders...}
HEARTBEAT: Final = (
    _PRELUDE
    + """
local me = ARGV[5]
redis.call('ZADD', KEYS[5], n(now + tonumber(ARGV[6])), me)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', n(now - 3600000000))
local owned = {epoch}
local i = 9
local count = tonumber(ARGV[i]); i = i + 1
for k = 1, count do
  local owner = redis.call('HGET', KEYS[7], ARGV[i])
  if ended(KEYS[11], ARGV[i]) then
    owned[#owned + 1] = 0
  elseif not owner or owner == me
         or tonumber(redis.call('ZSCORE', KEYS[5], owner) or '0') <= now then
    redis.call('ZADD', KEYS[6], n(now + tonumber(ARGV[7])), ARGV[i])
    redis.call('HSET', KEYS[7], ARGV[i], me)
    owned[#owned + 1] = 1
  else
    owned[#owned + 1] = 0
  end
  i = i + 1
end
count = tonumber(ARGV[i]); i = i + 1
for k = 1, count do
  redis.call('ZADD', KEYS[8], 'XX', 'GT', n(now + tonumber(ARGV[8])), 'i:' .. ARGV[i])
  i = i + 1
end
count = tonumber(ARGV[i]); i = i + 1
for k = 1, count do
  local owner = redis.call('HGET', KEYS[9], ARGV[i])
  if not owner or owner == me or tonumber(redis.call('ZSCORE', KEYS[5], owner) or '0') <= now then
    redis.call('HSET', KEYS[9], ARGV[i], me)
    owned[#owned + 1] = 1
  else
    owned[#owned + 1] = 0
  end
  i = i + 1
end
count = tonumber(ARGV[i]); i = i + 1
for k = 1, count do
  redis.call('ZADD', KEYS[10], 'XX', n(now + tonumber(ARGV[6])), ARGV[i])
  i = i + 1
end
count = tonumber(ARGV[i]); i = i + 1
for k = 1, count do
  if ended(KEYS[11], ARGV[i]) then
    owned[#owned + 1] = 0
  else
    redis.call('ZADD', KEYS[6], n(now + tonumber(ARGV[7])), ARGV[i])
    redis.call('HSET', KEYS[7], ARGV[i], me)
    owned[#owned + 1] = 1
  end
  i = i + 1
end
table.insert(owned, 2, placeholders(KEYS[6]))
return owned
"""
)

#: A watch ended: KEYS[5] watch owners; ARGV[5] project, [6] process.
UNWATCH: Final = (
    _PRELUDE
    + """
if redis.call('HGET', KEYS[5], ARGV[5]) == ARGV[6] then redis.call('HDEL', KEYS[5], ARGV[5]) end
return {epoch}
"""
)

#: Publish ARGV[6] on channel ARGV[5] (a shared answer, a relayed notify), in order
#: with the other queued writes.
PUBLISH: Final = (
    _PRELUDE
    + """
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {epoch}
"""
)

SCRIPTS: Final = (
    PUBLISH,
    ACQUIRE,
    RELEASE,
    PAUSE,
    RESERVE,
    DEQUEUE,
    BIND,
    RELEASE_SLOT,
    RELEASE_SEEN,
    ADOPT,
    SYNC,
    HEARTBEAT,
    UNWATCH,
)
