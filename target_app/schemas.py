"""Request and response bodies (pydantic).

Request models forbid unknown fields and list exactly what a caller may set: a client cannot
slip ``status``, ``homeowner_id`` or ``tier`` into a create or update (no mass assignment).
Text fields refuse NUL characters and lone surrogates, which PostgreSQL and UTF-8 encoders
would otherwise turn into 500s; numbers have bounds that fit the database's 32-bit integers.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from target_app.models import BidStatus, JobStatus, Role, Tier

MAX_INT = 2**31 - 1
T = TypeVar("T")
MAX_MONEY = 10_000_000


class Category(enum.StrEnum):
    """Trades a job can be posted under."""

    plumbing = "plumbing"
    electrical = "electrical"
    roofing = "roofing"
    painting = "painting"
    landscaping = "landscaping"
    hvac = "hvac"
    carpentry = "carpentry"
    cleaning = "cleaning"
    flooring = "flooring"
    remodeling = "remodeling"


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def _text(min_length: int, max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


Title = Annotated[str, _text(3, 200), AfterValidator(_storable)]
Description = Annotated[str, _text(1, 5000), AfterValidator(_storable)]
MessageBody = Annotated[str, _text(1, 5000), AfterValidator(_storable)]
BidMessage = Annotated[str, _text(0, 2000), AfterValidator(_storable)]
Money = Annotated[int, Field(ge=0, le=MAX_MONEY)]
ObjectIdField = Annotated[int, Field(ge=1, le=MAX_INT)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Request):
    """Credentials for ``POST /auth/login``."""

    email: Annotated[str, _text(3, 254), AfterValidator(_storable)]
    password: Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_storable)]


class UserBrief(BaseModel):
    """Who the token belongs to."""

    id: int
    role: Role
    tier: Tier
    territory_id: int


class LoginResponse(BaseModel):
    """A bearer token and its owner."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int
    user: UserBrief


class UserOut(UserBrief):
    """The caller's own profile (``GET /me``)."""

    email: str
    display_name: str
    available: bool
    referred_by: int | None
    referrals: int = Field(description="Accounts this user referred.")
    created_at: datetime


class TerritoryOut(BaseModel):
    """A market area."""

    id: int
    code: str
    name: str
    state: str


class JobSummary(BaseModel):
    """A job as listed on the job board."""

    id: int
    title: str
    category: str
    budget: int
    urgent: bool
    status: JobStatus
    territory_id: int
    homeowner_id: int
    created_at: datetime
    bid_count: int = Field(description="Bids received, withdrawn ones excluded.")


class JobDetail(JobSummary):
    """A job with everything about it."""

    description: str
    awarded_bid_id: int | None
    updated_at: datetime


class JobCreate(_Request):
    """A new job. It is posted in the homeowner's own territory."""

    title: Title
    description: Description
    category: Category
    budget: Money
    urgent: bool = False


class JobUpdate(_Request):
    """Changes to an open job. ``status`` may only become ``closed`` (cancel the job)."""

    title: Title | None = None
    description: Description | None = None
    category: Category | None = None
    budget: Money | None = None
    urgent: bool | None = None
    status: Literal["closed"] | None = None


class AwardRequest(_Request):
    """Which bid wins the job."""

    bid_id: ObjectIdField


#: The longest photo upload in base64 characters (about 700 KiB of image; bodies stop at 1 MiB).
MAX_PHOTO_BASE64 = 960_000


class PhotoUpload(_Request):
    """A photo of a job: a file name and the image bytes, base64-encoded."""

    filename: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,80}\.(jpg|jpeg|png|webp)$"),
        Field(
            description="A plain file name: letters, digits, `_`, `-`; .jpg, .jpeg, .png, .webp."
        ),
    ]
    content_base64: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Za-z0-9+/]+={0,2}$"),
        Field(min_length=4, max_length=MAX_PHOTO_BASE64, description="The image, base64."),
    ]


class PhotoOut(BaseModel):
    """A stored photo of a job."""

    job_id: int
    filename: str
    url: str
    size: int
    """Bytes stored."""


class BidCreate(_Request):
    """A contractor's offer."""

    amount: Money
    message: BidMessage = ""


class BidUpdate(_Request):
    """Changes to an active bid."""

    amount: Money | None = None
    message: BidMessage | None = None


class BidOut(BaseModel):
    """A bid."""

    id: int
    job_id: int
    contractor_id: int
    amount: int
    message: str
    status: BidStatus
    created_at: datetime
    updated_at: datetime


class ThreadCreate(_Request):
    """Open a conversation about a job.

    A contractor names only the job (the other side is its homeowner); the job's homeowner
    names the contractor too.
    """

    job_id: ObjectIdField
    contractor_id: ObjectIdField | None = None


class ThreadOut(BaseModel):
    """A conversation between a homeowner and a contractor about a job."""

    id: int
    job_id: int
    homeowner_id: int
    contractor_id: int
    created_at: datetime
    last_message_at: datetime


class MessageCreate(_Request):
    """A message to post in a thread."""

    body: MessageBody


class MessageOut(BaseModel):
    """One message."""

    id: int
    thread_id: int
    sender_id: int
    body: str
    created_at: datetime


class ContractorOut(BaseModel):
    """A contractor as homeowners discover them."""

    id: int
    display_name: str
    tier: Tier
    territory_id: int
    available: bool


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` as ``cursor`` to get the next (null: the end)."""

    items: list[T]
    next_cursor: str | None


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether the service can serve: database reachable, pool state, dependencies."""

    status: Literal["ready", "unavailable"]
    database: dict[str, object]
    pool: dict[str, int]
    dependencies: dict[str, str]
    breakers: dict[str, dict[str, object]] = {}
    instance: str = ""
    """``INSTANCE_NAME``: which instance answered (empty when unnamed)."""


class TerritoryMetrics(BaseModel):
    """A territory's last ``days`` days."""

    territory_id: int
    days: int
    jobs_by_status: dict[str, int]
    jobs_posted: int
    bids: int
    bids_per_job: float
    bid_count_distribution: dict[str, int] = Field(
        description="How many jobs received 0, 1, 2, ... bids ('5+' for five or more)."
    )
    median_time_to_first_bid_s: float | None
    contractors: int
    available_contractors: int
    pro_contractors: int


class Dashboard(BaseModel):
    """The marketplace at a glance for operators (last ``days`` days)."""

    days: int
    users_by_role: dict[str, int]
    jobs_by_status: dict[str, int]
    jobs_posted: int
    bids: int
    busiest_territories: list[dict[str, int]]
