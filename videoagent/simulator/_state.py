"""Accounts and their keys: creation, lookup by secret, daily counters."""

from __future__ import annotations

from ._clock import Clock
from ._ids import IdFactory
from ._model import Account, ApiKey, Project
from ._ratelimit import SlidingWindow
from ._settings import Settings

__all__ = ["KeyLimitError", "Registry"]


class KeyLimitError(Exception):
    """The account already has its maximum of active keys."""


class Registry:
    """Every account, key and project of one simulator; all lookups O(1)."""

    def __init__(self, settings: Settings, clock: Clock, ids: IdFactory) -> None:
        self._settings = settings
        self._clock = clock
        self._ids = ids
        self.accounts: dict[str, Account] = {}
        self._by_secret: dict[str, tuple[Account, ApiKey]] = {}
        self.projects: dict[str, Project] = {}

    def add_account(
        self, *, credits: int, plan: str, webhook_secret: str, api_key: str | None = None
    ) -> tuple[Account, str]:
        """Create an account with one key (``api_key``, or a new one); return both."""
        if plan not in ("free", "pro"):
            raise ValueError(f"plan must be 'free' or 'pro', got {plan!r}")
        if api_key is not None and api_key in self._by_secret:
            raise ValueError("that API key already belongs to an account")
        settings = self._settings
        window = (
            SlidingWindow(settings.request_limit, self._clock.scaled(settings.request_window))
            if settings.request_limit is not None
            else None
        )
        account = Account(
            id=self._ids.make("acct"),
            plan=plan,
            credits=credits,
            webhook_secret=webhook_secret,
            window=window,
        )
        self.accounts[account.id] = account
        key = self.add_key(account, name="default", secret=api_key)
        return account, key.secret

    def add_key(self, account: Account, *, name: str, secret: str | None = None) -> ApiKey:
        """A new active key of ``account``; :class:`KeyLimitError` past ``max_keys``."""
        if len(account.active_keys()) >= self._settings.max_keys:
            raise KeyLimitError(
                f"an account can have at most {self._settings.max_keys} active keys"
            )
        key = ApiKey(
            id=self._ids.make("key"),
            name=name,
            secret=secret if secret is not None else self._ids.secret(),
            created_at=self._clock.unix(),
        )
        account.keys[key.id] = key
        self._by_secret[key.secret] = (account, key)
        return key

    def revoke(self, account: Account, key_id: str) -> bool:
        """Revoke one of the account's keys; False when there is no such active key."""
        key = account.keys.get(key_id)
        if key is None or key.revoked:
            return False
        key.revoked = True
        del self._by_secret[key.secret]
        return True

    def authenticate(self, secret: str) -> tuple[Account, ApiKey] | None:
        """The account and key of an active ``secret``."""
        return self._by_secret.get(secret)

    def account_of(self, secret: str) -> Account:
        """The account an active key belongs to (``KeyError`` if none)."""
        return self._by_secret[secret][0]

    def roll_day(self, account: Account) -> None:
        """Reset the account's daily counters if a contract day has ended."""
        day = self._clock.day()
        if account.day != day:
            account.day = day
            account.projects_today = 0
            account.renders_today = 0

    def forget_idempotency(self, account: Account, now: float) -> None:
        """Drop the account's idempotency keys older than ``idempotency_ttl``."""
        horizon = now - self._clock.scaled(self._settings.idempotency_ttl)
        order, entries = account.idempotency_order, account.idempotency
        while order:
            entry = entries.get(order[0])
            if entry is not None and entry.at > horizon:
                break
            key = order.popleft()
            if entry is not None and entry.at <= horizon:
                del entries[key]
