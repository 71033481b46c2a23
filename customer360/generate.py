"""Seeded, deterministic, vectorised generator of realistic (and deliberately dirty) source CSV deliveries."""

from __future__ import annotations

import numbers
import os
import time
import unicodedata
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np

from customer360.contract import SOURCES, SOURCES_BY_NAME

# How it works
# ------------
# A small "world" (CRM customers, products, stores, loyalty members, support agents) is drawn with
# numpy and evolved one delivery day at a time. For every (day, source) the generator builds numeric
# numpy columns (indexes into the built-in word lists, cents, epoch microseconds, format codes, and a
# dirty-kind code and variant number per row), registers them in an in-memory DuckDB, and one SELECT
# of SQL macros turns them into strings that `COPY ... TO` writes as RFC 4180 CSV. No Python code
# runs per row.
#
# Every random draw comes from a numpy Generator seeded with (seed, day index, purpose), so the same
# arguments give byte-identical files, and the first k days of a longer run equal a k-day run.
#
# What a delivery holds
# - Day 1 delivers every dimension in full; later days deliver only what changed: customers with a
#   new e-mail, phone or address, e-mails corrected after a bad delivery, and new sign-ups; price
#   changes and new products; renamed stores and (day 2) a new store; agents moving team and (day 2)
#   a new hire; loyalty points and tier changes and new members. Changed records carry a later
#   updated_at; stores and agents have none, so their latest delivery wins.
# - Facts: the day's online order lines and support tickets (by UTC day) and store sale lines (by the
#   store's local business day, written in local time with its offset by most tills). Yesterday's
#   completed orders that came back are re-delivered with every line `returned`; tickets still open
#   at the end of their day are re-delivered resolved or closed on the day they are resolved.
# - Valid-but-varied values appear at any dirty rate, because real exports look like that:
#   timestamps in every accepted form (space or `T`, fractional seconds, `Z`, `+HH:MM`/`-HH:MM`),
#   dates as YYYY-MM-DD or MM/DD/YYYY, phones in eight punctuations (10 digits, or 11 starting with
#   1), prices with and without `$`, empty and zero discounts, capitalised e-mails and tiers, guest
#   orders, anonymous store sales, duplicate CRM accounts sharing an e-mail (and often a phone), and
#   loyalty members linked by customer_id, by e-mail only, by phone only (punctuated differently) or
#   not at all. With dirty_rate=0 every value satisfies every rule of SPEC section 3 and every
#   reference resolves.
# - Dirty rows (DIRTY_KINDS) are about `dirty_rate` of each file, at most one kind per row. Until a
#   kind has appeared COVERAGE[kind] times in the run it is forced in (up to a third of a file's
#   rows), so even small runs exercise every rule; at the default scale over three days every hard
#   and soft rule of section 3 and every identity rule of section 4 is hit.

DEFAULT_START = date(2026, 1, 5)
MAX_SCALE = 1_000  # identifier widths and phone-number ranges are sized for this
EPOCH = date(1970, 1, 1)
US_PER_SECOND = 1_000_000
US_PER_HOUR = 3_600 * US_PER_SECOND
US_PER_DAY = 24 * US_PER_HOUR

# Entity counts at scale 1.0 (every count scales linearly, with a floor so tiny scales still work).
BASE_COUNTS = {
    "customers": 2_000,
    "products": 200,
    "stores": 25,
    "loyalty_members": 1_500,
    "support_agents": 40,
    "online_order_lines_per_day": 3_000,
    "store_sale_lines_per_day": 3_000,
    "support_tickets_per_day": 300,
}

# The dirty kinds of each source, in the order their codes are assigned (code = position + 1).
# `duplicate` repeats a row exactly; `key_conflict` repeats a row's key with a different value;
# `version_pair` repeats a versioned record in the same file with an older updated_at placed after the
# newer one; `stale_version` (later days) re-delivers an existing record with an updated_at older than
# the one already delivered. `unknown_*` reference an id that no dimension file ever delivers.
# `missing_key` blanks the key of a fact line; in a dimension file it adds a blank-keyed copy of a record.
DIRTY_KINDS: dict[str, tuple[str, ...]] = {
    "customers": (
        "missing_key", "pad_whitespace", "empty_string", "bad_email", "bad_phone", "bad_birth_date",
        "bad_signup_date", "bad_updated_at", "duplicate", "version_pair",
    ),
    "products": (
        "missing_key", "pad_whitespace", "empty_category", "negative_price", "garbage_price",
        "bad_updated_at", "duplicate", "version_pair",
    ),
    "stores": ("missing_key", "pad_whitespace", "empty_string", "bad_opened_date", "duplicate", "key_conflict"),
    "online_orders": (
        "missing_key", "invalid_timestamp", "bare_date_timestamp", "invalid_quantity", "invalid_price",
        "negative_discount", "unparsable_discount", "discount_exceeds_total", "invalid_channel",
        "invalid_status", "odd_case_enum", "pad_whitespace", "unknown_product", "unknown_customer",
        "duplicate", "key_conflict",
    ),
    "store_sales": (
        "missing_key", "invalid_timestamp", "bare_date_timestamp", "invalid_quantity", "invalid_price",
        "negative_discount", "unparsable_discount", "discount_exceeds_total", "unknown_store",
        "unknown_product", "unknown_card", "pad_whitespace", "empty_string", "odd_case_payment",
        "duplicate", "key_conflict",
    ),
    "loyalty_members": (
        "missing_key", "pad_whitespace", "empty_string", "bad_email", "bad_phone", "bad_tier",
        "odd_case_tier", "bad_points", "bad_enrolled_date", "unknown_customer_id", "bad_updated_at",
        "duplicate", "version_pair",
    ),
    "support_tickets": (
        "missing_key", "invalid_timestamp", "invalid_channel", "invalid_status", "odd_case_enum",
        "resolved_before_created", "bad_resolved_at", "bad_csat", "bad_email", "unknown_agent",
        "unknown_customer_id", "pad_whitespace", "duplicate", "key_conflict",
    ),
    "support_agents": ("missing_key", "pad_whitespace", "bad_hire_date", "duplicate", "key_conflict"),
}
# Kinds that add a re-delivered record to a later day's delta file instead of altering a row.
LATER_DAY_KINDS: dict[str, tuple[str, ...]] = {
    "customers": ("stale_version",),
    "products": ("stale_version",),
    "loyalty_members": ("stale_version",),
}
# How many times a kind must appear in a run before it is left to chance (default once): enough to
# walk through the variants that matter, in the order the SQL macros list them.
COVERAGE = {
    "missing_key": 2, "invalid_timestamp": 3, "invalid_quantity": 4, "invalid_price": 4, "unparsable_discount": 2,
    "invalid_channel": 2, "invalid_status": 2, "odd_case_enum": 4, "bad_email": 3, "bad_phone": 3, "bad_csat": 4,
    "bad_tier": 2, "garbage_price": 2, "empty_category": 2, "bad_birth_date": 2,
}
_STRUCTURAL = ("duplicate", "key_conflict", "version_pair")
# In dimension files a missing key is an extra, blank-keyed copy of a record (an export glitch), so the
# record itself still arrives and facts keep resolving; in fact files the line itself loses its key.
DIMENSIONS = ("customers", "products", "stores", "loyalty_members", "support_agents")

# ---------------------------------------------------------------------------
# Built-in word lists (no external data)
# ---------------------------------------------------------------------------

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Andrew", "Emily", "Kevin", "Michelle", "Brian", "Amanda", "George", "Melissa", "Ethan", "Olivia",
    "Noah", "Sophia", "Liam", "Ava", "Mateo", "Isabella", "Wei", "Mei", "Arjun", "Priya",
    "José", "Zoë", "Chloé", "André", "Fatima", "Omar", "Yuki", "Hiroshi", "Aisha", "Kwame",
    "Ingrid", "Lars", "Siobhan", "Ana",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "O'Brien", "O'Neil", "Smith-Jones", "Müller", "Núñez", "Kowalski", "Chen", "Patel", "Kim", "Okafor",
    "Van Dyke", "Schmidt", "Rossi", "Yamamoto",
)
EMAIL_DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com",
    "aol.com", "proton.me", "comcast.net", "example.com",
)
EMAIL_DOMAIN_WEIGHTS = (0.35, 0.14, 0.12, 0.07, 0.12, 0.03, 0.05, 0.05, 0.07)

# (city, state, region, area code, UTC offset in minutes in January)
CITIES = (
    ("New York", "NY", "Northeast", 212, -300), ("Boston", "MA", "Northeast", 617, -300),
    ("Philadelphia", "PA", "Northeast", 215, -300), ("Pittsburgh", "PA", "Northeast", 412, -300),
    ("Newark", "NJ", "Northeast", 973, -300), ("Hartford", "CT", "Northeast", 860, -300),
    ("Providence", "RI", "Northeast", 401, -300), ("Buffalo", "NY", "Northeast", 716, -300),
    ("Atlanta", "GA", "Southeast", 404, -300), ("Miami", "FL", "Southeast", 305, -300),
    ("Orlando", "FL", "Southeast", 407, -300), ("Charlotte", "NC", "Southeast", 704, -300),
    ("Nashville", "TN", "Southeast", 615, -360), ("Raleigh", "NC", "Southeast", 919, -300),
    ("Tampa", "FL", "Southeast", 813, -300), ("Richmond", "VA", "Southeast", 804, -300),
    ("Chicago", "IL", "Midwest", 312, -360), ("Detroit", "MI", "Midwest", 313, -300),
    ("Minneapolis", "MN", "Midwest", 612, -360), ("Columbus", "OH", "Midwest", 614, -300),
    ("Milwaukee", "WI", "Midwest", 414, -360), ("Kansas City", "MO", "Midwest", 816, -360),
    ("St. Louis", "MO", "Midwest", 314, -360), ("Indianapolis", "IN", "Midwest", 317, -300),
    ("Houston", "TX", "Southwest", 713, -360), ("Dallas", "TX", "Southwest", 214, -360),
    ("Austin", "TX", "Southwest", 512, -360), ("San Antonio", "TX", "Southwest", 210, -360),
    ("Phoenix", "AZ", "Southwest", 602, -420), ("Albuquerque", "NM", "Southwest", 505, -420),
    ("Tucson", "AZ", "Southwest", 520, -420), ("Oklahoma City", "OK", "Southwest", 405, -360),
    ("Los Angeles", "CA", "West", 213, -480), ("San Francisco", "CA", "West", 415, -480),
    ("Seattle", "WA", "West", 206, -480), ("Portland", "OR", "West", 503, -480),
    ("San Diego", "CA", "West", 619, -480), ("Denver", "CO", "West", 303, -420),
    ("Las Vegas", "NV", "West", 702, -480), ("Sacramento", "CA", "West", 916, -480),
)
STORE_SUFFIXES = ("Downtown", "Mall", "Plaza", "Outlet", "Uptown", "Riverside", "Airport", "Crossing", "Commons", "Market")

