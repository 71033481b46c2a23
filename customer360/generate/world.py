"""The generator's world: CRM customers, products, stores, loyalty members and agents, evolved day by day."""

from __future__ import annotations

from datetime import date

import numpy as np

from customer360.generate.draws import (
    BASE_COUNTS, US_PER_DAY, Entities, charm_price, count, day_number, flags, pick_weighted, stream,
    subscriber_numbers,
)
from customer360.generate.vocabulary import (
    CATEGORIES, CITIES, CITY_AREA_CODES, EMAIL_DOMAIN_WEIGHTS, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES,
    PRODUCT_VARIANTS, STORE_SUFFIXES, TEAMS,
)

# How a loyalty member is linked to the CRM (drawn with these weights): by naming its customer_id, by
# sharing only the CRM e-mail, by sharing only the CRM phone (in another punctuation), not at all, or as
# a second card of a customer who already has one.
LINK_CUSTOMER_ID, LINK_EMAIL_ONLY, LINK_PHONE_ONLY, LINK_NONE, LINK_SECOND_CARD = range(5)
LINK_WEIGHTS = (0.55, 0.12, 0.08, 0.20, 0.05)
# The first members pin every identity case down at any scale.
PINNED_FIRST_LINKS = (LINK_EMAIL_ONLY, LINK_PHONE_ONLY, LINK_EMAIL_ONLY, LINK_PHONE_ONLY, LINK_CUSTOMER_ID,
                      LINK_NONE, LINK_SECOND_CARD, LINK_CUSTOMER_ID, LINK_NONE)
TIER_WEIGHTS = (0.55, 0.28, 0.13, 0.04)
EARLIEST_BIRTH = date(1941, 1, 1)


