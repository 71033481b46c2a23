"""The loyalty programme's members file: every card on the first day, then points, tier and new cards."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from customer360.generate.dirty import DirtyKinds
from customer360.generate.draws import US_PER_DAY, US_PER_HOUR, flags, format_codes
from customer360.generate.formats import TS_OFFSET, TS_SPACE, TS_T, email_layers
from customer360.generate.vocabulary import CITIES, CITY_UTC_OFFSET_MINUTES

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "loyalty_members"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "pad_whitespace", "empty_string", "bad_email", "bad_phone", "bad_tier",
        "odd_case_tier", "bad_points", "bad_enrolled_date", "unknown_customer_id", "bad_updated_at",
        "duplicate", "version_pair"
    ),
    later_day=("stale_version",),
    dimension=True,
)
OWN_EMAIL_FORM = 3  # first.last.N, an address of the member's own

COLUMNS = {
    "loyalty_card_id": "g_card_id(card_number)",
    "customer_id": "CASE WHEN customer_index >= 0 THEN g_customer_id(customer_index + 1) END",
    "email": "g_email(email_local, email_domain, email_form, email_capitalised)",
    "phone": "g_phone(area_code, subscriber_number, phone_format)",
    "first_name": "g_first(first_name_index)",
    "last_name": "g_last(last_name_index)",
    "tier": ("CASE WHEN tier_capitalised = 1 THEN upper(g_tier_name(tier_index)[1]) || g_tier_name(tier_index)[2:]"
             " ELSE g_tier_name(tier_index) END"),
    "points_balance": "points::VARCHAR",
    "enrolled_date": "g_date(enrolled_day, enrolled_format)",
    "updated_at": "g_ts(updated_us, timestamp_format, utc_offset_minutes)",
}
OVERRIDES = {
    "missing_key": {"loyalty_card_id": "CASE WHEN variant % 2 = 0 THEN NULL ELSE '  ' END"},
    "pad_whitespace": {"email": "'  ' || {b} || ' '", "first_name": "{b} || '   '",
                       "loyalty_card_id": "' ' || {b} || ' '"},
    "empty_string": {"last_name": "''", "phone": "''"},
    "bad_email": {"email": "g_bad_email(email_local, email_domain, variant)"},
    "bad_phone": {"phone": "g_bad_phone(area_code, subscriber_number, variant)"},
    "bad_tier": {"tier": "g_pick(variant, ['diamond', 'VIP', 'gold member', '5', 'silverr'])"},
    "odd_case_tier": {"tier": "g_odd_case(g_tier_name(tier_index), variant)"},
    "bad_points": {"points_balance": "g_pick(variant, ['12.5', 'n/a', '1,200', 'lots'])"},
    "bad_enrolled_date": {"enrolled_date": "g_bad_date(enrolled_day, variant)"},
    "unknown_customer_id": {"customer_id": "g_unknown_customer_id(variant)",
                            "email": "g_email(crm_email_local, crm_email_domain, crm_email_form, email_capitalised)"},
    "bad_updated_at": {"updated_at": "g_bad_ts(updated_us, variant)"},
    "version_pair": {
        "updated_at": f"g_ts(updated_us - (1 + variant % 48) * {US_PER_HOUR}, timestamp_format, utc_offset_minutes)",
        "points_balance": "(points // 2)::VARCHAR",
    },
    "stale_version": {
        "updated_at": f"g_ts(updated_us - (10 + variant % 300) * {US_PER_DAY}, timestamp_format, utc_offset_minutes)",
        "points_balance": "(points // 3)::VARCHAR",
        "tier": "g_tier_name(greatest(tier_index - 1, 0))",
    },
}
# The member's own e-mail, and the linked CRM customer's (see unknown_customer_id).
DERIVED = tuple(
    {**own, **crm} for own, crm in zip(email_layers(form_when_none=OWN_EMAIL_FORM), email_layers("crm_"))
)


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    members = run.world.members
    delivered, stale_pool = run.world.delivery(SOURCE, day_index)
    records, codes, variants = run.dirty.versioned_delivery(rng, DIRTY, delivered, stale_pool)
    members.needs_fix[delivered] = codes[: delivered.size] == DIRTY.code("bad_email")
    crm = run.world.customers
    person = members.customer[records]
    linked = person >= 0
    person = np.where(linked, person, 0)
    n = records.size
    enrolled_city = (records * 7) % len(CITIES)
    frame = dict(
        card_number=records + 1, customer_index=members.shown_customer[records],
        first_name_index=members.first[records], last_name_index=members.last[records],
        email_form=members.email_form[records], email_number=members.email_num[records],
        email_domain_index=members.email_domain[records], email_capitalised=flags(rng, n, 0.15),
        area_code=members.area[records], subscriber_number=members.phone7[records],
        phone_format=members.phone_format[records],
        tier_index=members.tier[records], tier_capitalised=flags(rng, n, 0.2), points=members.points[records],
        enrolled_day=members.enrolled[records], enrolled_format=members.enrolled_format[records],
        updated_us=members.updated[records],
        timestamp_format=format_codes(rng, n, (TS_SPACE, TS_T, TS_OFFSET), (0.5, 0.3, 0.2)),
        utc_offset_minutes=CITY_UTC_OFFSET_MINUTES[enrolled_city],
        # The linked CRM customer's e-mail, written instead of the member's own by unknown_customer_id
        # rows so that the e-mail rule (not the customer_id rule) resolves them.
        crm_first_name_index=np.where(linked, crm.first[person], members.first[records]),
        crm_last_name_index=np.where(linked, crm.last[person], members.last[records]),
        crm_email_form=np.where(linked, crm.email_form[person], np.maximum(members.email_form[records], OWN_EMAIL_FORM)),
        crm_email_number=np.where(linked, crm.email_num[person], members.email_num[records]),
        crm_email_domain_index=np.where(linked, crm.email_domain[person], members.email_domain[records]),
        dirty_kind=codes, variant=variants,
    )
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES, DERIVED)