# (category, brands, product nouns, lowest list price, highest list price)
CATEGORIES = (
    ("Electronics", ("Voltra", "Nexon", "Auralis"),
     ("Wireless Earbuds", "Bluetooth Speaker", "USB-C Charger", "Smart Watch", "Headphones", "Streaming Stick",
      "Power Bank", "Webcam"), 9.99, 499.00),
    ("Home & Kitchen", ("Casa Verde", "Hearthstone", "Kitchara"),
     ("Chef's Knife", "Coffee Maker", "Nonstick Pan", "Blender", "Cutting Board", "Toaster", "Dinnerware Set"),
     6.99, 299.00),
    ("Apparel", ("Northpeak", "Urban Thread", "Lumen"),
     ("T-Shirt", "Hoodie", "Denim Jeans", "Rain Jacket", "Wool Socks", "Sneakers"), 7.99, 199.00),
    ("Beauty", ("Glowlab", "Pure Botanica", "Velvet"),
     ("Face Serum", "Moisturizer", "Lipstick", "Shampoo", "Sunscreen SPF 50"), 4.99, 89.00),
    ("Sports & Outdoors", ("Trailhead", "Apex", "Summit Co."),
     ("Yoga Mat", "Water Bottle", "Tent", "Dumbbell Set", "Running Shorts", "Backpack"), 9.99, 349.00),
    ("Toys & Games", ("Brickworks", "Playmaker", "Tinker"),
     ("Building Set", "Board Game", "Puzzle 1000pc", "Plush Bear", "RC Car"), 5.99, 129.00),
    ("Books", ("Riverbend Press", "Lantern Books"),
     ("Cookbook", "Mystery Novel", "Travel Guide", "Children's Picture Book", "Sci-Fi Novel"), 4.99, 49.00),
    ("Grocery", ("Harvest Table", "Good Grain"),
     ("Coffee Beans", "Olive Oil", "Granola", "Green Tea", "Dark Chocolate"), 4.99, 39.00),
    ("Garden", ("Greenthumb", "Terra"),
     ("Garden Hose", "Pruning Shears", "Planter", "Seed Kit", "Solar Lights"), 5.99, 199.00),
    ("Pet Supplies", ("Pawsome", "Tailwind"),
     ("Dog Food", "Cat Litter", "Chew Toy", "Pet Bed", "Leash"), 4.99, 129.00),
)
# Name suffixes; some carry commas and double quotes so the files exercise RFC 4180 quoting.
PRODUCT_VARIANTS = ("", "", "", " - Black", " - White", ", 2-Pack", ", 12 oz", " (Large)", ' 8"', ' "Pro" Edition', ", Blue")

# (team, typical resolution hours, mean CSAT)
TEAMS = (
    ("Billing", 3.0, 4.4),
    ("Shipping & Returns", 8.0, 3.9),
    ("Technical Support", 18.0, 3.6),
    ("General Enquiries", 2.5, 4.2),
    ("Escalations", 30.0, 3.2),
)
# (ticket category, team that handles it)
TICKET_CATEGORIES = (
    ("billing", 0), ("delivery", 1), ("returns", 1), ("product_question", 3), ("account", 3), ("technical", 2),
)
TICKET_CHANNELS = ("phone", "email", "chat")
TICKET_STATUSES = ("open", "pending", "resolved", "closed")
ORDER_CHANNELS = ("web", "mobile_app")
ORDER_STATUSES = ("completed", "cancelled", "returned")
PAYMENT_METHODS = ("card", "cash", "mobile_wallet", "gift_card")
TIERS = ("bronze", "silver", "gold", "platinum")

# Hourly activity profiles, by local hour 0-23.
ONLINE_LOCAL_HOURS = np.array([1.0, 0.6, 0.4, 0.3, 0.3, 0.4, 0.7, 1.0, 1.3, 1.5, 1.6, 1.7,
                               2.0, 1.8, 1.6, 1.6, 1.7, 2.0, 2.6, 3.2, 3.5, 3.2, 2.4, 1.6])
STORE_LOCAL_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0.6, 0.9, 1.2,
                              1.6, 1.5, 1.2, 1.1, 1.3, 1.7, 1.8, 1.4, 0.8, 0, 0, 0])
SUPPORT_LOCAL_HOURS = {
    "phone": np.array([0, 0, 0, 0, 0, 0, 0, 0, 1.2, 1.8, 2.0, 1.9, 1.5, 1.7, 1.8, 1.6, 1.4, 1.1, 0.6, 0, 0, 0, 0, 0]),
    "email": np.array([0.3, 0.2, 0.2, 0.2, 0.2, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6, 1.5,
                       1.4, 1.5, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 1.0, 0.9, 0.7, 0.5]),
    "chat": np.array([0.2, 0.1, 0, 0, 0, 0, 0, 0, 1.0, 1.4, 1.6, 1.6,
                      1.5, 1.6, 1.6, 1.5, 1.5, 1.6, 1.8, 2.0, 2.0, 1.7, 1.2, 0.6]),
}
BUSINESS_UTC_OFFSET_HOURS = -5  # online shop and support desk profiles are in US Eastern time
# Day-of-week volume multipliers, Monday first.
ONLINE_WEEKDAY = np.array([0.92, 0.90, 0.92, 0.95, 1.08, 1.30, 1.35])
STORE_WEEKDAY = np.array([0.82, 0.80, 0.85, 0.90, 1.05, 1.45, 1.15])
SUPPORT_WEEKDAY = np.array([1.25, 1.15, 1.10, 1.05, 1.00, 0.55, 0.50])

# Timestamp format codes understood by the g_ts SQL macro.
TS_SPACE, TS_T, TS_Z, TS_MILLIS, TS_MICROS_Z, TS_OFFSET, TS_MILLIS_OFFSET, TS_BARE_DATE = range(8)

# Streams: every random draw of a (day, purpose) comes from its own generator.
_STREAMS = {name: i for i, name in enumerate(
    ("world", "customers", "products", "stores", "loyalty_members", "support_agents",
     "online_orders", "store_sales", "support_tickets"), start=1)}


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedFile:
    """One written CSV file."""

    delivery_date: date
    source: str
    path: Path
    rows: int  # data rows, header excluded


@dataclass(frozen=True)
class GenerationReport:
    """What a generate() call wrote: every file with its row count, and how long it took."""

    out_dir: Path
    start: date
    days: int
    scale: float
    seed: int
    dirty_rate: float
    files: tuple[GeneratedFile, ...]
    elapsed_seconds: float

    @property
    def total_rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.elapsed_seconds if self.elapsed_seconds > 0 else float("inf")

    @property
    def delivery_dates(self) -> tuple[date, ...]:
        return tuple(self.start + timedelta(days=k) for k in range(self.days))

    @property
    def day_dirs(self) -> tuple[Path, ...]:
        return tuple(self.out_dir / d.isoformat() for d in self.delivery_dates)

    @property
    def row_counts(self) -> dict[date, dict[str, int]]:
        """Rows per delivery day and source."""
        counts: dict[date, dict[str, int]] = {}
        for f in self.files:
            counts.setdefault(f.delivery_date, {})[f.source] = f.rows
        return counts

    @property
    def paths(self) -> dict[date, dict[str, Path]]:
        """File per delivery day and source."""
        out: dict[date, dict[str, Path]] = {}
        for f in self.files:
            out.setdefault(f.delivery_date, {})[f.source] = f.path
        return out

    def rows_of(self, source: str | None = None, delivery_date: date | None = None) -> int:
        """Rows of one source and/or one delivery day."""
        return sum(f.rows for f in self.files
                   if (source is None or f.source == source)
                   and (delivery_date is None or f.delivery_date == delivery_date))


def generate(
    out_dir: Path,
    days: int,
    scale: float = 1.0,
    seed: int = 42,
    start: date = DEFAULT_START,
    dirty_rate: float = 0.03,
) -> GenerationReport:
    """Write `days` consecutive deliveries as OUT/<YYYY-MM-DD>/<source>.csv for all eight sources.

    Same arguments give byte-identical files. Raises ValueError on an unusable argument.
    """
    if isinstance(days, bool) or not isinstance(days, numbers.Integral) or days < 1:
        raise ValueError(f"days must be a whole number >= 1, got {days!r}")
    if isinstance(scale, bool) or not (isinstance(scale, numbers.Real) and np.isfinite(scale) and 0 < scale <= MAX_SCALE):
        raise ValueError(f"scale must be a number > 0 and <= {MAX_SCALE}, got {scale!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(dirty_rate, bool) or not (isinstance(dirty_rate, numbers.Real) and 0 <= dirty_rate <= 0.5):
        raise ValueError(f"dirty_rate must be between 0 and 0.5, got {dirty_rate!r}")
    if not isinstance(start, date):
        raise TypeError(f"start must be a date, got {start!r}")
    start = date(start.year, start.month, start.day)  # a datetime counts as its day
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir}: exists and is not a directory")

    began = time.perf_counter()
    gen = _Generator(out_dir, float(scale), int(seed), start, float(dirty_rate))
    try:
        for day_index in range(int(days)):
            gen.generate_day(day_index)
    except BaseException:
        gen.finish(raise_errors=False)
        raise
    gen.finish()
    return GenerationReport(
        out_dir=out_dir, start=start, days=int(days), scale=float(scale), seed=int(seed), dirty_rate=float(dirty_rate),
        files=tuple(gen.files), elapsed_seconds=time.perf_counter() - began,
    )


def expected_counts(scale: float) -> dict[str, int]:
    """Entity counts and mean daily fact volumes at a scale (before day-of-week seasonality)."""
    return {name: _count(base, scale, 1) for name, base in BASE_COUNTS.items()}


# ---------------------------------------------------------------------------
# SQL formatting: macros turning numeric codes into the strings the source systems write
# ---------------------------------------------------------------------------


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values) -> str:
    return "[" + ", ".join(_sql_str(v) for v in values) + "]"


def _email_safe(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_name.lower() if c.isalnum() or c == "-")


