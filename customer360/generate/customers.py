"""The CRM's customers file: every customer on the first day, then the changed and new ones."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from customer360.generate.dirty import DirtyKinds
from customer360.generate.draws import US_PER_DAY, US_PER_HOUR, flags, format_codes
from customer360.generate.formats import TS_MILLIS, TS_OFFSET, TS_SPACE, TS_Z, email_layers
from customer360.generate.vocabulary import CITIES, CITY_UTC_OFFSET_MINUTES, EMAIL_DOMAINS

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "customers"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "pad_whitespace", "empty_string", "bad_email", "bad_phone", "bad_birth_date",
        "bad_signup_date", "bad_updated_at", "duplicate", "version_pair"
    ),
    later_day=("stale_version",),
    dimension=True,
)

COLUMNS = {
    "customer_id": "g_customer_id(customer_number)",
    "first_name": "g_first(first_name_index)",
    "last_name": "g_last(last_name_index)",
    "email": "g_email(email_local, email_domain, email_form, email_capitalised)",
    "phone": "g_phone(area_code, subscriber_number, phone_format)",
    "birth_date": "CASE WHEN has_birth_date = 1 THEN g_date(birth_day, birth_format) END",
    "city": "g_city(city_index)",
    "state": "g_state(city_index)",
    "country": "'US'",
    "signup_date": "g_date(signup_day, signup_format)",
    "updated_at": "g_ts(updated_us, timestamp_format, utc_offset_minutes)",
}
OVERRIDES = {
    "missing_key": {"customer_id": "CASE WHEN variant % 2 = 0 THEN NULL ELSE '  ' END"},
    "pad_whitespace": {"first_name": "'  ' || {b} || ' '", "email": "' ' || {b} || '  '", "city": "' ' || {b}"},
    "empty_string": {"city": "''", "state": "''"},
    "bad_email": {"email": "g_bad_email(email_local, email_domain, variant)"},
    "bad_phone": {"phone": "g_bad_phone(area_code, subscriber_number, variant)"},
    "bad_birth_date": {"birth_date": "g_bad_date(birth_day, variant)"},
    "bad_signup_date": {"signup_date": "g_bad_date(signup_day, variant)"},
    "bad_updated_at": {"updated_at": "g_bad_ts(updated_us, variant)"},
    "version_pair": {
        "updated_at": f"g_ts(updated_us - (1 + variant % 48) * {US_PER_HOUR}, timestamp_format, utc_offset_minutes)",
        "email": "g_email_local(first_e, last_e, (email_form + 1) % 3, email_number) || '@' || "
                 f"g_domain((email_domain_index + 1) % {len(EMAIL_DOMAINS)})",
        "phone": "g_phone(area_code, subscriber_number, (phone_format + 3) % 8)",
    },
    "stale_version": {
        "updated_at": f"g_ts(updated_us - (30 + variant % 300) * {US_PER_DAY}, timestamp_format, utc_offset_minutes)",
        "email": "g_email_local(first_e, last_e, (email_form + 2) % 3, email_number) || '@' || "
                 f"g_domain((email_domain_index + 2) % {len(EMAIL_DOMAINS)})",
        "city": f"g_city((city_index + 7) % {len(CITIES)})",
        "state": f"g_state((city_index + 7) % {len(CITIES)})",
    },
}
DERIVED = email_layers(form_when_none=0)


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    crm = run.world.customers
    delivered, stale_pool = run.world.delivery(SOURCE, day_index)
    records, codes, variants = run.dirty.versioned_delivery(rng, DIRTY, delivered, stale_pool)
    # A record delivered with an unusable e-mail is re-delivered corrected on a later day.
    crm.needs_fix[delivered] = codes[: delivered.size] == DIRTY.code("bad_email")
    n = records.size
    frame = dict(
        customer_number=records + 1, first_name_index=crm.first[records], last_name_index=crm.last[records],
        email_form=crm.email_form[records], email_number=crm.email_num[records],
        email_domain_index=crm.email_domain[records], email_capitalised=flags(rng, n, 0.08),
        area_code=crm.area[records], subscriber_number=crm.phone7[records], phone_format=crm.phone_format[records],
        birth_day=crm.birth[records], birth_format=crm.birth_format[records], has_birth_date=crm.has_birth[records],
        city_index=crm.city[records], signup_day=crm.signup[records], signup_format=crm.signup_format[records],
        updated_us=crm.updated[records],
        timestamp_format=format_codes(rng, n, (TS_SPACE, TS_Z, TS_OFFSET, TS_MILLIS), (0.6, 0.2, 0.15, 0.05)),
        utc_offset_minutes=CITY_UTC_OFFSET_MINUTES[crm.city[records]],
        dirty_kind=codes, variant=variants,
    )
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES, DERIVED)
