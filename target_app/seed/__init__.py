"""The deterministic seeder: `SeedPlan` (what) and `seed_database` (do it).

>>> from target_app.seed import SeedPlan, seed_database
>>> report = seed_database("sqlite:///demo.db", SeedPlan.for_scale(0.01))  # doctest: +SKIP
"""

from target_app.core.errors import SeedError
from target_app.seed.loader import SeedReport, seed_database
from target_app.seed.plan import SEED_PASSWORD, SeedPlan, seed_email

__all__ = ["SEED_PASSWORD", "SeedError", "SeedPlan", "SeedReport", "seed_database", "seed_email"]
