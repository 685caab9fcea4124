"""A Celery batch's state in Redis, where the submitter and every worker reach it.

Keys, under ``<prefix>:batch:{<batch id>}:`` (one hash tag: a Redis Cluster
keeps a batch on one node), all kept 30 days from the last write:

- ``meta`` (hash): the run's ``policy`` (JSON: out, mode, retries, reply) and
  ``stopping`` (``1``: a stop asked for; no new project is made);
- ``b:<index>`` (hash): the brief (``brief``, JSON) and its journal entry, the
  same facts as the SQLite journal's columns (``state``, ``project_id``,
  ``retries``, ``render_from``, ...), plus ``halted`` (why its chain ended
  without an outcome) and ``conflicts``; and its *chain*: ``gen``, the number
  of the step due now, ``outbox``, the task messages the last step sent, and
  ``sent``;
- ``waiting`` (list): briefs not started yet: at most ``concurrency`` run at
  once, and each brief that ends starts the next (as the local runner's
  limiter does);
- ``lock:<index>``: the step of the brief that runs now (it expires with the
  task's time limit, so a killed worker's lock goes by itself);
- ``events`` (stream): ``BriefUpdate``s, read by the submitter's progress.

A step is one task: ``begin`` (its number must be the brief's ``gen``: any
other is a stale or duplicate delivery and exits at once; then it takes the
lock, or is told the brief is busy), the work (facts recorded as soon as they
are known, as the journal does), then ``advance``: atomically, ``gen`` moves
on and ``outbox`` holds the next messages (and, for a brief that ended, the
start of the next waiting brief) with ``sent`` 0. The task sends them and
sets ``sent``. A worker killed between the two leaves ``sent`` 0: the task's
redelivery (``acks_late``) finds its step done and sends the outbox again.
A message can also be lost outright: the Redis transport takes it off the
queue before it records it as unacknowledged, and a worker killed in that
instant takes it along. The submitter, while it follows the batch, sends the
``next`` messages of a chain that has not moved for longer than its step
could take (``stalled``); the next run starts every open chain afresh. So a
brief's chain never breaks and never forks for good: a duplicate message is
one step behind, or the same step, and exits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, cast

import attrs
from redis import Redis

from videoagent.batch import Brief, BriefUpdate, JournalEntry, JournalMismatchError
from videoagent.batch._journal import COLUMNS, entry_from_row, idempotency_key

__all__ = ["BatchStore", "Begin", "Message", "Policy"]

#: Seconds every key of a batch is kept after its last write.
_KEEP = 30 * 24 * 3600
#: Progress events kept (the oldest are trimmed; the submitter also reads the states).
_EVENTS = 100_000
#: Fields of a brief's hash besides its journal columns.
_EXTRA = frozenset({"halted", "conflicts"})
_INTS = frozenset({"idx", "retries", "replies", "size", "conflicts"})

#: Redis's clock, in seconds (every machine's scripts agree on it).
_NOW = """
local t = redis.call('TIME')
local now = string.format('%.3f', tonumber(t[1]) + tonumber(t[2]) / 1000000)
"""

#: -> {'run', policy, stopping, hash fields...} | {'stale'} | {'busy'} |
#: {'resend', outbox} | {'gone'}. KEYS[1] brief, [2] its lock, [3] meta;
#: ARGV[1] step (gen), [2] lock token, [3] lock ms ('' none).
_BEGIN = """
local f = redis.call('HMGET', KEYS[1], 'gen', 'sent', 'outbox')
if not f[1] then return {'gone'} end
local gen, mine = tonumber(f[1]), tonumber(ARGV[1])
if mine == gen - 1 and f[2] == '0' then return {'resend', f[3]} end
if mine ~= gen then return {'stale'} end
if ARGV[3] ~= '' and not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {'busy'}
end
local meta = redis.call('HMGET', KEYS[3], 'policy', 'stopping')
local out = {'run', meta[1] or '', meta[2] or '0'}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
"""

#: The step ran: -> the outbox (JSON), or false if the chain moved on meanwhile.
#: Its lock goes either way. KEYS[1] brief, [2] waiting, [3] meta, [4] its lock;
#: ARGV[1] step, [2] its next messages (JSON list), [3] '1' the brief ended (the
#: next waiting brief starts), [4] the brief key prefix, [5] the start task's
#: name, [6] batch id, [7] keep (s), [8] the lock's token.
_ADVANCE = (
    _NOW
    + """