def _macros() -> list[str]:
    lists = {
        "g_first": FIRST_NAMES,
        "g_last": LAST_NAMES,
        "g_first_e": tuple(_email_safe(n) for n in FIRST_NAMES),
        "g_last_e": tuple(_email_safe(n) for n in LAST_NAMES),
        "g_domain": EMAIL_DOMAINS,
        "g_city": tuple(c[0] for c in CITIES),
        "g_state": tuple(c[1] for c in CITIES),
        "g_region": tuple(c[2] for c in CITIES),
        "g_suffix": STORE_SUFFIXES,
        "g_category": tuple(c[0] for c in CATEGORIES),
        "g_brand": tuple(b for c in CATEGORIES for b in c[1]),
        "g_noun": tuple(n for c in CATEGORIES for n in c[2]),
        "g_variant": PRODUCT_VARIANTS,
        "g_team": tuple(t[0] for t in TEAMS),
        "g_ticket_category": tuple(c[0] for c in TICKET_CATEGORIES),
        "g_ticket_channel": TICKET_CHANNELS,
        "g_ticket_status": TICKET_STATUSES,
        "g_order_channel": ORDER_CHANNELS,
        "g_order_status": ORDER_STATUSES,
        "g_payment": PAYMENT_METHODS,
        "g_tier_name": TIERS,
    }
    macros = [f"CREATE MACRO {name}(i) AS {_sql_list(values)}[i + 1]" for name, values in lists.items()]
    macros += [
        # Picks one of a list of literals by a random number.
        "CREATE MACRO g_pick(v, l) AS l[(v % len(l)) + 1]",
        "CREATE MACRO g_ts_of(us) AS make_timestamp(us::BIGINT)",
        ("CREATE MACRO g_offset(off) AS (CASE WHEN off < 0 THEN '-' ELSE '+' END)"
        " || lpad((abs(off) // 60)::VARCHAR, 2, '0') || ':' || lpad((abs(off) % 60)::VARCHAR, 2, '0')"),
        f"""CREATE MACRO g_ts(us, f, off) AS CASE f
            WHEN {TS_SPACE} THEN strftime(g_ts_of(us), '%Y-%m-%d %H:%M:%S')
            WHEN {TS_T} THEN strftime(g_ts_of(us), '%Y-%m-%dT%H:%M:%S')
            WHEN {TS_Z} THEN strftime(g_ts_of(us), '%Y-%m-%dT%H:%M:%SZ')
            WHEN {TS_MILLIS} THEN strftime(g_ts_of(us), '%Y-%m-%d %H:%M:%S.%g')
            WHEN {TS_MICROS_Z} THEN strftime(g_ts_of(us), '%Y-%m-%dT%H:%M:%S.%fZ')
            WHEN {TS_OFFSET} THEN strftime(g_ts_of(us + off::BIGINT * 60000000), '%Y-%m-%dT%H:%M:%S') || g_offset(off)
            WHEN {TS_MILLIS_OFFSET} THEN strftime(g_ts_of(us + off::BIGINT * 60000000), '%Y-%m-%d %H:%M:%S.%g')
                 || g_offset(off)
            ELSE strftime(g_ts_of(us), '%Y-%m-%d') END""",
        # Timestamps no rule accepts.
        """CREATE MACRO g_bad_ts(us, v) AS CASE v % 8
            WHEN 0 THEN strftime(g_ts_of(us), '%Y/%m/%d %H:%M')
            WHEN 1 THEN 'not a date'
            WHEN 2 THEN strftime(g_ts_of(us), '%Y-02-30 %H:%M:%S')
            WHEN 3 THEN strftime(g_ts_of(us), '%d.%m.%Y %H:%M')
            WHEN 4 THEN strftime(g_ts_of(us), '%Y-%m-%d 25:%M:%S')
            WHEN 5 THEN (us // 1000000)::VARCHAR
            WHEN 6 THEN strftime(g_ts_of(us), '%Y-13-%d %H:%M:%S')
            ELSE NULL END""",
        ("CREATE MACRO g_date(d, f) AS CASE WHEN f = 1 THEN strftime(DATE '1970-01-01' + d::INTEGER, '%m/%d/%Y')"
        " ELSE strftime(DATE '1970-01-01' + d::INTEGER, '%Y-%m-%d') END"),
        # Dates no rule accepts.
        """CREATE MACRO g_bad_date(d, v) AS CASE v % 6
            WHEN 0 THEN strftime(DATE '1970-01-01' + d::INTEGER, '%Y-02-30')
            WHEN 1 THEN strftime(DATE '1970-01-01' + d::INTEGER, '13/%d/%Y')
            WHEN 2 THEN 'unknown'
            WHEN 3 THEN strftime(DATE '1970-01-01' + d::INTEGER, '%Y/%m/%d')
            WHEN 4 THEN strftime(DATE '1970-01-01' + d::INTEGER, '%d.%m.%Y')
            ELSE '00/00/0000' END""",
        # Exact for whole cents below 2**50; much faster than printf.
        ("CREATE MACRO g_money(cents, dollar) AS (CASE WHEN dollar = 1 THEN '$' ELSE '' END)"
        " || (cents / 100)::DECIMAL(18, 2)::VARCHAR"),
        "CREATE MACRO g_pad(i, width) AS lpad(i::VARCHAR, width, '0')",
        # Identifiers; widths fit every count up to the largest allowed scale, and the unknown ids
        # the dirty rows use (9 followed by digits) sit above every generated id.
        "CREATE MACRO g_customer_id(i) AS 'C' || g_pad(i, 8)",
        "CREATE MACRO g_product_id(i) AS 'P' || g_pad(i, 6)",
        "CREATE MACRO g_store_id(i) AS 'S' || g_pad(i, 5)",
        "CREATE MACRO g_agent_id(i) AS 'A' || g_pad(i, 5)",
        "CREATE MACRO g_card_id(i) AS 'LC' || g_pad(i, 8)",
        "CREATE MACRO g_unknown_customer_id(v) AS g_customer_id(90000000 + v % 10000000)",
        "CREATE MACRO g_unknown_product_id(v) AS g_product_id(900000 + v % 100000)",
        "CREATE MACRO g_unknown_store_id(v) AS g_store_id(90000 + v % 10000)",
        "CREATE MACRO g_unknown_agent_id(v) AS g_agent_id(90000 + v % 10000)",
        "CREATE MACRO g_unknown_card_id(v) AS g_card_id(90000000 + v % 10000000)",
        # Prices that are not a non-negative decimal.
        """CREATE MACRO g_bad_money(cents, v) AS CASE v % 7
            WHEN 0 THEN printf('-%.2f', cents / 100)
            WHEN 1 THEN 'N/A'
            WHEN 2 THEN printf('%d,%02d', cents // 100, cents % 100)
            WHEN 3 THEN 'abc'
            WHEN 4 THEN printf('$-%.2f', cents / 100)
            WHEN 5 THEN printf('%.2f.5', cents / 100)
            ELSE NULL END""",
        ("CREATE MACRO g_bad_quantity(v) AS CASE v % 7 WHEN 6 THEN NULL"
        " ELSE g_pick(v, ['0', '-1', '1.5', 'two', '2.5', '-3']) END"),
        # Valid enumeration values in odd case or padded with whitespace.
        """CREATE MACRO g_odd_case(s, v) AS CASE v % 4
            WHEN 0 THEN upper(s)
            WHEN 1 THEN ' ' || upper(s[1]) || s[2:] || ' '
            WHEN 2 THEN s || '  '
            ELSE '  ' || upper(s) END""",
        # E-mail local parts from the e-mail-safe first and last names (strings): forms 0-2 are the CRM's,
        # 3 a loyalty member's own address, 4 an address nobody else has.
        """CREATE MACRO g_email_local(fe, le, f, num) AS CASE f
            WHEN 0 THEN fe || '.' || le || num::VARCHAR
            WHEN 1 THEN fe[1] || le || num::VARCHAR
            WHEN 2 THEN fe || '_' || le || num::VARCHAR
            WHEN 3 THEN fe || '.' || le || '.' || num::VARCHAR
            ELSE fe || le || num::VARCHAR END""",
        # style 1 writes the address with capitals (still valid after lower-casing); f < 0 means none.
        """CREATE MACRO g_email(local, dom, f, style) AS CASE
            WHEN f < 0 THEN NULL
            WHEN style = 1 THEN upper(local[1]) || local[2:] || '@' || upper(dom[1]) || dom[2:]
            ELSE local || '@' || dom END""",
        """CREATE MACRO g_bad_email(local, dom, v) AS CASE v % 6
            WHEN 0 THEN local || '@' || split_part(dom, '.', 1)
            WHEN 1 THEN local || '.' || dom
            WHEN 2 THEN replace(local, '.', ' ') || ' @' || dom
            WHEN 3 THEN local || '@@' || dom
            WHEN 4 THEN '@' || dom
            ELSE local || '@' END""",
        # Ten-digit North American numbers; formats 4-7 carry the leading country code 1.
        """CREATE MACRO g_phone(area, n7, f) AS CASE f
            WHEN 0 THEN '(' || area::VARCHAR || ') ' || (n7 // 10000)::VARCHAR || '-' || g_pad(n7 % 10000, 4)
            WHEN 1 THEN area::VARCHAR || '-' || (n7 // 10000)::VARCHAR || '-' || g_pad(n7 % 10000, 4)
            WHEN 2 THEN area::VARCHAR || '.' || (n7 // 10000)::VARCHAR || '.' || g_pad(n7 % 10000, 4)
            WHEN 3 THEN area::VARCHAR || n7::VARCHAR
            WHEN 4 THEN '+1 ' || area::VARCHAR || ' ' || (n7 // 10000)::VARCHAR || ' ' || g_pad(n7 % 10000, 4)
            WHEN 5 THEN '1-' || area::VARCHAR || '-' || (n7 // 10000)::VARCHAR || '-' || g_pad(n7 % 10000, 4)
            WHEN 6 THEN '+1 (' || area::VARCHAR || ') ' || (n7 // 10000)::VARCHAR || '-' || g_pad(n7 % 10000, 4)
            WHEN 7 THEN '1' || area::VARCHAR || n7::VARCHAR
            ELSE NULL END""",
        # Phones that are neither 10 digits nor 11 starting with 1.
        """CREATE MACRO g_bad_phone(area, n7, v) AS CASE v % 6
            WHEN 0 THEN printf('%03d-%04d', n7 // 10000, n7 % 10000)
            WHEN 1 THEN printf('+44 20 %04d %04d', n7 // 1000, n7 % 10000)
            WHEN 2 THEN printf('2%03d%07d', area, n7)
            WHEN 3 THEN 'N/A'
            WHEN 4 THEN printf('%03d-%03d-%03d', area, n7 // 10000, (n7 % 10000) // 10)
            ELSE printf('(%03d) %03d-%04d x12', area, n7 // 10000, n7 % 10000) END""",
    ]
    return macros


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _count(base: float, scale: float, minimum: int) -> int:
    return max(minimum, round(base * scale))


def _day_number(d: date) -> int:
    return (d - EPOCH).days


def _utc_profile(local: np.ndarray, offset_hours: int) -> np.ndarray:
    """Re-index a local-hour profile by UTC hour."""
    return np.roll(local, -offset_hours)


def _pick_weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    cdf = np.cumsum(weights, dtype=np.float64)
    return np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right").astype(np.int64)


def _format_codes(rng: np.random.Generator, n: int, codes: tuple[int, ...], weights: tuple[float, ...]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return np.asarray(codes, dtype=np.int64)[_pick_weighted(rng, w, n)]


def _phone7(index: np.ndarray, offset: int = 0) -> np.ndarray:
    """Seven-digit subscriber numbers, distinct for distinct (index + offset) below 8 million."""
    i = np.asarray(index, dtype=np.int64) + offset
    return 2_000_000 + (i * 1_234_567 + 777) % 8_000_000


def _charm_price(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """List prices in cents, log-uniform between lo and hi, mostly ending in .99."""
    dollars = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    ending = np.array([99, 99, 99, 49, 0, 95])[rng.integers(0, 6, dollars.size)]
    cents = np.floor(dollars).astype(np.int64) * 100 + ending
    return np.clip(cents, 499, 49_900)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if p and len(next(iter(p.values())))]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _take(arrays: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in arrays.items()}


def _rows(arrays: dict[str, np.ndarray]) -> int:
    return len(next(iter(arrays.values()))) if arrays else 0


class _Entities:
    """A growable table of numpy columns (one entity per row)."""

    def __init__(self, **columns: np.ndarray) -> None:
        self.cols = {k: np.asarray(v) for k, v in columns.items()}

    def __len__(self) -> int:
        return _rows(self.cols)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name]
        except KeyError:
            raise AttributeError(name) from None

    def append(self, **columns: np.ndarray) -> None:
        assert set(columns) == set(self.cols), set(columns) ^ set(self.cols)
        for k, v in columns.items():
            self.cols[k] = np.concatenate([self.cols[k], np.asarray(v, dtype=self.cols[k].dtype)])


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------


# SQL of the amount columns shared by online order lines and store sale lines.
_AMOUNT_COLUMNS = {
    "quantity": "q::VARCHAR",
    "unit_price": "g_money(price, dollar)",
    "discount_amount": "CASE dkind WHEN 0 THEN NULL WHEN 1 THEN CASE WHEN dv % 2 = 0 THEN '0' ELSE '0.00' END"
                       " ELSE g_money(disc, ddollar) END",
}
_AMOUNT_OVERRIDES = {
    "invalid_quantity": {"quantity": "g_bad_quantity(dv)"},
    "invalid_price": {"unit_price": "g_bad_money(price, dv)"},
    "negative_discount": {"discount_amount": "'-' || g_money(50 + dv % 1000, 0)"},
    "unparsable_discount": {"discount_amount": "g_pick(dv, ['10%', 'n/a', '1..5', 'five', '$$2.00'])"},
    "discount_exceeds_total": {"discount_amount": "g_money(q * price + 1 + dv % 2000, 0)"},
}


