"""Deterministic, plausible text for seeded rows: territories, names, job titles, messages."""

from __future__ import annotations

import random

from target_app.schemas import Category

METROS = (
    ("Austin", "TX"), ("Phoenix", "AZ"), ("Denver", "CO"), ("Atlanta", "GA"), ("Seattle", "WA"),
    ("Portland", "OR"), ("Boise", "ID"), ("Nashville", "TN"), ("Charlotte", "NC"),
    ("Raleigh", "NC"), ("Tampa", "FL"), ("Orlando", "FL"), ("Miami", "FL"), ("Dallas", "TX"),
    ("Houston", "TX"), ("San Antonio", "TX"), ("Las Vegas", "NV"), ("Salt Lake City", "UT"),
    ("Albuquerque", "NM"), ("Tucson", "AZ"), ("Sacramento", "CA"), ("San Diego", "CA"),
    ("Fresno", "CA"), ("Kansas City", "MO"), ("St. Louis", "MO"), ("Omaha", "NE"),
    ("Minneapolis", "MN"), ("Milwaukee", "WI"), ("Chicago", "IL"), ("Indianapolis", "IN"),
    ("Columbus", "OH"), ("Cincinnati", "OH"), ("Cleveland", "OH"), ("Detroit", "MI"),
    ("Pittsburgh", "PA"), ("Philadelphia", "PA"), ("Baltimore", "MD"), ("Richmond", "VA"),
    ("Louisville", "KY"), ("Memphis", "TN"), ("Birmingham", "AL"), ("New Orleans", "LA"),
    ("Oklahoma City", "OK"), ("Tulsa", "OK"), ("Little Rock", "AR"), ("Jacksonville", "FL"),
    ("Charleston", "SC"), ("Boston", "MA"), ("Hartford", "CT"), ("Buffalo", "NY"),
)  # fmt: skip

FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery",
         "Quinn", "Drew", "Rowan", "Parker", "Reese", "Skyler", "Dana", "Jesse",
         "Robin")  # fmt: skip
LAST = "ABCDEFGHIJKLMNOPRSTVW"

TASKS: dict[Category, tuple[str, ...]] = {
    Category.plumbing: ("Fix leaking kitchen faucet", "Replace water heater", "Unclog main drain"),
    Category.electrical: ("Install ceiling fan", "Upgrade electrical panel", "Add outdoor outlets"),
    Category.roofing: ("Repair storm-damaged roof", "Replace asphalt shingles", "Fix roof leak"),
    Category.painting: ("Paint living room walls", "Exterior house painting", "Stain wooden deck"),
    Category.landscaping: ("Lawn care and edging", "Plant backyard garden", "Remove tree stump"),
    Category.hvac: ("Service air conditioner", "Replace furnace filter", "Install mini-split"),
    Category.carpentry: ("Build custom shelves", "Repair porch railing", "Hang interior doors"),
    Category.cleaning: ("Deep clean after move", "Window washing", "Carpet steam cleaning"),
    Category.flooring: ("Install hardwood floor", "Refinish oak floors", "Tile bathroom floor"),
    Category.remodeling: ("Kitchen remodel", "Bathroom renovation", "Finish basement"),
}
DETAILS = (
    "Looking for a licensed and insured professional.",
    "Materials can be provided by the homeowner.",
    "Flexible on schedule, weekends preferred.",
    "Please include an estimate of the timeline.",
    "Photos available on request.",
    "The house was built in the 1980s.",
)
MESSAGES = (
    "Hi, is this job still available?",
    "Yes, when could you come by for an estimate?",
    "I can stop by Thursday afternoon.",
    "Thursday works. Do you need anything from me?",
    "Just access to the site and a parking spot.",
    "Great, see you then.",
    "Could you confirm the price includes materials?",
    "It does, labor and materials together.",
    "Thanks, that helps me decide.",
    "Happy to answer any other questions.",
)
CATEGORIES = tuple(Category)


def display_name(rng: random.Random) -> str:
    """``Alex K.``."""
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}."


def job_text(rng: random.Random) -> tuple[Category, str, str, int]:
    """Category, title, description and budget (dollars) of a plausible job."""
    category = rng.choice(CATEGORIES)
    title = rng.choice(TASKS[category])
    description = f"{title}. {rng.choice(DETAILS)} {rng.choice(DETAILS)}"
    budget = rng.randrange(100, 20_000, 25)
    return category, title, description, budget