if redis.call('GET', KEYS[4]) == ARGV[8] then redis.call('DEL', KEYS[4]) end
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '-1')
if gen ~= tonumber(ARGV[1]) then return false end
local out = cjson.decode(ARGV[2])
if ARGV[3] == '1' and redis.call('HGET', KEYS[3], 'stopping') ~= '1' then
  local nxt = redis.call('LPOP', KEYS[2])
  if nxt then
    local key = ARGV[4] .. nxt
    local g = redis.call('HINCRBY', key, 'gen', 1)
    local start = {task = ARGV[5], countdown = 0,
                   kwargs = {batch_id = ARGV[6], index = tonumber(nxt), gen = g}}
    redis.call('HSET', key, 'sent', '1', 'next', cjson.encode({start}), 'moved', now)
    out[#out + 1] = start
  end
end
local encoded = '[]'
if #out > 0 then encoded = cjson.encode(out) end
redis.call('HSET', KEYS[1], 'gen', gen + 1, 'outbox', encoded, 'sent', '0', 'next', ARGV[2],
           'moved', now)
redis.call('EXPIRE', KEYS[1], ARGV[7])
return encoded
"""
)

#: A started brief's chain seems stalled (its message lost with a killed worker):
#: -> its next messages to send again (JSON), or false if it moved meanwhile.
#: KEYS[1] brief; ARGV[1] step, [2] when it was last moved on (as read).
_NUDGE = (
    _NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'gen', 'moved', 'next')
if f[1] ~= ARGV[1] or f[2] ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], 'moved', now)
return f[3] or '[]'
"""
)

#: The outbox of step ARGV[1] - 1 is sent: KEYS[1] brief.
_SENT = """
if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then redis.call('HSET', KEYS[1], 'sent', '1') end
return 1
"""

#: Let go of a brief's lock if it is still ours: KEYS[1] lock; ARGV[1] token.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

#: A run begins: every open brief's chain starts afresh (a new step number: the
#: old chain's messages are stale), the first ``concurrency`` at once, the rest
#: waiting. KEYS[1] meta, [2] waiting; ARGV[1] concurrency, [2] brief key prefix,
#: [3] start task, [4] batch id, [5] keep (s), [6...] open indexes in order.
#: -> the start messages (JSON).
_OPEN = (
    _NOW
    + """
redis.call('HSET', KEYS[1], 'stopping', '0')
redis.call('DEL', KEYS[2])
local out = {}
for i = 6, #ARGV do
  local key = ARGV[2] .. ARGV[i]
  local g = redis.call('HINCRBY', key, 'gen', 1)
  local next = '[]'
  if i - 5 <= tonumber(ARGV[1]) then
    local start = {task = ARGV[3], countdown = 0,
                   kwargs = {batch_id = ARGV[4], index = tonumber(ARGV[i]), gen = g}}
    out[#out + 1] = start
    next = cjson.encode({start})
  else
    redis.call('RPUSH', KEYS[2], ARGV[i])
  end
  redis.call('HSET', key, 'sent', '1', 'next', next, 'moved', now)
  redis.call('EXPIRE', key, ARGV[5])
end
redis.call('EXPIRE', KEYS[2], ARGV[5])
if #out == 0 then return '[]' end
return cjson.encode(out)
"""
)


