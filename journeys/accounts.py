"""Which seeded account each simulated user logs in as, and the client address it claims.

The service's seeder creates accounts in a documented, deterministic pattern
(``homeowner{n}@seed.example``, password ``launch-day-password``), so a load generator needs
no shared file to log in as distinct people. What it does need is a numbering that stays
distinct across every process of a distributed swarm. Locust numbers its workers
(``runner.worker_index``, 0..K-1 as they connect); the master tells every worker how many
indexes it has handed out (``stride``). Worker ``w`` then owns the account numbers

    w, w + stride, w + 2*stride, ...

and gives its i-th live user of a persona the i-th of them. Numbers are *slots*: a user that
stops gives its slot back, so a load that goes down and up again (the day-one curve) reuses the
same accounts instead of running past the seeded ones. If a persona has more live users than
seeded accounts, numbers wrap around (two sessions then share an account) and
:attr:`AccountPool.wrapped` says so.

Each account also claims its own client address in ``X-Forwarded-For`` so the service's
per-address limits apply per simulated person, not to the whole swarm behind 127.0.0.1. The
address is a pure function of (persona, account number) inside 10.0.0.0/8: it is only a header
value, no packet ever goes there.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from models.catalogue import PERSONAS, PersonaName

EMAIL_DOMAIN = "seed.example"
FIRST_ACCOUNT_NUMBER = 0
"""The seeder numbers accounts of each role from 0 (``homeowner0@seed.example``)."""

_PERSONA_BITS = 22
"""Account numbers below 2**22 (4.19 million per persona) map to distinct addresses."""


def account_email(persona: PersonaName, number: int) -> str:
    """``account_email("contractor", 7)`` -> ``"contractor7@seed.example"``."""
    if number < FIRST_ACCOUNT_NUMBER:
        raise ValueError(f"account number {number} is below {FIRST_ACCOUNT_NUMBER}")
    return f"{persona}{number}@{EMAIL_DOMAIN}"


def client_address(persona: PersonaName, number: int) -> str:
    """A distinct 10.x.y.z per (persona, account number), e.g. contractor 7 -> 10.64.0.7."""
    if not 0 <= number < 2**_PERSONA_BITS:
        raise ValueError(f"account number {number} does not fit in {_PERSONA_BITS} bits")
    value = (PERSONAS.index(persona) << _PERSONA_BITS) | number
    return f"10.{(value >> 16) & 0xFF}.{(value >> 8) & 0xFF}.{value & 0xFF}"


@dataclass(frozen=True, slots=True)
class Account:
    persona: PersonaName
    number: int
    slot: int

    @property
    def email(self) -> str:
        return account_email(self.persona, self.number)

    @property
    def address(self) -> str:
        return client_address(self.persona, self.number)


class AccountPool:
    """Hands out account numbers to one process's users of one persona.

    >>> pool = AccountPool("homeowner", seeded=100)
    >>> pool.configure(worker_index=1, stride=3)
    >>> [pool.acquire().number for _ in range(3)]
    [2, 5, 8]
    """

    def __init__(self, persona: PersonaName, seeded: int) -> None:
        if seeded < 1:
            raise ValueError(f"{persona}: seeded account count {seeded} must be >= 1")
        self.persona = persona
        self.seeded = seeded
        self.worker_index = 0
        self.stride = 1
        self.wrapped = False
        self._free: list[int] = []  # released slots, smallest first (a heap)
        self._next_slot = 0

    def configure(self, worker_index: int, stride: int) -> None:
        """Set this process's place in the swarm (before any user starts)."""
        if stride < 1 or not 0 <= worker_index < stride:
            raise ValueError(f"worker_index {worker_index} must be in [0, stride={stride})")
        self.worker_index = worker_index
        self.stride = stride

    def acquire(self) -> Account:
        """The lowest free slot's account."""
        if self._free:
            slot = heapq.heappop(self._free)
        else:
            slot = self._next_slot
            self._next_slot += 1
        offset = self.worker_index + slot * self.stride
        if offset >= self.seeded:
            self.wrapped = True
        number = FIRST_ACCOUNT_NUMBER + offset % self.seeded
        return Account(self.persona, number, slot)

    def release(self, account: Account) -> None:
        heapq.heappush(self._free, account.slot)

    @property
    def live(self) -> int:
        return self._next_slot - len(self._free)
