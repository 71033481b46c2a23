"""The SQL macros that turn the generator's numeric columns into the strings the source systems write."""

from __future__ import annotations

import unicodedata

from customer360.generate.vocabulary import (
    CATEGORIES, CITIES, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, ORDER_CHANNELS, ORDER_STATUSES, PAYMENT_METHODS,
    PRODUCT_VARIANTS, STORE_SUFFIXES, TEAMS, TICKET_CATEGORIES, TICKET_CHANNELS, TICKET_STATUSES, TIERS,
)

# Timestamp format codes understood by the g_ts SQL macro.
TS_SPACE, TS_T, TS_Z, TS_MILLIS, TS_MICROS_Z, TS_OFFSET, TS_MILLIS_OFFSET, TS_BARE_DATE = range(8)


def sql_string(value: str) -> str:
    """A DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values) -> str:
    return "[" + ", ".join(sql_string(v) for v in values) + "]"


def _email_safe(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_name.lower() if c.isalnum() or c == "-")


def sql_macros() -> list[str]:
    """CREATE MACRO statements: word-list lookups by index, and formatters of dates, money, ids and contacts."""
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
        """CREATE MACRO g_phone(area, subscriber, f) AS CASE f
            WHEN 0 THEN '(' || area::VARCHAR || ') ' || (subscriber // 10000)::VARCHAR || '-' || g_pad(subscriber % 10000, 4)
            WHEN 1 THEN area::VARCHAR || '-' || (subscriber // 10000)::VARCHAR || '-' || g_pad(subscriber % 10000, 4)
            WHEN 2 THEN area::VARCHAR || '.' || (subscriber // 10000)::VARCHAR || '.' || g_pad(subscriber % 10000, 4)
            WHEN 3 THEN area::VARCHAR || subscriber::VARCHAR
            WHEN 4 THEN '+1 ' || area::VARCHAR || ' ' || (subscriber // 10000)::VARCHAR || ' ' || g_pad(subscriber % 10000, 4)
            WHEN 5 THEN '1-' || area::VARCHAR || '-' || (subscriber // 10000)::VARCHAR || '-' || g_pad(subscriber % 10000, 4)
            WHEN 6 THEN '+1 (' || area::VARCHAR || ') ' || (subscriber // 10000)::VARCHAR || '-' || g_pad(subscriber % 10000, 4)
            WHEN 7 THEN '1' || area::VARCHAR || subscriber::VARCHAR
            ELSE NULL END""",
        # Phones that are neither 10 digits nor 11 starting with 1.
        """CREATE MACRO g_bad_phone(area, subscriber, v) AS CASE v % 6
            WHEN 0 THEN printf('%03d-%04d', subscriber // 10000, subscriber % 10000)
            WHEN 1 THEN printf('+44 20 %04d %04d', subscriber // 1000, subscriber % 10000)
            WHEN 2 THEN printf('2%03d%07d', area, subscriber)
            WHEN 3 THEN 'N/A'
            WHEN 4 THEN printf('%03d-%03d-%03d', area, subscriber // 10000, (subscriber % 10000) // 10)
            ELSE printf('(%03d) %03d-%04d x12', area, subscriber // 10000, subscriber % 10000) END""",
    ]
    return macros


def email_layers(prefix: str = "", form_when_none: int | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Derived-column layers giving `{prefix}email_local` and `{prefix}email_domain` from the frame's
    `{prefix}first_name_index`, `last_name_index`, `email_form`, `email_number` and `email_domain_index`.

    A row without an e-mail (form < 0) still gets a local part, in form_when_none, for the dirty kinds
    that write one anyway.
    """
    form = f"{prefix}email_form"
    if form_when_none is not None:
        form = f"CASE WHEN {form} < 0 THEN {form_when_none} ELSE {form} END"
    return (
        {f"{prefix}first_e": f"g_first_e({prefix}first_name_index)",
         f"{prefix}last_e": f"g_last_e({prefix}last_name_index)",
         f"{prefix}email_domain": f"g_domain({prefix}email_domain_index)"},
        {f"{prefix}email_local": f"g_email_local({prefix}first_e, {prefix}last_e, {form}, {prefix}email_number)"},
    )