@attrs.frozen
class Policy:
    """How a batch runs each brief (what ``videoagent batch`` was given)."""

    out: str
    mode: str | None = None
    retries: int = 2
    reply: str = "Looks good: go ahead."

    def to_json(self) -> str:
        """The policy as stored in ``meta``."""
        return json.dumps(attrs.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Policy:
        """The policy ``to_json`` wrote."""
        return cls(**json.loads(text))


@attrs.frozen
class Message:
    """A task message of a chain: the task's name, its keyword arguments, its countdown."""

    task: str
    kwargs: dict[str, Any]
    countdown: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """As stored in an outbox."""
        return {"task": self.task, "kwargs": self.kwargs, "countdown": self.countdown}


def _messages(encoded: str | None) -> list[Message]:
    data = json.loads(encoded or "[]")
    if not isinstance(data, list):  # cjson writes an empty list as {}
        return []
    return [Message(m["task"], dict(m["kwargs"]), float(m.get("countdown") or 0)) for m in data]


@attrs.frozen
class Due:
    """A step that runs: its brief, the brief's entry now, the run's policy, whether a
    stop was asked for, and the conflicting answers (409) in a row it has met."""

    brief: Brief
    entry: JournalEntry
    policy: Policy
    stopping: bool = False
    conflicts: int = 0


@attrs.frozen
class Begin:
    """What ``BatchStore.begin`` found: ``run`` (the lock is ours: ``due``), ``stale``
    (exit), ``busy`` (another delivery runs this step), ``resend`` (this step ran;
    its messages were maybe not sent: ``outbox``), ``gone`` (no such brief)."""

    outcome: Literal["run", "stale", "busy", "resend", "gone"]
    outbox: tuple[Message, ...] = ()
    due: Due | None = None


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _typed(fields: Mapping[str, str]) -> dict[str, Any]:
    """A brief's hash as the journal's row types (ints, a bool, None for missing)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    for name, value in fields.items():
        row[name] = int(value) if name in _INTS else value
    row["rendered"] = fields.get("rendered") == "1"
    for name in ("retries", "replies"):
        row[name] = row.get(name) or 0
    return row


class BatchStore:
    """One batch's state in Redis (see the module docstring); blocking calls.

    Example::

        store = BatchStore(Redis.from_url(url, decode_responses=True), "launch-42")
        entries = store.register(briefs)
    """

    def __init__(self, redis: Redis, batch_id: str, *, prefix: str = "videoagent") -> None:
        self.redis = redis
        self.batch_id = batch_id
        self._prefix = f"{prefix}:batch:{{{batch_id}}}:"
        self._begin = redis.register_script(_BEGIN)
        self._advance = redis.register_script(_ADVANCE)
        self._sent = redis.register_script(_SENT)
        self._unlock = redis.register_script(_UNLOCK)
        self._open = redis.register_script(_OPEN)
        self._nudge = redis.register_script(_NUDGE)

    def __repr__(self) -> str:
        return f"<BatchStore batch_id={self.batch_id!r}>"

    def key(self, name: str) -> str:
        """The Redis key ``name`` of this batch."""
        return self._prefix + name

    def _brief_key(self, index: int) -> str:
        return self.key(f"b:{index}")

    @property
    def where(self) -> str:
        """Where the batch's state is, for the summary: ``redis://host:port/db <prefix>``."""
        kwargs = self.redis.connection_pool.connection_kwargs
        if "path" in kwargs:
            location = f"unix://{kwargs['path']}"
        else:
            location = f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
        return f"{location} {self._prefix}*"

    # -- the submitter -----------------------------------------------------------------

    def register(self, briefs: Sequence[Brief]) -> list[JournalEntry]:
        """Record every brief not recorded yet; each brief's entry (as the journal's
        ``register``: a brief whose index holds other text raises
        ``JournalMismatchError``)."""
        keys = [idempotency_key(self.batch_id, b.index, b.text) for b in briefs]
        pipe = self.redis.pipeline(transaction=False)
        for brief in briefs:
            pipe.hmget(self._brief_key(brief.index), ["key", "file_name", "brief"])
        known = pipe.execute()
        pipe = self.redis.pipeline(transaction=False)
        for brief, key, (old_key, old_name, old_brief) in zip(briefs, keys, known, strict=True):
            if old_key is None:
                pipe.hsetnx(self._brief_key(brief.index), "key", key)
                pipe.hset(
                    self._brief_key(brief.index),
                    mapping={
                        "idx": brief.index,
                        "file_name": brief.file_name,
                        "brief": _brief_json(brief),
                        "state": "pending",
                        "gen": 0,
                        "sent": 1,
                    },
                )
            elif old_key != key or old_name != brief.file_name:
                where = brief.source or f"brief {brief.index + 1}"
                shown = str(json.loads(old_brief or "{}").get("text", ""))[:60]
                raise JournalMismatchError(
                    f"{where} is not the brief batch {self.batch_id} recorded at this place "
                    f"({shown!r} -> {old_name}); write the changed batch to another folder, "
                    "or restore the input"
                )
            pipe.expire(self._brief_key(brief.index), _KEEP)
        pipe.execute()
        return self.entries([b.index for b in briefs])

    def entries(self, indexes: Iterable[int]) -> list[JournalEntry]:
        """The briefs' entries now."""
        return [entry_from_row(_typed(fields)) for fields in self._hashes(indexes)]

    def halted(self, indexes: Iterable[int]) -> list[str | None]:
        """Why each brief's chain ended without an outcome (``None``: it did not)."""
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            pipe.hget(self._brief_key(index), "halted")
        return list(pipe.execute())

    def _hashes(self, indexes: Iterable[int]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            pipe.hgetall(self._brief_key(index))
        return list(pipe.execute())

    def open_run(
        self, policy: Policy, opened: Sequence[JournalEntry], *, concurrency: int, start: str
    ) -> list[Message]:
        """Begin a run of ``opened`` (in order): a failed brief gets its retries afresh,
        each chain starts afresh; the messages that start the first ``concurrency``."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.key("meta"), "policy", policy.to_json())
        pipe.expire(self.key("meta"), _KEEP)
        for entry in opened:
            key = self._brief_key(entry.index)
            pipe.hdel(key, "halted", "conflicts")
            if entry.state == "failed":  # a new run: its retries afresh
                state = "created" if entry.project_id else "pending"
                pipe.hset(key, mapping={"state": state, "retries": 0})
                pipe.hdel(key, "retry_from", "error", "request_id")
        pipe.execute()
        args: list[str | int] = [concurrency, self.key("b:"), start, self.batch_id, _KEEP]
        encoded = self._open(
            keys=[self.key("meta"), self.key("waiting")], args=[*args, *(e.index for e in opened)]
        )
        return _messages(encoded)

    def stop(self) -> None:
        """No new project: steps that would create one end their brief (``halted``), and
        waiting briefs do not start. Projects made go on to their videos."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("meta"), "stopping", "1")
        pipe.delete(self.key("waiting"))
        pipe.execute()

    def waiting(self) -> list[int]:
        """Briefs not started yet."""
        return [int(i) for i in self.redis.lrange(self.key("waiting"), 0, -1)]

    def stalled(
        self, indexes: Sequence[int], patience: Callable[[Message], float]
    ) -> list[Message]:
        """The next messages of started briefs whose chain has not moved for longer than
        ``patience(message)`` real seconds: lost (the Redis transport takes a message
        off the queue before it records it as unacknowledged, so a worker killed in
        that instant loses it). Sending them again is safe: a copy is a duplicate."""
        waiting = set(self.waiting())
        started = [i for i in indexes if i not in waiting]
        pipe = self.redis.pipeline(transaction=False)
        for index in started:
            pipe.hmget(self._brief_key(index), ["gen", "moved", "next", "sent", "state"])
        rows = pipe.execute()
        seconds, micros = self.redis.time()
        now = seconds + micros / 1e6
        again: list[Message] = []
        for index, (gen, moved, pending, sent, state) in zip(started, rows, strict=True):
            if gen is None or moved is None or sent != "1" or state in ("done", "failed"):
                continue
            messages = _messages(pending)
            if not messages or now - float(moved) <= max(patience(m) for m in messages):
                continue
            nudged = self._nudge(keys=[self._brief_key(index)], args=[gen, moved])
            if nudged is not None:
                again.extend(_messages(nudged))
        return again

    def read_events(self, after: str, block: float) -> tuple[str, list[BriefUpdate]]:
        """Progress since the event ``after``, waiting up to ``block`` seconds for one;
        the last event's id and the updates."""
        answer = cast(
            "list[tuple[str, list[tuple[str, dict[str, str]]]]]",
            self.redis.xread({self.key("events"): after}, count=1000, block=int(block * 1000)),
        )
        updates: list[BriefUpdate] = []
        for _stream, items in answer or []:
            for event_id, fields in items:
                after = event_id
                updates.append(
                    BriefUpdate(
                        int(fields["i"]),
                        fields["n"],
                        fields["s"],
                        fields.get("p") or None,
                        fields.get("d") or None,
                    )
                )
        return after, updates

    def last_event(self) -> str:
        """The id of the newest progress event (``"0-0"``: none yet)."""
        last = cast("list[tuple[str, object]]", self.redis.xrevrange(self.key("events"), count=1))
        return last[0][0] if last else "0-0"

    # -- the workers ---------------------------------------------------------------------

    def begin(self, index: int, gen: int, token: str, lock: float | None) -> Begin:
        """May step ``gen`` of the brief run (``lock``: seconds its lock lasts)?"""
        answer = self._begin(
            keys=[self._brief_key(index), self.key(f"lock:{index}"), self.key("meta")],
            args=[gen, token, "" if lock is None else int(lock * 1000)],
        )
        outcome = answer[0]
        if outcome == "resend":
            return Begin(outcome, tuple(_messages(answer[1])))
        if outcome != "run":
            return Begin(outcome)
        if not answer[1]:
            raise LookupError(f"batch {self.batch_id} has no run in Redis")
        fields = dict(zip(answer[3::2], answer[4::2], strict=True))
        due = Due(
            _brief_from_json(fields["brief"]),
            entry_from_row(_typed(fields)),
            Policy.from_json(answer[1]),
            stopping=answer[2] == "1",
            conflicts=int(fields.get("conflicts") or 0),
        )
        return Begin("run", due=due)

    def record(self, index: int, **fields: Any) -> None:
        """Record facts of a brief (the journal's columns, ``halted``, ``conflicts``);
        ``None`` removes one."""
        unknown = set(fields) - COLUMNS - _EXTRA
        if unknown:
            raise ValueError(f"not fields of a brief: {sorted(unknown)}")
        key = self._brief_key(index)
        pipe = self.redis.pipeline(transaction=True)
        values: dict[Any, str] = {name: _encode(v) for name, v in fields.items() if v is not None}
        if values:
            pipe.hset(key, mapping=values)
        gone = [name for name, v in fields.items() if v is None]
        if gone:
            pipe.hdel(key, *gone)
        pipe.expire(key, _KEEP)
        pipe.execute()

    def event(self, update: BriefUpdate) -> None:
        """A progress event for the submitter."""
        self.redis.xadd(
            self.key("events"),
            {
                "i": update.index,
                "n": update.name,
                "s": update.state,
                "p": update.project_id or "",
                "d": update.detail or "",
                "t": f"{time.time():.3f}",
            },
            maxlen=_EVENTS,
            approximate=True,
        )

    def advance(
        self,
        index: int,
        gen: int,
        messages: Sequence[Message],
        *,
        ended: bool,
        start: str,
        token: str = "",
    ) -> list[Message] | None:
        """Step ``gen`` is done (its lock, ``token``'s, goes): the chain moves on to
        ``messages`` (and, when the brief ``ended``, the next waiting brief's start).
        The outbox to send, or ``None`` when the chain had moved on already (a stale
        duplicate: send nothing)."""
        encoded = self._advance(
            keys=[
                self._brief_key(index),
                self.key("waiting"),
                self.key("meta"),
                self.key(f"lock:{index}"),
            ],
            args=[
                gen,
                json.dumps([m.to_dict() for m in messages]),
                "1" if ended else "0",
                self.key("b:"),
                start,
                self.batch_id,
                _KEEP,
                token,
            ],
        )
        return None if encoded is None else _messages(encoded)

    def sent(self, index: int, gen: int) -> None:
        """The outbox of the step before ``gen`` is sent."""
        self._sent(keys=[self._brief_key(index)], args=[gen])

    def unlock(self, index: int, token: str) -> None:
        """The step is over: its lock goes (if it is still this step's)."""
        self._unlock(keys=[self.key(f"lock:{index}")], args=[token])


def _brief_json(brief: Brief) -> str:
    return json.dumps(
        {
            "text": brief.text,
            "name": brief.name,
            "mode": brief.mode,
            "metadata": None if brief.metadata is None else dict(brief.metadata),
            "render": brief.render,
            "index": brief.index,
            "source": brief.source,
        }
    )


def _brief_from_json(text: str) -> Brief:
    data = json.loads(text)
    return Brief(
        data["text"],
        data.get("name"),
        data.get("mode"),
        data.get("metadata"),
        data.get("render"),
        int(data["index"]),
        data.get("source"),
    )
