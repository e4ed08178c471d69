"""What to seed: `SeedPlan`, the counts, and the deterministic account pattern.

Accounts (load generators log in as distinct users without a shared file)::

    homeowner{n}@seed.example    n = 0 .. homeowners - 1
    contractor{n}@seed.example   n = 0 .. contractors - 1
    operator{n}@seed.example     n = 0 .. operators - 1
    password: launch-day-password (all of them)

Account n of a role lives in territory ``(n % territories) + 1``; contractor n is ``pro`` when
``n % 5 == 0`` and available for work unless ``n % 3 == 2``. Job ``j`` belongs to homeowner
``j % homeowners`` (so homeowner n owns a job whenever ``n < jobs``); the newest half of the
jobs are open, and job ``j``'s first bid comes from contractor ``j`` (when there is one in its
territory), who also shares the job's first message thread with its owner. So homeowner n and
contractor n for small n always have an open job with active bids and a thread to read.
"""

from __future__ import annotations

from dataclasses import dataclass

SEED_PASSWORD = "launch-day-password"  # noqa: S105 (documented synthetic accounts)
EMAIL_DOMAIN = "seed.example"

#: The launch's volumes (per day; models/default_profile.toml, docs/api.md "Seeded accounts")
#: and the history the seeder fills at scale 1.0.
USERS_AT_SCALE_1 = 400_000
ROLE_SPLIT = (0.60, 0.35, 0.05)
TERRITORIES = 50
JOBS_PER_DAY = 1_500
BIDS_PER_JOB = 5  # 7,500 bids / 1,500 jobs
MESSAGES_PER_JOB = 10  # 15,000 messages / 1,500 jobs
HISTORY_DAYS = 30


def seed_email(role: str, n: int) -> str:
    """The e-mail of seeded account ``n`` of ``role`` (``homeowner3@seed.example``)."""
    return f"{role}{n}@{EMAIL_DOMAIN}"


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """Explicit counts of everything the seeder creates, and the random seed.

    >>> SeedPlan.for_scale(0.01).homeowners
    2400
    """

    homeowners: int
    contractors: int
    operators: int
    territories: int
    jobs: int
    bids_per_job: int
    threads: int
    messages_per_thread: int
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("homeowners", "contractors", "territories"):
            if getattr(self, name) < 1:
                raise ValueError(f"SeedPlan.{name} = {getattr(self, name)}: must be at least 1")
        for name in ("operators", "jobs", "bids_per_job", "threads", "messages_per_thread"):
            if getattr(self, name) < 0:
                raise ValueError(f"SeedPlan.{name} = {getattr(self, name)}: must not be negative")
        if self.bids_per_job > self.contractors:
            raise ValueError(
                f"SeedPlan.bids_per_job = {self.bids_per_job}: more than the "
                f"{self.contractors} contractors (each bids at most once per job)"
            )
        if self.threads > self.jobs * max(self.bids_per_job, 1) or (
            self.threads and not self.bids_per_job
        ):
            raise ValueError(
                f"SeedPlan.threads = {self.threads}: at most jobs x bids_per_job "
                f"= {self.jobs * self.bids_per_job} (a thread is with a bidder)"
            )

    @classmethod
    def for_scale(cls, scale: float, seed: int = 42) -> SeedPlan:
        """The plan for ``scale`` times the launch: 400,000 users and 30 days of business.

        At 1.0: 240,000 homeowners, 140,000 contractors, 20,000 operators, 50 territories,
        45,000 jobs (1,500 a day), 5 bids per job (7,500 a day), one thread per job with 10
        messages (15,000 a day).
        """
        if not 0 < scale <= 100:
            raise ValueError(f"scale {scale}: must be in (0, 100]")
        users = round(USERS_AT_SCALE_1 * scale)
        homeowners = max(1, round(users * ROLE_SPLIT[0]))
        contractors = max(BIDS_PER_JOB, round(users * ROLE_SPLIT[1]))
        operators = max(1, users - homeowners - contractors)
        jobs = max(1, round(JOBS_PER_DAY * HISTORY_DAYS * scale))
        return cls(
            homeowners=homeowners,
            contractors=contractors,
            operators=operators,
            territories=TERRITORIES,
            jobs=jobs,
            bids_per_job=BIDS_PER_JOB,
            threads=jobs,
            messages_per_thread=MESSAGES_PER_JOB,
            seed=seed,
        )

    @property
    def users(self) -> int:
        """All accounts."""
        return self.homeowners + self.contractors + self.operators

    # Ids are assigned in blocks, so every reference is computed, never looked up.
    def homeowner_id(self, n: int) -> int:
        """Database id of homeowner n."""
        return n + 1

    def contractor_id(self, n: int) -> int:
        """Database id of contractor n."""
        return self.homeowners + n + 1

    def operator_id(self, n: int) -> int:
        """Database id of operator n."""
        return self.homeowners + self.contractors + n + 1

    def territory_of(self, n: int) -> int:
        """Territory id of account n of any role."""
        return n % self.territories + 1

    def job_owner(self, j: int) -> int:
        """Homeowner index owning job j."""
        return j % self.homeowners

    def job_is_open(self, j: int) -> bool:
        """The newest half of the jobs (small j) are still open."""
        return j < (self.jobs + 1) // 2

    def bidder(self, j: int, k: int) -> int:
        """Contractor index of the k-th bid on job j: distinct per job, same territory if possible.

        Contractors of territory r are ``m * territories + r``; bid k takes m = j // T + k, so
        bid 0 on job j comes from contractor j itself while j is in range.
        """
        per_territory = self.contractors // self.territories
        if per_territory >= self.bids_per_job:
            r = self.job_owner(j) % self.territories
            return ((j // self.territories + k) % per_territory) * self.territories + r
        return (j + k) % self.contractors