class _Generator:
    def __init__(self, out_dir: Path, scale: float, seed: int, start: date, dirty_rate: float) -> None:
        self.out_dir = out_dir
        self.scale = scale
        self.seed = seed
        self.start = start
        self.dirty_rate = dirty_rate
        self.files: list[GeneratedFile] = []
        self.occurrences: dict[str, Counter] = {s.name: Counter() for s in SOURCES}
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET preserve_insertion_order = true")
        self.con.execute("SET enable_progress_bar = false")
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="c360-generate")
        self.pending_writes: list[Future] = []
        for macro in _macros():
            self.con.execute(macro)
        self.previous_orders: dict[str, np.ndarray] = {}
        self.pending_tickets: dict[str, np.ndarray] = {}

    # -- randomness ---------------------------------------------------------

    def rng(self, day_index: int, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, day_index, _STREAMS[stream]])

    def assign_dirty(self, rng: np.random.Generator, source: str, n: int,
                     kinds: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Per row, a dirty-kind code (0 = clean) and a variant number; about dirty_rate of rows are dirty.

        Until a kind has appeared COVERAGE[kind] times in the run it is forced in (up to a third of the
        file's rows), so small runs still show every kind. The n-th occurrence of a kind in the run gets a
        variant number equal to n modulo 840 (divisible by every variant-list length), so its first
        occurrences walk through that kind's variants in order (e.g. csat 0, 6, 4.5, x).
        """
        codes = np.zeros(n, dtype=np.int64)
        variant = rng.integers(0, 1 << 30, n)
        if self.dirty_rate <= 0 or n == 0:
            return codes, variant
        all_kinds = DIRTY_KINDS[source] + LATER_DAY_KINDS.get(source, ())
        seen = self.occurrences[source]
        wanted = [kind for round_ in range(max(COVERAGE.values())) for kind in kinds
                  if seen[kind] <= round_ < COVERAGE.get(kind, 1)]
        k = int(rng.binomial(n, self.dirty_rate))
        k = min(n, max(k, min(len(wanted), n // 3)))
        if k == 0:
            return codes, variant
        positions = rng.choice(n, size=k, replace=False)
        allowed = np.array([all_kinds.index(kind) + 1 for kind in kinds], dtype=np.int64)
        chosen = allowed[rng.integers(0, len(allowed), k)]
        forced = [all_kinds.index(kind) + 1 for kind in wanted[:k]]
        chosen[: len(forced)] = forced
        codes[positions] = chosen
        for code in np.unique(chosen):
            kind = all_kinds[code - 1]
            rows = np.flatnonzero(codes == code)
            variant[rows] = (seen[kind] + np.arange(rows.size)) % 840 + 840 * rng.integers(0, 1 << 20, rows.size)
            seen[kind] += rows.size
        return codes, variant

    def code(self, source: str, kind: str) -> int:
        return (DIRTY_KINDS[source] + LATER_DAY_KINDS.get(source, ())).index(kind) + 1

    def expand(self, source: str, cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Apply the structural dirty kinds: a row marked duplicate, key_conflict, version_pair (or, in a
        dimension file, missing_key) is written twice.

        The exact duplicate keeps its code on both copies (no SQL override, so they are identical); for the
        others only the second copy keeps the code, which the SQL turns into the conflicting, older or
        blank-keyed version.
        """
        dk = cols["dk"]
        kinds = _STRUCTURAL + (("missing_key",) if source in DIMENSIONS else ())
        structural = [self.code(source, k) for k in kinds if k in DIRTY_KINDS[source]]
        repeat = np.where(np.isin(dk, structural), 2, 1)
        if (repeat == 1).all():
            return cols
        index = np.repeat(np.arange(dk.size), repeat)
        out = _take(cols, index)
        first = np.ones(index.size, dtype=bool)
        first[1:] = index[1:] != index[:-1]
        for kind in kinds:
            if kind != "duplicate" and kind in DIRTY_KINDS[source]:
                out["dk"][first & (out["dk"] == self.code(source, kind))] = 0
        return out

    # -- writing ------------------------------------------------------------

    def write(self, day: date, source: str, cols: dict[str, np.ndarray], columns: dict[str, str],
              overrides: dict[str, dict[str, str]], derived: tuple[dict[str, str], ...] = ()) -> None:
        """Format the numeric columns with one SELECT and COPY them to OUT/<day>/<source>.csv.

        `derived` are layers of helper columns computed once below the final SELECT (e.g. an e-mail's
        local part), which keeps the expanded macro expressions, and so planning time, small.
        """
        names = SOURCES_BY_NAME[source].column_names
        assert tuple(columns) == names, (source, tuple(columns), names)
        select = []
        for name in names:
            base = columns[name]
            whens = [f"WHEN {self.code(source, kind)} THEN {cols_sql[name].replace('{b}', base)}"
                     for kind, cols_sql in overrides.items() if name in cols_sql]
            expr = f"CASE dk {' '.join(whens)} ELSE {base} END" if whens else base
            select.append(f'({expr})::VARCHAR AS "{name}"')
        day_dir = self.out_dir / day.isoformat()
        day_dir.mkdir(parents=True, exist_ok=True)
        path = day_dir / f"{source}.csv"
        tmp = day_dir / f".{source}.csv.tmp"
        n = _rows(cols)
        # The COPY runs on a writer thread (DuckDB releases the GIL) while the next file is drawn;
        # each file is written whole by one statement, so the output does not depend on timing.
        frame = {k: np.array(v, copy=True) for k, v in cols.items()}
        relation = "generated"
        for layer in derived:
            relation = f"(SELECT *, {', '.join(f'{sql} AS {name}' for name, sql in layer.items())} FROM {relation})"
        sql = (f"COPY (SELECT {', '.join(select)} FROM {relation}) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' "
               "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\\n')")
        if len(self.pending_writes) >= 2:
            self.pending_writes.pop(0).result()
        self.pending_writes.append(self.writer.submit(self._copy, names, frame, sql, tmp, path, n))
        self.files.append(GeneratedFile(day, source, path, n))

    def _copy(self, names: tuple[str, ...], frame: dict[str, np.ndarray], sql: str, tmp: Path, path: Path,
              n: int) -> None:
        try:
            if n == 0:
                tmp.write_text(",".join(names) + "\n", encoding="utf-8")
            else:
                cursor = self.con.cursor()
                try:
                    cursor.register("generated", frame)
                    cursor.execute(sql)
                finally:
                    cursor.close()
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def finish(self, raise_errors: bool = True) -> None:
        """Wait for every file to be written (re-raising the first writer error) and release the engine."""
        try:
            while self.pending_writes:
                future = self.pending_writes.pop(0)
                if raise_errors:
                    future.result()
                else:
                    future.exception()
        finally:
            self.writer.shutdown(wait=True)
            self.con.close()

    # -- the day ------------------------------------------------------------

    def generate_day(self, day_index: int) -> None:
        day = self.start + timedelta(days=day_index)
        if day_index == 0:
            self.build_world()
        else:
            self.evolve_dimensions(day_index, day)
        self.write_customers(day_index, day)
        self.write_products(day_index, day)
        self.write_stores(day_index, day)
        self.write_loyalty_members(day_index, day)
        self.write_support_agents(day_index, day)
        self.write_online_orders(day_index, day)
        self.write_store_sales(day_index, day)
        self.write_support_tickets(day_index, day)

    # -- the world on the first day -----------------------------------------

    def build_world(self) -> None:
        rng = self.rng(0, "world")
        s = self.scale
        start_day = _day_number(self.start)
        start_us = start_day * US_PER_DAY

        # CRM customers; the last ones are duplicate accounts of earlier customers (same e-mail, often
        # the same phone), so identity rules meet several CRM matches.
        n = _count(BASE_COUNTS["customers"], s, 20)
        n_dup = max(2, round(n * 0.015))
        n_orig = n - n_dup
        idx = np.arange(n, dtype=np.int64)
        city = rng.integers(0, len(CITIES), n)
        signup = start_day - rng.integers(1, 6 * 365, n)
        customers = _Entities(
            first=rng.integers(0, len(FIRST_NAMES), n),
            last=rng.integers(0, len(LAST_NAMES), n),
            email_form=rng.integers(0, 3, n),
            email_num=idx + 1,
            email_domain=_pick_weighted(rng, np.array(EMAIL_DOMAIN_WEIGHTS), n),
            area=np.array([c[3] for c in CITIES], dtype=np.int64)[city],
            phone7=_phone7(idx),
            phone_format=rng.integers(0, 8, n),
            birth=_day_number(date(1941, 1, 1)) + rng.integers(0, 67 * 365, n),
            birth_format=(rng.random(n) < 0.3).astype(np.int64),
            has_birth=(rng.random(n) < 0.93).astype(np.int64),
            city=city,
            signup=signup,
            signup_format=(rng.random(n) < 0.15).astype(np.int64),
            updated=(signup * US_PER_DAY + (rng.random(n) * ((start_day - signup) * US_PER_DAY - 1)).astype(np.int64)),
            # Purchase propensity: about a third never buy (prospects); the rest are skewed but capped.
            activity=np.where(rng.random(n) < 0.35, 0.0, np.minimum(rng.lognormal(0.0, 0.8, n), 5.0)),
            needs_fix=np.zeros(n, dtype=bool),
        )
        src = rng.choice(n_orig, size=n_dup, replace=False)
        dup = np.arange(n_orig, n)
        for col in ("first", "last", "email_form", "email_num", "email_domain", "city"):
            customers.cols[col][dup] = customers.cols[col][src]
        share_phone = rng.random(n_dup) < 0.6
        share_phone[:2] = True  # the pinned phone-only loyalty member below then matches two customers
        customers.area[dup[share_phone]] = customers.area[src[share_phone]]
        customers.phone7[dup[share_phone]] = customers.phone7[src[share_phone]]
        self.customers = customers
        self.duplicate_account_sources = src

        # Products.
        n = _count(BASE_COUNTS["products"], s, 20)
        self.products = self._new_products(rng, n, 0, start_us, created_before=True)

        # Stores: distinct cities first, then second stores in the same cities.
        n = _count(BASE_COUNTS["stores"], s, 3)
        store_city = np.concatenate([rng.permutation(len(CITIES)) for _ in range(n // len(CITIES) + 1)])[:n]
        self.stores = _Entities(
            city=store_city,
            suffix=rng.integers(0, len(STORE_SUFFIXES), n),
            opened=start_day - rng.integers(90, 25 * 365, n),
            opened_format=(rng.random(n) < 0.4).astype(np.int64),
            footfall=rng.lognormal(0.0, 0.5, n),
        )

        # Support agents, at least one per team.
        n = _count(BASE_COUNTS["support_agents"], s, len(TEAMS))
        self.agents = self._new_agents(rng, n, start_day, hired_before=True)
        self.agents.team[: len(TEAMS)] = np.arange(len(TEAMS))

        # Loyalty members.
        n = _count(BASE_COUNTS["loyalty_members"], s, 15)
        self.members = _Entities(**{k: np.zeros(0, dtype=v.dtype) for k, v in self._member_template().items()})
        self._add_members(rng, n, 0, start_day, enrol_before=True, new_customers=None)

    def _member_template(self) -> dict[str, np.ndarray]:
        i = np.zeros(0, dtype=np.int64)
        return dict(link=i, customer=i, shown_customer=i, first=i, last=i, email_form=i, email_num=i,
                    email_domain=i, area=i, phone7=i, phone_format=i, tier=i, points=i, enrolled=i,
                    enrolled_format=i, updated=i, activity=np.zeros(0), needs_fix=np.zeros(0, dtype=bool))

    def _new_products(self, rng, n: int, first_index: int, at_us: int, created_before: bool) -> _Entities:
        cat = rng.integers(0, len(CATEGORIES), n)
        brand_offsets = np.cumsum([0] + [len(c[1]) for c in CATEGORIES])
        noun_offsets = np.cumsum([0] + [len(c[2]) for c in CATEGORIES])
        n_brands = np.array([len(c[1]) for c in CATEGORIES])[cat]
        n_nouns = np.array([len(c[2]) for c in CATEGORIES])[cat]
        lo = np.array([c[3] for c in CATEGORIES])[cat]
        hi = np.array([c[4] for c in CATEGORIES])[cat]
        if created_before:
            updated = at_us - rng.integers(US_PER_DAY, 400 * US_PER_DAY, n)
        else:
            updated = at_us + rng.integers(0, US_PER_DAY, n)
        return _Entities(
            category=cat,
            brand=brand_offsets[cat] + (rng.random(n) * n_brands).astype(np.int64),
            noun=noun_offsets[cat] + (rng.random(n) * n_nouns).astype(np.int64),
            variant=rng.integers(0, len(PRODUCT_VARIANTS), n),
            price=_charm_price(rng, lo, hi),
            updated=updated,
            popularity=1.0 / (rng.permutation(n) + first_index + 3.0) ** 0.8,
        )

    def _new_agents(self, rng, n: int, day_number: int, hired_before: bool) -> _Entities:
        team = rng.integers(0, len(TEAMS), n)
        return _Entities(
            first=rng.integers(0, len(FIRST_NAMES), n),
            last=rng.integers(0, len(LAST_NAMES), n),
            team=team,
            hired=day_number - (rng.integers(0, 8 * 365, n) if hired_before else np.zeros(n, dtype=np.int64)),
            hired_format=(rng.random(n) < 0.5).astype(np.int64),
            speed=rng.lognormal(0.0, 0.35, n),
            csat=np.array([t[2] for t in TEAMS])[team] + rng.normal(0.0, 0.35, n),
        )

    def _add_members(self, rng, n: int, day_index: int, day_number: int, enrol_before: bool,
                     new_customers: np.ndarray | None) -> np.ndarray:
        """Add n loyalty members; returns their indexes.

        Link kinds: 0 names its CRM customer_id, 1 only shares the CRM e-mail, 2 only shares the CRM phone
        (in another punctuation), 3 loyalty-only, 4 a second card of a customer who already has one.
        """
        m0 = len(self.members)
        c = self.customers
        link = _pick_weighted(rng, np.array([0.55, 0.12, 0.08, 0.20, 0.05]), n)
        if m0 == 0:
            # The first members pin the identity cases down at any scale.
            pinned = np.array([1, 2, 1, 2, 0, 3, 4, 0, 3])[:n]
            link[: pinned.size] = pinned
        candidates = np.flatnonzero(~self._duplicate_mask())  # duplicate accounts hold no cards
        if new_customers is not None and new_customers.size:
            # New members are mostly customers who signed up the same day.
            person = np.where(rng.random(n) < 0.6, rng.choice(new_customers, n), rng.choice(candidates, n))
        else:
            person = rng.choice(candidates, size=n, replace=n > candidates.size)
        if m0 == 0 and n >= 2:
            # The first e-mail-only and phone-only members belong to customers with a duplicate account.
            person[:2] = self.duplicate_account_sources[:2]
        has_card = np.flatnonzero(self.members.link == 0) if m0 else np.zeros(0, dtype=np.int64)
        second = link == 4
        if second.any():
            first_cards = np.concatenate([has_card, m0 + np.flatnonzero(link == 0)])
            if first_cards.size:
                person[second] = np.concatenate([self.members.customer, person])[rng.choice(first_cards, second.sum())]
            else:
                link[second] = 0
        linked = link != 3
        own_first = rng.integers(0, len(FIRST_NAMES), n)
        own_last = rng.integers(0, len(LAST_NAMES), n)
        member_index = np.arange(m0, m0 + n, dtype=np.int64)
        # E-mail: the CRM address (kinds 0, 1, 4 mostly) or the member's own address (pattern first.last.N).
        crm_email = (link == 1) | (((link == 0) | (link == 4)) & (rng.random(n) < 0.7))
        # Phone: the CRM number (kinds 0, 2, 4 mostly) or the member's own number.
        crm_phone = (link == 2) | (((link == 0) | (link == 4)) & (rng.random(n) < 0.6))
        no_email = (link == 2) & (rng.random(n) < 0.3)
        no_phone = ~crm_phone & (rng.random(n) < 0.15)
        p = person
        # Phone format differs from the CRM's for phone-only members, so matching needs normalisation.
        phone_format = np.where(link == 2, (c.phone_format[p] + rng.integers(1, 8, n)) % 8, rng.integers(0, 8, n))
        if enrol_before:
            enrolled = day_number - rng.integers(1, 5 * 365, n)
            updated = enrolled * US_PER_DAY + (rng.random(n) * ((day_number - enrolled) * US_PER_DAY - 1)).astype(np.int64)
        else:
            enrolled = np.full(n, day_number, dtype=np.int64)
            updated = day_number * US_PER_DAY + rng.integers(0, US_PER_DAY, n)
        tier = _pick_weighted(rng, np.array([0.55, 0.28, 0.13, 0.04]), n)
        self.members.append(
            link=link,
            customer=np.where(linked, p, -1),
            shown_customer=np.where((link == 0) | (link == 4), p, -1),
            first=np.where(linked, c.first[p], own_first),
            last=np.where(linked, c.last[p], own_last),
            email_form=np.where(no_email, -1, np.where(crm_email, c.email_form[p], 3)),
            email_num=np.where(crm_email, c.email_num[p], member_index + 1),
            email_domain=np.where(crm_email, c.email_domain[p],
                                  _pick_weighted(rng, np.array(EMAIL_DOMAIN_WEIGHTS), n)),
            area=np.where(crm_phone, c.area[p], np.array([x[3] for x in CITIES])[rng.integers(0, len(CITIES), n)]),
            phone7=np.where(crm_phone, c.phone7[p], _phone7(member_index, offset=4_000_000)),
            phone_format=np.where(no_phone, -1, phone_format),
            tier=tier,
            points=(rng.gamma(2.0, 400.0, n) * (1 + 2 * tier)).astype(np.int64),
            enrolled=enrolled,
            enrolled_format=(rng.random(n) < 0.25).astype(np.int64),
            updated=updated,
            activity=np.minimum(rng.lognormal(0.0, 0.8, n), 5.0),
            needs_fix=np.zeros(n, dtype=bool),
        )
        return member_index

    def _duplicate_mask(self) -> np.ndarray:
        c = self.customers
        mask = np.zeros(len(c), dtype=bool)
        n_dup = self.duplicate_account_sources.size
        base = _count(BASE_COUNTS["customers"], self.scale, 20)
        mask[base - n_dup: base] = True
        return mask

    # -- later days: updates and new records --------------------------------

    def evolve_dimensions(self, day_index: int, day: date) -> None:
        rng = self.rng(day_index, "world")
        s = self.scale
        day_number = _day_number(day)
        day_us = day_number * US_PER_DAY
        c = self.customers

        # Customers: some change e-mail, phone or address; some earlier bad records get fixed; new sign-ups.
        existing = len(c)
        k = _count(BASE_COUNTS["customers"] * 0.025, s, 1)
        changed = rng.choice(existing, size=min(k, existing), replace=False)
        fixes = np.flatnonzero(c.needs_fix)
        fixes = fixes[rng.random(fixes.size) < 0.6]
        what = rng.integers(0, 3, changed.size)
        email_change, phone_change, move = changed[what == 0], changed[what == 1], changed[what == 2]
        c.email_domain[email_change] = (c.email_domain[email_change]
                                        + rng.integers(1, len(EMAIL_DOMAINS), email_change.size)) % len(EMAIL_DOMAINS)
        c.email_form[email_change] = rng.integers(0, 3, email_change.size)
        c.area[phone_change] = np.array([x[3] for x in CITIES])[rng.integers(0, len(CITIES), phone_change.size)]
        c.phone_format[phone_change] = rng.integers(0, 8, phone_change.size)
        c.city[move] = rng.integers(0, len(CITIES), move.size)
        touched = np.union1d(changed, fixes)
        c.updated[touched] = day_us + rng.integers(0, US_PER_DAY, touched.size)
        c.needs_fix[fixes] = False
        n_new = _count(BASE_COUNTS["customers"] * 0.01, s, 1)
        new_idx = np.arange(existing, existing + n_new, dtype=np.int64)
        city = rng.integers(0, len(CITIES), n_new)
        c.append(
            first=rng.integers(0, len(FIRST_NAMES), n_new), last=rng.integers(0, len(LAST_NAMES), n_new),
            email_form=rng.integers(0, 3, n_new), email_num=new_idx + 1,
            email_domain=_pick_weighted(rng, np.array(EMAIL_DOMAIN_WEIGHTS), n_new),
            area=np.array([x[3] for x in CITIES], dtype=np.int64)[city], phone7=_phone7(new_idx),
            phone_format=rng.integers(0, 8, n_new),
            birth=_day_number(date(1941, 1, 1)) + rng.integers(0, 67 * 365, n_new),
            birth_format=(rng.random(n_new) < 0.3).astype(np.int64),
            has_birth=(rng.random(n_new) < 0.93).astype(np.int64), city=city,
            signup=np.full(n_new, day_number, dtype=np.int64), signup_format=np.zeros(n_new, dtype=np.int64),
            updated=day_us + rng.integers(0, US_PER_DAY, n_new),
            activity=np.minimum(rng.lognormal(0.3, 0.8, n_new), 5.0), needs_fix=np.zeros(n_new, dtype=bool),
        )
        self.customer_delta = np.concatenate([touched, new_idx])
        self.customer_stale_pool = np.setdiff1d(np.arange(existing), touched)

        # Products: price changes and the odd new product.
        p = self.products
        existing = len(p)
        k = _count(BASE_COUNTS["products"] * 0.03, s, 1)
        changed = rng.choice(existing, size=min(k, existing), replace=False)
        factor = rng.choice(np.array([0.8, 0.85, 0.9, 1.05, 1.1, 1.15]), changed.size)
        p.price[changed] = np.clip((p.price[changed] * factor).astype(np.int64) // 100 * 100 + 99, 499, 49_900)
        p.updated[changed] = day_us + rng.integers(0, US_PER_DAY, changed.size)
        n_new = _count(BASE_COUNTS["products"] * 0.005, s, 0)
        new = self._new_products(rng, n_new, existing, day_us, created_before=False)
        p.append(**new.cols)
        self.product_delta = np.concatenate([changed, np.arange(existing, existing + n_new)])
        self.product_stale_pool = np.setdiff1d(np.arange(existing), changed)

        # Stores: a few renamed; one new store opens on the second day.
        st = self.stores
        k = max(1, round(len(st) * 0.04))
        renamed = rng.choice(len(st), size=min(k, len(st)), replace=False)
        st.suffix[renamed] = (st.suffix[renamed] + rng.integers(1, len(STORE_SUFFIXES), renamed.size)) % len(STORE_SUFFIXES)
        delta = [renamed]
        if day_index == 1:
            st.append(city=rng.integers(0, len(CITIES), 1), suffix=rng.integers(0, len(STORE_SUFFIXES), 1),
                      opened=np.array([day_number]), opened_format=np.array([0]), footfall=np.array([1.2]))
            delta.append(np.array([len(st) - 1]))
        self.store_delta = np.concatenate(delta)

        # Agents: some move team; one hire on the second day.
        a = self.agents
        k = max(1, round(len(a) * 0.025))
        moved = rng.choice(len(a), size=min(k, len(a)), replace=False)
        a.team[moved] = (a.team[moved] + rng.integers(1, len(TEAMS), moved.size)) % len(TEAMS)
        delta = [moved]
        if day_index == 1:
            new = self._new_agents(rng, 1, day_number, hired_before=False)
            a.append(**new.cols)
            delta.append(np.array([len(a) - 1]))
        self.agent_delta = np.concatenate(delta)

        # Loyalty members: points and tier changes, fixes, and new members (mostly today's new customers).
        m = self.members
        existing = len(m)
        k = _count(BASE_COUNTS["loyalty_members"] * 0.04, s, 1)
        changed = rng.choice(existing, size=min(k, existing), replace=False)
        m.points[changed] += rng.integers(10, 600, changed.size)
        upgrade = changed[(rng.random(changed.size) < 0.15) & (m.tier[changed] < 3)]
        m.tier[upgrade] += 1
        fixes = np.flatnonzero(m.needs_fix)
        fixes = fixes[rng.random(fixes.size) < 0.6]
        touched = np.union1d(changed, fixes)
        m.updated[touched] = day_us + rng.integers(0, US_PER_DAY, touched.size)
        m.needs_fix[fixes] = False
        n_new = _count(BASE_COUNTS["loyalty_members"] * 0.01, s, 1)
        added = self._add_members(rng, n_new, day_index, day_number, enrol_before=False, new_customers=new_idx)
        self.member_delta = np.concatenate([touched, added])
        self.member_stale_pool = np.setdiff1d(np.arange(existing), touched)

    def _stale(self, rng, source: str, pool: np.ndarray, n_delta: int) -> np.ndarray:
        """Records re-delivered with an updated_at older than the one already delivered (dirty)."""
        if self.dirty_rate <= 0 or pool.size == 0:
            return np.zeros(0, dtype=np.int64)
        k = int(rng.binomial(max(n_delta, 1), self.dirty_rate))
        if not self.occurrences[source]["stale_version"]:
            k = max(k, 1)
        chosen = rng.choice(pool, size=min(k, pool.size), replace=False)
        self.occurrences[source]["stale_version"] += chosen.size
        return chosen

    # -- dimension files ----------------------------------------------------

    def write_customers(self, day_index: int, day: date) -> None:
        source = "customers"
        rng = self.rng(day_index, source)
        c = self.customers
        if day_index == 0:
            rows, stale = np.arange(len(c)), np.zeros(0, dtype=np.int64)
        else:
            rows = self.customer_delta
            stale = self._stale(rng, source, self.customer_stale_pool, rows.size)
        n = rows.size
        dk, dv = self.assign_dirty(rng, source, n, DIRTY_KINDS[source])
        # A record delivered with an unusable e-mail is re-delivered corrected on a later day.
        c.needs_fix[rows] = dk == self.code(source, "bad_email")
        all_rows = np.concatenate([rows, stale])
        dk = np.concatenate([dk, np.full(stale.size, self.code(source, "stale_version"))])
        dv = np.concatenate([dv, rng.integers(0, 1 << 30, stale.size)])
        m = all_rows.size
        cols = dict(
            cid=all_rows + 1, fn=c.first[all_rows], ln=c.last[all_rows], ef=c.email_form[all_rows],
            en=c.email_num[all_rows], ed=c.email_domain[all_rows],
            es=(rng.random(m) < 0.08).astype(np.int64),
            area=c.area[all_rows], n7=c.phone7[all_rows], pf=c.phone_format[all_rows],
            bd=c.birth[all_rows], bdf=c.birth_format[all_rows], hb=c.has_birth[all_rows],
            city=c.city[all_rows], sd=c.signup[all_rows], sdf=c.signup_format[all_rows],
            ts=c.updated[all_rows],
            tsf=_format_codes(rng, m, (TS_SPACE, TS_Z, TS_OFFSET, TS_MILLIS), (0.6, 0.2, 0.15, 0.05)),
            off=np.array([x[4] for x in CITIES])[c.city[all_rows]],
            dk=dk, dv=dv,
        )
        cols = self.expand(source, cols)
        columns = {
            "customer_id": "g_customer_id(cid)",
            "first_name": "g_first(fn)",
            "last_name": "g_last(ln)",
            "email": "g_email(email_local, email_domain, ef, es)",
            "phone": "g_phone(area, n7, pf)",
            "birth_date": "CASE WHEN hb = 1 THEN g_date(bd, bdf) END",
            "city": "g_city(city)",
            "state": "g_state(city)",
            "country": "'US'",
            "signup_date": "g_date(sd, sdf)",
            "updated_at": "g_ts(ts, tsf, off)",
        }
        overrides = {
            "missing_key": {"customer_id": "CASE WHEN dv % 2 = 0 THEN NULL ELSE '  ' END"},
            "pad_whitespace": {"first_name": "'  ' || {b} || ' '", "email": "' ' || {b} || '  '",
                               "city": "' ' || {b}"},
            "empty_string": {"city": "''", "state": "''"},
            "bad_email": {"email": "g_bad_email(email_local, email_domain, dv)"},
            "bad_phone": {"phone": "g_bad_phone(area, n7, dv)"},
            "bad_birth_date": {"birth_date": "g_bad_date(bd, dv)"},
            "bad_signup_date": {"signup_date": "g_bad_date(sd, dv)"},
            "bad_updated_at": {"updated_at": "g_bad_ts(ts, dv)"},
            "version_pair": {"updated_at": f"g_ts(ts - (1 + dv % 48) * {US_PER_HOUR}, tsf, off)",
                             "email": "g_email_local(first_e, last_e, (ef + 1) % 3, en) || '@' || "
                                      f"g_domain((ed + 1) % {len(EMAIL_DOMAINS)})",
                             "phone": "g_phone(area, n7, (pf + 3) % 8)"},
            "stale_version": {"updated_at": f"g_ts(ts - (30 + dv % 300) * {US_PER_DAY}, tsf, off)",
                              "email": "g_email_local(first_e, last_e, (ef + 2) % 3, en) || '@' || "
                                       f"g_domain((ed + 2) % {len(EMAIL_DOMAINS)})",
                              "city": f"g_city((city + 7) % {len(CITIES)})",
                              "state": f"g_state((city + 7) % {len(CITIES)})"},
        }
        layers = (
            {"first_e": "g_first_e(fn)", "last_e": "g_last_e(ln)", "email_domain": "g_domain(ed)"},
            {"email_local": "g_email_local(first_e, last_e, CASE WHEN ef < 0 THEN 0 ELSE ef END, en)"},
        )
        self.write(day, source, cols, columns, overrides, layers)

    def write_products(self, day_index: int, day: date) -> None:
        source = "products"
        rng = self.rng(day_index, source)
        p = self.products
        if day_index == 0:
            rows, stale = np.arange(len(p)), np.zeros(0, dtype=np.int64)
        else:
            rows = self.product_delta
            stale = self._stale(rng, source, self.product_stale_pool, rows.size)
        dk, dv = self.assign_dirty(rng, source, rows.size, DIRTY_KINDS[source])
        all_rows = np.concatenate([rows, stale])
        dk = np.concatenate([dk, np.full(stale.size, self.code(source, "stale_version"))])
        dv = np.concatenate([dv, rng.integers(0, 1 << 30, stale.size)])
        m = all_rows.size
        cols = dict(
            pid=all_rows + 1, cat=p.category[all_rows], br=p.brand[all_rows], nn=p.noun[all_rows],
            va=p.variant[all_rows], price=p.price[all_rows],
            dollar=(rng.random(m) < 0.15).astype(np.int64), ts=p.updated[all_rows],
            tsf=_format_codes(rng, m, (TS_T, TS_MICROS_Z, TS_SPACE), (0.7, 0.2, 0.1)),
            off=np.zeros(m, dtype=np.int64), dk=dk, dv=dv,
        )
        cols = self.expand(source, cols)
        columns = {
            "product_id": "g_product_id(pid)",
            "product_name": "g_brand(br) || ' ' || g_noun(nn) || g_variant(va)",
            "category": "g_category(cat)",
            "brand": "g_brand(br)",
            "unit_price": "g_money(price, dollar)",
            "updated_at": "g_ts(ts, tsf, off)",
        }
        overrides = {
            "missing_key": {"product_id": "CASE WHEN dv % 2 = 0 THEN NULL ELSE ' ' END"},
            "pad_whitespace": {"product_name": "' ' || {b} || '  '", "brand": "{b} || ' '", "category": "'  ' || {b}"},
            "empty_category": {"category": "CASE dv % 3 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE '   ' END"},
            "negative_price": {"unit_price": "'-' || g_money(price, 0)"},
            "garbage_price": {"unit_price": "g_pick(dv, ['N/A', 'free', 'TBD', '$', '12.99.1'])"},
            "bad_updated_at": {"updated_at": "g_bad_ts(ts, dv)"},
            "version_pair": {"updated_at": f"g_ts(ts - (1 + dv % 72) * {US_PER_HOUR}, tsf, off)",
                             "unit_price": "g_money(price + 100 + dv % 900, dollar)"},
            "stale_version": {"updated_at": f"g_ts(ts - (20 + dv % 200) * {US_PER_DAY}, tsf, off)",
                              "unit_price": "g_money(price + 500 + dv % 900, dollar)"},
        }
        self.write(day, source, cols, columns, overrides)

    def write_stores(self, day_index: int, day: date) -> None:
        source = "stores"
        rng = self.rng(day_index, source)
        st = self.stores
        rows = np.arange(len(st)) if day_index == 0 else self.store_delta
        dk, dv = self.assign_dirty(rng, source, rows.size, DIRTY_KINDS[source])
        cols = dict(
            sid=rows + 1, city=st.city[rows], sx=st.suffix[rows], od=st.opened[rows], odf=st.opened_format[rows],
            dk=dk, dv=dv,
        )
        cols = self.expand(source, cols)
        columns = {
            "store_id": "g_store_id(sid)",
            "store_name": "g_city(city) || ' ' || g_suffix(sx)",
            "city": "g_city(city)",
            "state": "g_state(city)",
            "region": "g_region(city)",
            "opened_date": "g_date(od, odf)",
        }
        overrides = {
            "missing_key": {"store_id": "CASE WHEN dv % 2 = 0 THEN NULL ELSE '' END"},
            "pad_whitespace": {"store_name": "'  ' || {b} || ' '", "store_id": "' ' || {b}"},
            "empty_string": {"region": "''", "city": "CASE WHEN dv % 2 = 0 THEN '' ELSE {b} END"},
            "bad_opened_date": {"opened_date": "g_bad_date(od, dv)"},
            "key_conflict": {"store_name": f"g_city(city) || ' ' || g_suffix((sx + 1) % {len(STORE_SUFFIXES)})"},
        }
        self.write(day, source, cols, columns, overrides)

    def write_support_agents(self, day_index: int, day: date) -> None:
        source = "support_agents"
        rng = self.rng(day_index, source)
        a = self.agents
        rows = np.arange(len(a)) if day_index == 0 else self.agent_delta
        dk, dv = self.assign_dirty(rng, source, rows.size, DIRTY_KINDS[source])
        cols = dict(
            aid=rows + 1, fn=a.first[rows], ln=a.last[rows], team=a.team[rows], hd=a.hired[rows],
            hdf=a.hired_format[rows], dk=dk, dv=dv,
        )
        cols = self.expand(source, cols)
        columns = {
            "agent_id": "g_agent_id(aid)",
            "agent_name": "g_first(fn) || ' ' || g_last(ln)",
            "team": "g_team(team)",
            "hire_date": "g_date(hd, hdf)",
        }
        overrides = {
            "missing_key": {"agent_id": "CASE WHEN dv % 2 = 0 THEN NULL ELSE '   ' END"},
            "pad_whitespace": {"agent_name": "' ' || {b} || '  '", "team": "{b} || ' '"},
            "bad_hire_date": {"hire_date": "g_bad_date(hd, dv)"},
            "key_conflict": {"team": f"g_team((team + 1) % {len(TEAMS)})"},
        }
        self.write(day, source, cols, columns, overrides)

    def write_loyalty_members(self, day_index: int, day: date) -> None:
        source = "loyalty_members"
        rng = self.rng(day_index, source)
        mb = self.members
        if day_index == 0:
            rows, stale = np.arange(len(mb)), np.zeros(0, dtype=np.int64)
        else:
            rows = self.member_delta
            stale = self._stale(rng, source, self.member_stale_pool, rows.size)
        dk, dv = self.assign_dirty(rng, source, rows.size, DIRTY_KINDS[source])
        mb.needs_fix[rows] = dk == self.code(source, "bad_email")
        all_rows = np.concatenate([rows, stale])
        dk = np.concatenate([dk, np.full(stale.size, self.code(source, "stale_version"))])
        dv = np.concatenate([dv, rng.integers(0, 1 << 30, stale.size)])
        c = self.customers
        person = mb.customer[all_rows]
        linked = person >= 0
        person = np.where(linked, person, 0)
        m = all_rows.size
        enrolled_city = (all_rows * 7) % len(CITIES)
        cols = dict(
            card=all_rows + 1, cust=mb.shown_customer[all_rows], fn=mb.first[all_rows], ln=mb.last[all_rows],
            ef=mb.email_form[all_rows], en=mb.email_num[all_rows], ed=mb.email_domain[all_rows],
            es=(rng.random(m) < 0.15).astype(np.int64),
            area=mb.area[all_rows], n7=mb.phone7[all_rows], pf=mb.phone_format[all_rows],
            tier=mb.tier[all_rows], tc=(rng.random(m) < 0.2).astype(np.int64), pts=mb.points[all_rows],
            edt=mb.enrolled[all_rows], edf=mb.enrolled_format[all_rows], ts=mb.updated[all_rows],
            tsf=_format_codes(rng, m, (TS_SPACE, TS_T, TS_OFFSET), (0.5, 0.3, 0.2)),
            off=np.array([x[4] for x in CITIES])[enrolled_city],
            # The linked CRM customer's e-mail, written instead of the member's own by unknown_customer_id
            # rows so that the e-mail rule (not the customer_id rule) resolves them.
            xfn=np.where(linked, c.first[person], mb.first[all_rows]),
            xln=np.where(linked, c.last[person], mb.last[all_rows]),
            xef=np.where(linked, c.email_form[person], np.maximum(mb.email_form[all_rows], 3)),
            xen=np.where(linked, c.email_num[person], mb.email_num[all_rows]),
            xed=np.where(linked, c.email_domain[person], mb.email_domain[all_rows]),
            dk=dk, dv=dv,
        )
        cols = self.expand(source, cols)
        columns = {
            "loyalty_card_id": "g_card_id(card)",
            "customer_id": "CASE WHEN cust >= 0 THEN g_customer_id(cust + 1) END",
            "email": "g_email(email_local, email_domain, ef, es)",
            "phone": "g_phone(area, n7, pf)",
            "first_name": "g_first(fn)",
            "last_name": "g_last(ln)",
            "tier": "CASE WHEN tc = 1 THEN upper(g_tier_name(tier)[1]) || g_tier_name(tier)[2:] ELSE g_tier_name(tier) END",
            "points_balance": "pts::VARCHAR",
            "enrolled_date": "g_date(edt, edf)",
            "updated_at": "g_ts(ts, tsf, off)",
        }
        overrides = {
            "missing_key": {"loyalty_card_id": "CASE WHEN dv % 2 = 0 THEN NULL ELSE '  ' END"},
            "pad_whitespace": {"email": "'  ' || {b} || ' '", "first_name": "{b} || '   '",
                               "loyalty_card_id": "' ' || {b} || ' '"},
            "empty_string": {"last_name": "''", "phone": "''"},
            "bad_email": {"email": "g_bad_email(email_local, email_domain, dv)"},
            "bad_phone": {"phone": "g_bad_phone(area, n7, dv)"},
            "bad_tier": {"tier": "g_pick(dv, ['diamond', 'VIP', 'gold member', '5', 'silverr'])"},
            "odd_case_tier": {"tier": "g_odd_case(g_tier_name(tier), dv)"},
            "bad_points": {"points_balance": "g_pick(dv, ['12.5', 'n/a', '1,200', 'lots'])"},
            "bad_enrolled_date": {"enrolled_date": "g_bad_date(edt, dv)"},
            "unknown_customer_id": {"customer_id": "g_unknown_customer_id(dv)",
                                    "email": "g_email(crm_email_local, crm_email_domain, xef, es)"},
            "bad_updated_at": {"updated_at": "g_bad_ts(ts, dv)"},
            "version_pair": {"updated_at": f"g_ts(ts - (1 + dv % 48) * {US_PER_HOUR}, tsf, off)",
                             "points_balance": "(pts // 2)::VARCHAR"},
            "stale_version": {"updated_at": f"g_ts(ts - (10 + dv % 300) * {US_PER_DAY}, tsf, off)",
                              "points_balance": "(pts // 3)::VARCHAR",
                              "tier": "g_tier_name(greatest(tier - 1, 0))"},
        }
        layers = (
            {"first_e": "g_first_e(fn)", "last_e": "g_last_e(ln)", "email_domain": "g_domain(ed)",
             "crm_first_e": "g_first_e(xfn)", "crm_last_e": "g_last_e(xln)", "crm_email_domain": "g_domain(xed)"},
            {"email_local": "g_email_local(first_e, last_e, CASE WHEN ef < 0 THEN 3 ELSE ef END, en)",
             "crm_email_local": "g_email_local(crm_first_e, crm_last_e, xef, xen)"},
        )
        self.write(day, source, cols, columns, overrides, layers)

    # -- fact files ---------------------------------------------------------

    def _lines(self, rng, n_orders: int) -> tuple[np.ndarray, np.ndarray]:
        """Expand orders into 1-5 lines: (order index per line, line number)."""
        per_order = _pick_weighted(rng, np.array([0.45, 0.25, 0.15, 0.10, 0.05]), n_orders) + 1
        order = np.repeat(np.arange(n_orders, dtype=np.int64), per_order)
        starts = np.cumsum(per_order) - per_order
        line = np.arange(order.size, dtype=np.int64) - np.repeat(starts, per_order) + 1
        return order, line

    def _line_amounts(self, rng, product: np.ndarray) -> dict[str, np.ndarray]:
        n = product.size
        quantity = _pick_weighted(rng, np.array([0.70, 0.18, 0.07, 0.03, 0.01, 0.01]), n) + 1
        price = self.products.price[product].copy()
        promo = rng.random(n) < 0.08
        price[promo] = price[promo] * 8 // 10
        discount_kind = _pick_weighted(rng, np.array([0.62, 0.10, 0.28]), n)  # empty, zero, amount
        discount = (quantity * price * rng.uniform(0.05, 0.3, n)).astype(np.int64)
        return dict(q=quantity, price=price, dollar=(rng.random(n) < 0.1).astype(np.int64),
                    dkind=discount_kind, disc=discount, ddollar=(rng.random(n) < 0.1).astype(np.int64))

    def write_online_orders(self, day_index: int, day: date) -> None:
        source = "online_orders"
        rng = self.rng(day_index, source)
        day_number = _day_number(day)
        day_us = day_number * US_PER_DAY
        mean_orders = BASE_COUNTS["online_order_lines_per_day"] * self.scale / 2.05 * ONLINE_WEEKDAY[day.weekday()]
        n_orders = max(1, int(rng.poisson(mean_orders)))
        hours = _utc_profile(ONLINE_LOCAL_HOURS, BUSINESS_UTC_OFFSET_HOURS)
        ts = np.sort(day_us + _pick_weighted(rng, hours, n_orders) * US_PER_HOUR + rng.integers(0, US_PER_HOUR, n_orders))
        utc_hour = (ts - day_us) // US_PER_HOUR
        local_hour = (utc_hour + BUSINESS_UTC_OFFSET_HOURS) % 24
        p_mobile = np.where((local_hour >= 18) | (local_hour < 1), 0.6, 0.38)
        c = self.customers
        customer = _pick_weighted(rng, c.activity + 1e-3, n_orders)
        customer[rng.random(n_orders) < 0.02] = -1  # guest checkout
        order_cols = dict(
            cust=customer, ts=ts,
            tsf=_format_codes(rng, n_orders, (TS_SPACE, TS_T, TS_Z, TS_MILLIS, TS_MICROS_Z, TS_OFFSET, TS_MILLIS_OFFSET),
                              (0.45, 0.1, 0.2, 0.08, 0.07, 0.07, 0.03)),
            off=np.array([-300, -360, -480, 120, 60, 330])[_pick_weighted(rng, np.array([0.4, 0.25, 0.2, 0.07, 0.05, 0.03]), n_orders)],
            ch=(rng.random(n_orders) < p_mobile).astype(np.int64),
            st=_pick_weighted(rng, np.array([0.88, 0.07, 0.05]), n_orders),
        )
        order, line = self._lines(rng, n_orders)
        product = _pick_weighted(rng, self.products.popularity, order.size)
        cols = dict(od=np.full(order.size, int(day.strftime("%Y%m%d")), dtype=np.int64), oid=order + 1, ln=line,
                    **_take(order_cols, order), prod=product, **self._line_amounts(rng, product))
        today = dict(cols)
        # Yesterday's completed orders that came back: every line re-delivered as returned (same keys).
        if self.previous_orders:
            prev = self.previous_orders
            completed_orders = np.unique(prev["oid"][prev["st"] == 0])
            returned = completed_orders[rng.random(completed_orders.size) < 0.015]
            again = _take(prev, np.flatnonzero(np.isin(prev["oid"], returned)))
            again["st"] = np.full(_rows(again), 2, dtype=np.int64)
            cols = _concat([cols, again])
        self.previous_orders = today
        n = _rows(cols)
        cols["dk"], cols["dv"] = self.assign_dirty(rng, source, n, DIRTY_KINDS[source])
        cols = self.expand(source, cols)
        columns = {
            "order_id": "'O-' || od::VARCHAR || '-' || g_pad(oid, 7)",
            "line_number": "ln::VARCHAR",
            "customer_id": "CASE WHEN cust >= 0 THEN g_customer_id(cust + 1) END",
            "order_ts": "g_ts(ts, tsf, off)",
            "channel": "g_order_channel(ch)",
            "product_id": "g_product_id(prod + 1)",
            **_AMOUNT_COLUMNS,
            "order_status": "g_order_status(st)",
        }
        overrides = {
            "missing_key": {"order_id": "CASE dv % 3 WHEN 0 THEN NULL WHEN 1 THEN {b} ELSE '  ' END",
                            "line_number": "CASE dv % 3 WHEN 1 THEN NULL ELSE {b} END"},
            "invalid_timestamp": {"order_ts": "g_bad_ts(ts, dv)"},
            "bare_date_timestamp": {"order_ts": f"g_ts(ts, {TS_BARE_DATE}, 0)"},
            **_AMOUNT_OVERRIDES,
            "invalid_channel": {"channel": "CASE WHEN dv % 6 = 5 THEN NULL"
                                           " ELSE g_pick(dv, ['store', 'phone', 'webshop', 'in_store', 'app']) END"},
            "invalid_status": {"order_status": "CASE WHEN dv % 6 = 5 THEN NULL"
                                               " ELSE g_pick(dv, ['shipped', 'pending', 'refunded', 'complete', 'cancel']) END"},
            "odd_case_enum": {"channel": "g_odd_case({b}, dv)", "order_status": "g_odd_case({b}, dv // 4)"},
            "pad_whitespace": {"order_id": "' ' || {b} || ' '", "customer_id": "'  ' || {b}", "product_id": "{b} || ' '"},
            "unknown_product": {"product_id": "g_unknown_product_id(dv)"},
            "unknown_customer": {"customer_id": "g_unknown_customer_id(dv)"},
            "key_conflict": {"quantity": "(q + 1)::VARCHAR"},
        }
        self.write(day, source, cols, columns, overrides)

    def write_store_sales(self, day_index: int, day: date) -> None:
        source = "store_sales"
        rng = self.rng(day_index, source)
        day_number = _day_number(day)
        st = self.stores
        mean_tx = BASE_COUNTS["store_sale_lines_per_day"] * self.scale / 2.05 * STORE_WEEKDAY[day.weekday()]
        n_tx = max(1, int(rng.poisson(mean_tx)))
        store = _pick_weighted(rng, st.footfall, n_tx)
        offset = np.array([x[4] for x in CITIES])[st.city[store]]
        local_us = (day_number * US_PER_DAY + _pick_weighted(rng, STORE_LOCAL_HOURS, n_tx) * US_PER_HOUR
                    + rng.integers(0, US_PER_HOUR, n_tx))
        ts = local_us - offset * 60 * US_PER_SECOND
        order = np.argsort(ts, kind="stable")
        store, offset, ts = store[order], offset[order], ts[order]
        # Each till system writes one timestamp style: local time with offset, UTC, or UTC with Z.
        till_format = np.array([TS_OFFSET, TS_SPACE, TS_MICROS_Z, TS_MILLIS_OFFSET, TS_T])[store % 5]
        members = self.members
        card = np.where(rng.random(n_tx) < 0.5, _pick_weighted(rng, members.activity, n_tx), -1)
        tx_cols = dict(store=store, ts=ts, tsf=till_format, off=offset, card=card,
                       pm=_pick_weighted(rng, np.array([0.6, 0.2, 0.15, 0.05]), n_tx))
        tx, line = self._lines(rng, n_tx)
        product = _pick_weighted(rng, self.products.popularity, tx.size)
        n = tx.size
        cols = dict(td=np.full(n, int(day.strftime("%Y%m%d")), dtype=np.int64), tid=tx + 1, ln=line,
                    **_take(tx_cols, tx), prod=product, **self._line_amounts(rng, product))
        cols["dk"], cols["dv"] = self.assign_dirty(rng, source, n, DIRTY_KINDS[source])
        cols = self.expand(source, cols)
        columns = {
            "transaction_id": "'T-' || td::VARCHAR || '-' || g_pad(tid, 7)",
            "line_number": "ln::VARCHAR",
            "store_id": "g_store_id(store + 1)",
            "loyalty_card_id": "CASE WHEN card >= 0 THEN g_card_id(card + 1) END",
            "transaction_ts": "g_ts(ts, tsf, off)",
            "product_id": "g_product_id(prod + 1)",
            **_AMOUNT_COLUMNS,
            "payment_method": "g_payment(pm)",
        }
        overrides = {
            "missing_key": {"transaction_id": "CASE dv % 3 WHEN 0 THEN NULL WHEN 1 THEN {b} ELSE ' ' END",
                            "line_number": "CASE dv % 3 WHEN 1 THEN NULL ELSE {b} END"},
            "invalid_timestamp": {"transaction_ts": "g_bad_ts(ts, dv)"},
            "bare_date_timestamp": {"transaction_ts": f"g_ts(ts, {TS_BARE_DATE}, 0)"},
            **_AMOUNT_OVERRIDES,
            "unknown_store": {"store_id": "g_unknown_store_id(dv)"},
            "unknown_product": {"product_id": "g_unknown_product_id(dv)"},
            "unknown_card": {"loyalty_card_id": "g_unknown_card_id(dv)"},
            "pad_whitespace": {"transaction_id": "{b} || '  '", "store_id": "' ' || {b}",
                               "loyalty_card_id": "' ' || {b} || ' '"},
            "empty_string": {"loyalty_card_id": "''"},
            "odd_case_payment": {"payment_method": "g_odd_case({b}, dv)"},
            "key_conflict": {"payment_method": "g_payment((pm + 1) % 4)"},
        }
        self.write(day, source, cols, columns, overrides)

    def write_support_tickets(self, day_index: int, day: date) -> None:
        source = "support_tickets"
        rng = self.rng(day_index, source)
        day_number = _day_number(day)
        day_us = day_number * US_PER_DAY
        end_us = day_us + US_PER_DAY
        mean = BASE_COUNTS["support_tickets_per_day"] * self.scale * SUPPORT_WEEKDAY[day.weekday()]
        n = max(1, int(rng.poisson(mean)))
        channel = _pick_weighted(rng, np.array([0.35, 0.35, 0.30]), n)
        ts = np.empty(n, dtype=np.int64)
        for ch, name in enumerate(TICKET_CHANNELS):
            mask = channel == ch
            hours = _utc_profile(SUPPORT_LOCAL_HOURS[name], BUSINESS_UTC_OFFSET_HOURS)
            ts[mask] = day_us + _pick_weighted(rng, hours, mask.sum()) * US_PER_HOUR + rng.integers(0, US_PER_HOUR, mask.sum())
        order = np.argsort(ts, kind="stable")
        ts, channel = ts[order], channel[order]
        category = _pick_weighted(rng, np.array([0.22, 0.24, 0.16, 0.14, 0.12, 0.12]), n)
        team = np.array([t for _, t in TICKET_CATEGORIES])[category]
        team[rng.random(n) < 0.05] = 4  # escalated
        a = self.agents
        agent = np.empty(n, dtype=np.int64)
        for t in range(len(TEAMS)):
            mask = team == t
            pool = np.flatnonzero(a.team == t)
            if pool.size == 0:
                pool = np.arange(len(a))
            agent[mask] = pool[rng.integers(0, pool.size, mask.sum())]

        # Resolution: agent- and channel-dependent durations; unresolved by the end of the day means the
        # ticket is delivered open or pending now and again, resolved, on the day it gets resolved.
        base_hours = np.array([t[1] for t in TEAMS])[team] * a.speed[agent] * np.array([0.5, 1.5, 0.3])[channel]
        hours = rng.lognormal(np.log(base_hours), 0.8)
        resolve_us = np.where(rng.random(n) < 0.08, np.iinfo(np.int64).max // 2, ts + (hours * US_PER_HOUR).astype(np.int64))
        resolved_today = resolve_us < end_us
        status = np.where(resolved_today, np.where(rng.random(n) < 0.7, 2, 3), np.where(rng.random(n) < 0.6, 0, 1))
        unassigned = ~resolved_today & (rng.random(n) < 0.1)
        agent[unassigned] = -1
        csat = np.where(rng.random(n) < 0.55, np.clip(np.rint(rng.normal(a.csat[agent], 0.9)), 1, 5), 0).astype(np.int64)

        # Who wrote in: a known customer_id, or only an e-mail (CRM, loyalty or unknown), or nothing.
        c, mb = self.customers, self.members
        who = _pick_weighted(rng, np.array([0.60, 0.10, 0.12, 0.06, 0.07, 0.05]), n)
        person = _pick_weighted(rng, c.activity + 0.2, n)
        member = rng.integers(0, len(mb), n)
        from_member = who == 3
        from_unknown = who == 4
        cust = np.where(who <= 1, person, -1)
        ef = np.where(who == 1, -1, np.where(from_member, mb.email_form[member], c.email_form[person]))
        ef = np.where(from_unknown, 4, ef)
        ef = np.where(who == 5, -1, ef)
        ef = np.where(from_member & (ef < 0), 3, ef)
        unknown_num = 900_000 + rng.integers(0, 99_999, n)
        cols = dict(
            tday=np.full(n, int(day.strftime("%Y%m%d")), dtype=np.int64), tnum=np.arange(1, n + 1, dtype=np.int64),
            cust=cust,
            efn=np.where(from_member, mb.first[member], np.where(from_unknown, rng.integers(0, len(FIRST_NAMES), n), c.first[person])),
            eln=np.where(from_member, mb.last[member], np.where(from_unknown, rng.integers(0, len(LAST_NAMES), n), c.last[person])),
            ef=ef,
            en=np.where(from_member, np.where(mb.email_form[member] < 0, member + 1, mb.email_num[member]),
                        np.where(from_unknown, unknown_num, c.email_num[person])),
            ed=np.where(from_member, mb.email_domain[member], c.email_domain[person]),
            es=(rng.random(n) < 0.12).astype(np.int64),
            agent=agent, ch=channel, cat=category, ts=ts,
            tsf=_format_codes(rng, n, (TS_Z, TS_SPACE, TS_MILLIS, TS_OFFSET), (0.6, 0.2, 0.1, 0.1)),
            off=np.full(n, -300, dtype=np.int64),
            rts=np.where(resolved_today, resolve_us, -1), st=status, csat=np.where(resolved_today, csat, 0),
        )
        # Tickets opened earlier and resolved today are re-delivered with their final status.
        pend = self.pending_tickets
        if pend:
            due = (pend["resolve_us"] >= day_us) & (pend["resolve_us"] < end_us)
            again = _take(pend, np.flatnonzero(due))
            self.pending_tickets = _take(pend, np.flatnonzero(~due))
            k = _rows(again)
            again["rts"] = again.pop("resolve_us")
            again["st"] = np.where(rng.random(k) < 0.7, 2, 3)
            again["agent"] = np.where(again["agent"] < 0, rng.integers(0, len(a), k), again["agent"])
            again["csat"] = np.where(rng.random(k) < 0.55,
                                     np.clip(np.rint(rng.normal(a.csat[again["agent"]], 0.9)), 1, 5), 0).astype(np.int64)
            new_pending = _take(cols, np.flatnonzero(~resolved_today))
            new_pending["resolve_us"] = resolve_us[~resolved_today]
            del new_pending["rts"]
            self.pending_tickets = _concat([self.pending_tickets, new_pending])
            cols = _concat([cols, again])
        else:
            new_pending = _take(cols, np.flatnonzero(~resolved_today))
            new_pending["resolve_us"] = resolve_us[~resolved_today]
            del new_pending["rts"]
            self.pending_tickets = new_pending
        n = _rows(cols)
        cols["dk"], cols["dv"] = self.assign_dirty(rng, source, n, DIRTY_KINDS[source])
        cols = self.expand(source, cols)
        columns = {
            "ticket_id": "'TK-' || tday::VARCHAR || '-' || g_pad(tnum, 6)",
            "customer_id": "CASE WHEN cust >= 0 THEN g_customer_id(cust + 1) END",
            "customer_email": "g_email(email_local, email_domain, ef, es)",
            "agent_id": "CASE WHEN agent >= 0 THEN g_agent_id(agent + 1) END",
            "channel": "g_ticket_channel(ch)",
            "category": "g_ticket_category(cat)",
            "created_at": "g_ts(ts, tsf, off)",
            "resolved_at": "CASE WHEN rts >= 0 THEN g_ts(rts, tsf, off) END",
            "status": "g_ticket_status(st)",
            "csat_score": "CASE WHEN csat > 0 THEN csat::VARCHAR END",
        }
        overrides = {
            "missing_key": {"ticket_id": "CASE WHEN dv % 2 = 0 THEN NULL ELSE '  ' END"},
            "invalid_timestamp": {"created_at": "g_bad_ts(ts, dv)"},
            "invalid_channel": {"channel": "CASE WHEN dv % 5 = 4 THEN NULL"
                                           " ELSE g_pick(dv, ['sms', 'fax', 'social', 'walk-in']) END"},
            "invalid_status": {"status": "CASE WHEN dv % 5 = 4 THEN NULL"
                                         " ELSE g_pick(dv, ['escalated', 'in progress', 'done', 'new']) END"},
            "odd_case_enum": {"channel": "g_odd_case({b}, dv)", "status": "g_odd_case({b}, dv // 4)"},
            "resolved_before_created": {"resolved_at": f"g_ts(ts - (1 + dv % 48) * {US_PER_HOUR}, tsf, off)",
                                        "status": "'resolved'"},
            "bad_resolved_at": {"resolved_at": f"g_bad_ts(ts + {US_PER_HOUR}, dv % 7)", "status": "'closed'"},
            "bad_csat": {"csat_score": "g_pick(dv, ['0', '6', '4.5', 'x', '10', '-1'])"},
            "bad_email": {"customer_email": "g_bad_email(email_local, email_domain, dv)"},
            "unknown_agent": {"agent_id": "g_unknown_agent_id(dv)"},
            "unknown_customer_id": {"customer_id": "g_unknown_customer_id(dv)"},
            "pad_whitespace": {"ticket_id": "' ' || {b}", "customer_email": "{b} || '  '", "agent_id": "{b} || ' '"},
            "key_conflict": {"category": f"g_ticket_category((cat + 1) % {len(TICKET_CATEGORIES)})"},
        }
        layers = (
            {"first_e": "g_first_e(efn)", "last_e": "g_last_e(eln)", "email_domain": "g_domain(ed)"},
            {"email_local": "g_email_local(first_e, last_e, CASE WHEN ef < 0 THEN 4 ELSE ef END, en)"},
        )
        self.write(day, source, cols, columns, overrides, layers)
