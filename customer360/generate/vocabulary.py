"""The generator's built-in word lists, enumerations and activity profiles (no external data)."""

from __future__ import annotations

import numpy as np

from customer360 import contract


def _accepted(table: str, column: str) -> tuple[str, ...]:
    """The contract's accepted values of an enumeration column, in the contract's order."""
    for rule in contract.ACCEPTED_VALUES:
        if (rule.table, rule.column) == (table, column):
            return rule.values
    raise KeyError(f"the contract declares no accepted values for {table}.{column}")


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
CITY_AREA_CODES = np.array([city[3] for city in CITIES], dtype=np.int64)
CITY_UTC_OFFSET_MINUTES = np.array([city[4] for city in CITIES])
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
ESCALATIONS_TEAM = 4
# (ticket category, team that handles it)
TICKET_CATEGORIES = (
    ("billing", 0), ("delivery", 1), ("returns", 1), ("product_question", 3), ("account", 3), ("technical", 2),
)
# Enumerations the pipeline checks: their values come from the contract, as the source systems write them.
TICKET_CHANNELS = _accepted("silver.support_tickets", "channel")
TICKET_STATUSES = _accepted("silver.support_tickets", "status")
ORDER_CHANNELS = _accepted("silver.online_order_lines", "channel")
ORDER_STATUSES = _accepted("silver.online_order_lines", "order_status")
TIERS = tuple(tier.lower() for tier in contract.LOYALTY_TIER_ORDER)  # exported lower-case; silver capitalises
PAYMENT_METHODS = ("card", "cash", "mobile_wallet", "gift_card")

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