class World:
    """Every dimension record, as numpy columns; day 1 builds it, each later day changes some of it.

    After each day, `delta[source]` holds the records a later day's file re-delivers (changed or new) and
    `stale_pool[source]` the unchanged ones a stale re-delivery may pick.
    """

    def __init__(self, seed: int, scale: float, start: date) -> None:
        self.seed = seed
        self.scale = scale
        self.start = start
        self.delta: dict[str, np.ndarray] = {}
        self.stale_pool: dict[str, np.ndarray] = {}

    def delivery(self, source: str, day_index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(records a dimension's file delivers, records a stale re-delivery may pick or None on day 1):
        every record on the first day, the changed and new ones later."""
        if day_index == 0:
            entities = getattr(self, {"loyalty_members": "members", "support_agents": "agents"}.get(source, source))
            return np.arange(len(entities)), None
        return self.delta[source], self.stale_pool.get(source)

    # -- the first day -------------------------------------------------------

    def build_customers(self) -> None:
        """The first day's CRM customers: the first part of the world, which the customers file needs alone."""
        rng = self._build_rng = stream(self.seed, 0, "world")
        scale = self.scale
        start_day = day_number(self.start)

        # CRM customers; the last ones are duplicate accounts of earlier customers (same e-mail, often
        # the same phone), so identity rules meet several CRM matches.
        n = count(BASE_COUNTS["customers"], scale, 20)
        duplicates = max(2, round(n * 0.015))
        originals = n - duplicates
        index = np.arange(n, dtype=np.int64)
        city = rng.integers(0, len(CITIES), n)
        signup = start_day - rng.integers(1, 6 * 365, n)
        customers = Entities(
            first=rng.integers(0, len(FIRST_NAMES), n),
            last=rng.integers(0, len(LAST_NAMES), n),
            email_form=rng.integers(0, 3, n),
            email_num=index + 1,
            email_domain=pick_weighted(rng, np.array(EMAIL_DOMAIN_WEIGHTS), n),
            area=CITY_AREA_CODES[city],
            phone7=subscriber_numbers(index),
            phone_format=rng.integers(0, 8, n),
            birth=day_number(EARLIEST_BIRTH) + rng.integers(0, 67 * 365, n),
            birth_format=flags(rng, n, 0.3),
            has_birth=flags(rng, n, 0.93),
            city=city,
            signup=signup,
            signup_format=flags(rng, n, 0.15),
            updated=(signup * US_PER_DAY + (rng.random(n) * ((start_day - signup) * US_PER_DAY - 1)).astype(np.int64)),
            # Purchase propensity: about a third never buy (prospects); the rest are skewed but capped.
            activity=np.where(rng.random(n) < 0.35, 0.0, np.minimum(rng.lognormal(0.0, 0.8, n), 5.0)),
            needs_fix=np.zeros(n, dtype=bool),
        )
        source_accounts = rng.choice(originals, size=duplicates, replace=False)
        duplicate_accounts = np.arange(originals, n)
        for column in ("first", "last", "email_form", "email_num", "email_domain", "city"):
            customers.cols[column][duplicate_accounts] = customers.cols[column][source_accounts]
        share_phone = rng.random(duplicates) < 0.6
        share_phone[:2] = True  # the pinned phone-only loyalty member below then matches two customers
        customers.area[duplicate_accounts[share_phone]] = customers.area[source_accounts[share_phone]]
        customers.phone7[duplicate_accounts[share_phone]] = customers.phone7[source_accounts[share_phone]]
        self.customers = customers
        self.duplicate_account_sources = source_accounts

    def build_rest(self) -> None:
        """The rest of the first day's world (after build_customers, from the same random stream)."""
        rng = self._build_rng
        scale = self.scale
        start_day = day_number(self.start)
        start_us = start_day * US_PER_DAY
        n = count(BASE_COUNTS["products"], scale, 20)
        self.products = self._new_products(rng, n, 0, start_us, created_before=True)

        # Stores: distinct cities first, then second stores in the same cities.
        n = count(BASE_COUNTS["stores"], scale, 3)
        store_city = np.concatenate([rng.permutation(len(CITIES)) for _ in range(n // len(CITIES) + 1)])[:n]
        self.stores = Entities(
            city=store_city,
            suffix=rng.integers(0, len(STORE_SUFFIXES), n),
            opened=start_day - rng.integers(90, 25 * 365, n),
            opened_format=flags(rng, n, 0.4),
            footfall=rng.lognormal(0.0, 0.5, n),
        )

        # Support agents, at least one per team.
        n = count(BASE_COUNTS["support_agents"], scale, len(TEAMS))
        self.agents = self._new_agents(rng, n, start_day, hired_before=True)
        self.agents.team[: len(TEAMS)] = np.arange(len(TEAMS))

        n = count(BASE_COUNTS["loyalty_members"], scale, 15)
        self.members = Entities(**_member_columns_template())
        self._add_members(rng, n, start_day, enrol_before=True, new_customers=None)

    def _new_products(self, rng, n: int, first_index: int, at_us: int, created_before: bool) -> Entities:
        category = rng.integers(0, len(CATEGORIES), n)
        brand_offsets = np.cumsum([0] + [len(c[1]) for c in CATEGORIES])
        noun_offsets = np.cumsum([0] + [len(c[2]) for c in CATEGORIES])
        brands_in_category = np.array([len(c[1]) for c in CATEGORIES])[category]
        nouns_in_category = np.array([len(c[2]) for c in CATEGORIES])[category]
        lowest = np.array([c[3] for c in CATEGORIES])[category]
        highest = np.array([c[4] for c in CATEGORIES])[category]
        if created_before:
            updated = at_us - rng.integers(US_PER_DAY, 400 * US_PER_DAY, n)
        else:
            updated = at_us + rng.integers(0, US_PER_DAY, n)
        return Entities(
            category=category,
            brand=brand_offsets[category] + (rng.random(n) * brands_in_category).astype(np.int64),
            noun=noun_offsets[category] + (rng.random(n) * nouns_in_category).astype(np.int64),
            variant=rng.integers(0, len(PRODUCT_VARIANTS), n),
            price=charm_price(rng, lowest, highest),
            updated=updated,
            popularity=1.0 / (rng.permutation(n) + first_index + 3.0) ** 0.8,
        )

    def _new_agents(self, rng, n: int, hired_on: int, hired_before: bool) -> Entities:
        team = rng.integers(0, len(TEAMS), n)
        return Entities(
            first=rng.integers(0, len(FIRST_NAMES), n),
            last=rng.integers(0, len(LAST_NAMES), n),
            team=team,
            hired=hired_on - (rng.integers(0, 8 * 365, n) if hired_before else np.zeros(n, dtype=np.int64)),
            hired_format=flags(rng, n, 0.5),
            speed=rng.lognormal(0.0, 0.35, n),
            csat=np.array([t[2] for t in TEAMS])[team] + rng.normal(0.0, 0.35, n),
        )

    def _add_members(self, rng, n: int, on_day: int, enrol_before: bool,
                     new_customers: np.ndarray | None) -> np.ndarray:
        """Add n loyalty members (see LINK_*); returns their indexes."""
        first_member = len(self.members)
        crm = self.customers
        link = pick_weighted(rng, np.array(LINK_WEIGHTS), n)
        if first_member == 0:
            pinned = np.array(PINNED_FIRST_LINKS)[:n]
            link[: pinned.size] = pinned
        candidates = np.flatnonzero(~self._duplicate_mask())  # duplicate accounts hold no cards
        if new_customers is not None and new_customers.size:
            # New members are mostly customers who signed up the same day.
            person = np.where(rng.random(n) < 0.6, rng.choice(new_customers, n), rng.choice(candidates, n))
        else:
            person = rng.choice(candidates, size=n, replace=n > candidates.size)
        if first_member == 0 and n >= 2:
            # The first e-mail-only and phone-only members belong to customers with a duplicate account.
            person[:2] = self.duplicate_account_sources[:2]
        has_card = (np.flatnonzero(self.members.link == LINK_CUSTOMER_ID) if first_member
                    else np.zeros(0, dtype=np.int64))
        second = link == LINK_SECOND_CARD
        if second.any():
            first_cards = np.concatenate([has_card, first_member + np.flatnonzero(link == LINK_CUSTOMER_ID)])
            if first_cards.size:
                person[second] = np.concatenate([self.members.customer, person])[rng.choice(first_cards, second.sum())]
            else:
                link[second] = LINK_CUSTOMER_ID
        linked = link != LINK_NONE
        own_first = rng.integers(0, len(FIRST_NAMES), n)
        own_last = rng.integers(0, len(LAST_NAMES), n)
        member_index = np.arange(first_member, first_member + n, dtype=np.int64)
        names_customer = (link == LINK_CUSTOMER_ID) | (link == LINK_SECOND_CARD)
        # E-mail: the CRM address (mostly, when the card names its customer) or the member's own address.
        crm_email = (link == LINK_EMAIL_ONLY) | (names_customer & (rng.random(n) < 0.7))
        # Phone: the CRM number (mostly, when the card names its customer) or the member's own number.
        crm_phone = (link == LINK_PHONE_ONLY) | (names_customer & (rng.random(n) < 0.6))
        no_email = (link == LINK_PHONE_ONLY) & (rng.random(n) < 0.3)
        no_phone = ~crm_phone & (rng.random(n) < 0.15)
        # Phone format differs from the CRM's for phone-only members, so matching needs normalisation.
        phone_format = np.where(link == LINK_PHONE_ONLY, (crm.phone_format[person] + rng.integers(1, 8, n)) % 8,
                                rng.integers(0, 8, n))
        if enrol_before:
            enrolled = on_day - rng.integers(1, 5 * 365, n)
            updated = enrolled * US_PER_DAY + (rng.random(n) * ((on_day - enrolled) * US_PER_DAY - 1)).astype(np.int64)
        else:
            enrolled = np.full(n, on_day, dtype=np.int64)
            updated = on_day * US_PER_DAY + rng.integers(0, US_PER_DAY, n)
        tier = pick_weighted(rng, np.array(TIER_WEIGHTS), n)
        self.members.append(
            link=link,
            customer=np.where(linked, person, -1),
            shown_customer=np.where(names_customer, person, -1),
            first=np.where(linked, crm.first[person], own_first),
            last=np.where(linked, crm.last[person], own_last),
            email_form=np.where(no_email, -1, np.where(crm_email, crm.email_form[person], 3)),
            email_num=np.where(crm_email, crm.email_num[person], member_index + 1),
            email_domain=np.where(crm_email, crm.email_domain[person],
                                  pick_weighted(rng, np.array(EMAIL_DOMAIN_WEIGHTS), n)),
            area=np.where(crm_phone, crm.area[person], CITY_AREA_CODES[rng.integers(0, len(CITIES), n)]),
            phone7=np.where(crm_phone, crm.phone7[person], subscriber_numbers(member_index, offset=4_000_000)),
            phone_format=np.where(no_phone, -1, phone_format),
            tier=tier,
            points=(rng.gamma(2.0, 400.0, n) * (1 + 2 * tier)).astype(np.int64),
            enrolled=enrolled,
            enrolled_format=flags(rng, n, 0.25),
            updated=updated,
            activity=np.minimum(rng.lognormal(0.0, 0.8, n), 5.0),
            needs_fix=np.zeros(n, dtype=bool),
        )
        return member_index

    def _duplicate_mask(self) -> np.ndarray:
        mask = np.zeros(len(self.customers), dtype=bool)
        duplicates = self.duplicate_account_sources.size
        first_day_customers = count(BASE_COUNTS["customers"], self.scale, 20)
        mask[first_day_customers - duplicates: first_day_customers] = True
        return mask

    # -- later days: updates and new records ---------------------------------

    def evolve(self, day_index: int, day: date) -> None:
        rng = stream(self.seed, day_index, "world")
        scale = self.scale
        today = day_number(day)
        day_us = today * US_PER_DAY
        crm = self.customers

        # Customers: some change e-mail, phone or address; some earlier bad records get fixed; new sign-ups.
        existing = len(crm)
        changed = rng.choice(existing, size=min(count(BASE_COUNTS["customers"] * 0.025, scale, 1), existing),
                             replace=False)
        fixes = np.flatnonzero(crm.needs_fix)
        fixes = fixes[rng.random(fixes.size) < 0.6]
        what = rng.integers(0, 3, changed.size)
        email_change, phone_change, move = changed[what == 0], changed[what == 1], changed[what == 2]
        crm.email_domain[email_change] = (crm.email_domain[email_change]
                                          + rng.integers(1, len(EMAIL_DOMAINS), email_change.size)) % len(EMAIL_DOMAINS)
        crm.email_form[email_change] = rng.integers(0, 3, email_change.size)
        crm.area[phone_change] = CITY_AREA_CODES[rng.integers(0, len(CITIES), phone_change.size)]
        crm.phone_format[phone_change] = rng.integers(0, 8, phone_change.size)
        crm.city[move] = rng.integers(0, len(CITIES), move.size)
        touched = np.union1d(changed, fixes)
        crm.updated[touched] = day_us + rng.integers(0, US_PER_DAY, touched.size)
        crm.needs_fix[fixes] = False
        new_count = count(BASE_COUNTS["customers"] * 0.01, scale, 1)
        new_customers = np.arange(existing, existing + new_count, dtype=np.int64)
        city = rng.integers(0, len(CITIES), new_count)
        crm.append(
            first=rng.integers(0, len(FIRST_NAMES), new_count), last=rng.integers(0, len(LAST_NAMES), new_count),
            email_form=rng.integers(0, 3, new_count), email_num=new_customers + 1,
            email_domain=pick_weighted(rng, np.array(EMAIL_DOMAIN_WEIGHTS), new_count),
            area=CITY_AREA_CODES[city], phone7=subscriber_numbers(new_customers),
            phone_format=rng.integers(0, 8, new_count),
            birth=day_number(EARLIEST_BIRTH) + rng.integers(0, 67 * 365, new_count),
            birth_format=flags(rng, new_count, 0.3),
            has_birth=flags(rng, new_count, 0.93), city=city,
            signup=np.full(new_count, today, dtype=np.int64), signup_format=np.zeros(new_count, dtype=np.int64),
            updated=day_us + rng.integers(0, US_PER_DAY, new_count),
            activity=np.minimum(rng.lognormal(0.3, 0.8, new_count), 5.0), needs_fix=np.zeros(new_count, dtype=bool),
        )
        self.delta["customers"] = np.concatenate([touched, new_customers])
        self.stale_pool["customers"] = np.setdiff1d(np.arange(existing), touched)

        # Products: price changes and the odd new product.
        products = self.products
        existing = len(products)
        changed = rng.choice(existing, size=min(count(BASE_COUNTS["products"] * 0.03, scale, 1), existing),
                             replace=False)
        factor = rng.choice(np.array([0.8, 0.85, 0.9, 1.05, 1.1, 1.15]), changed.size)
        products.price[changed] = np.clip((products.price[changed] * factor).astype(np.int64) // 100 * 100 + 99,
                                          499, 49_900)
        products.updated[changed] = day_us + rng.integers(0, US_PER_DAY, changed.size)
        new_count = count(BASE_COUNTS["products"] * 0.005, scale, 0)
        products.append(**self._new_products(rng, new_count, existing, day_us, created_before=False).cols)
        self.delta["products"] = np.concatenate([changed, np.arange(existing, existing + new_count)])
        self.stale_pool["products"] = np.setdiff1d(np.arange(existing), changed)

        # Stores: a few renamed; one new store opens on the second day.
        stores = self.stores
        renamed = rng.choice(len(stores), size=min(max(1, round(len(stores) * 0.04)), len(stores)), replace=False)
        stores.suffix[renamed] = ((stores.suffix[renamed] + rng.integers(1, len(STORE_SUFFIXES), renamed.size))
                                  % len(STORE_SUFFIXES))
        delta = [renamed]
        if day_index == 1:
            stores.append(city=rng.integers(0, len(CITIES), 1), suffix=rng.integers(0, len(STORE_SUFFIXES), 1),
                          opened=np.array([today]), opened_format=np.array([0]), footfall=np.array([1.2]))
            delta.append(np.array([len(stores) - 1]))
        self.delta["stores"] = np.concatenate(delta)

        # Agents: some move team; one hire on the second day.
        agents = self.agents
        moved = rng.choice(len(agents), size=min(max(1, round(len(agents) * 0.025)), len(agents)), replace=False)
        agents.team[moved] = (agents.team[moved] + rng.integers(1, len(TEAMS), moved.size)) % len(TEAMS)
        delta = [moved]
        if day_index == 1:
            agents.append(**self._new_agents(rng, 1, today, hired_before=False).cols)
            delta.append(np.array([len(agents) - 1]))
        self.delta["support_agents"] = np.concatenate(delta)

        # Loyalty members: points and tier changes, fixes, and new members (mostly today's new customers).
        members = self.members
        existing = len(members)
        changed = rng.choice(existing, size=min(count(BASE_COUNTS["loyalty_members"] * 0.04, scale, 1), existing),
                             replace=False)
        members.points[changed] += rng.integers(10, 600, changed.size)
        upgrade = changed[(rng.random(changed.size) < 0.15) & (members.tier[changed] < 3)]
        members.tier[upgrade] += 1
        fixes = np.flatnonzero(members.needs_fix)
        fixes = fixes[rng.random(fixes.size) < 0.6]
        touched = np.union1d(changed, fixes)
        members.updated[touched] = day_us + rng.integers(0, US_PER_DAY, touched.size)
        members.needs_fix[fixes] = False
        added = self._add_members(rng, count(BASE_COUNTS["loyalty_members"] * 0.01, scale, 1), today,
                                  enrol_before=False, new_customers=new_customers)
        self.delta["loyalty_members"] = np.concatenate([touched, added])
        self.stale_pool["loyalty_members"] = np.setdiff1d(np.arange(existing), touched)


def _member_columns_template() -> dict[str, np.ndarray]:
    none = np.zeros(0, dtype=np.int64)
    return dict(link=none, customer=none, shown_customer=none, first=none, last=none, email_form=none,
                email_num=none, email_domain=none, area=none, phone7=none, phone_format=none, tier=none,
                points=none, enrolled=none, enrolled_format=none, updated=none, activity=np.zeros(0),
                needs_fix=np.zeros(0, dtype=bool))
