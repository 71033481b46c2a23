"""The support desk's tickets file: the day's tickets, and earlier tickets re-delivered when resolved."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from customer360.generate.dirty import DirtyKinds
from customer360.generate.draws import (
    BASE_COUNTS, US_PER_DAY, US_PER_HOUR, Columns, concat, date_digits, day_number, format_codes, pick_weighted,
    row_count, take, utc_profile,
)
from customer360.generate.formats import TS_MILLIS, TS_OFFSET, TS_SPACE, TS_Z, email_layers
from customer360.generate.vocabulary import (
    BUSINESS_UTC_OFFSET_HOURS, ESCALATIONS_TEAM, FIRST_NAMES, LAST_NAMES, SUPPORT_LOCAL_HOURS, SUPPORT_WEEKDAY,
    TEAMS, TICKET_CATEGORIES, TICKET_CHANNELS, TICKET_STATUSES,
)

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "support_tickets"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "invalid_timestamp", "invalid_channel", "invalid_status", "odd_case_enum",
        "resolved_before_created", "bad_resolved_at", "bad_csat", "bad_email", "unknown_agent",
        "unknown_customer_id", "pad_whitespace", "duplicate", "key_conflict"
    ),
)
OPEN, PENDING, RESOLVED, CLOSED = (TICKET_STATUSES.index(s) for s in ("open", "pending", "resolved", "closed"))
NEVER = np.iinfo(np.int64).max // 2
UNASSIGNED = NO_CUSTOMER = -1
NO_EMAIL, MEMBER_OWN_EMAIL_FORM, UNKNOWN_EMAIL_FORM = -1, 3, 4
# Who wrote in: a known customer_id (with or without the CRM e-mail), only an e-mail (CRM, loyalty or
# unknown), or nothing at all.
WHO_ID_AND_EMAIL, WHO_ID_ONLY, WHO_CRM_EMAIL, WHO_MEMBER_EMAIL, WHO_UNKNOWN_EMAIL, WHO_NOBODY = range(6)
WHO_WEIGHTS = (0.60, 0.10, 0.12, 0.06, 0.07, 0.05)

COLUMNS = {
    "ticket_id": "'TK-' || id_date::VARCHAR || '-' || g_pad(id_number, 6)",
    "customer_id": "CASE WHEN customer_index >= 0 THEN g_customer_id(customer_index + 1) END",
    "customer_email": "g_email(email_local, email_domain, email_form, email_capitalised)",
    "agent_id": "CASE WHEN agent_index >= 0 THEN g_agent_id(agent_index + 1) END",
    "channel": "g_ticket_channel(channel_index)",
    "category": "g_ticket_category(category_index)",
    "created_at": "g_ts(created_us, timestamp_format, utc_offset_minutes)",
    "resolved_at": "CASE WHEN resolved_us >= 0 THEN g_ts(resolved_us, timestamp_format, utc_offset_minutes) END",
    "status": "g_ticket_status(status_index)",
    "csat_score": "CASE WHEN csat > 0 THEN csat::VARCHAR END",
}
OVERRIDES = {
    "missing_key": {"ticket_id": "CASE WHEN variant % 2 = 0 THEN NULL ELSE '  ' END"},
    "invalid_timestamp": {"created_at": "g_bad_ts(created_us, variant)"},
    "invalid_channel": {"channel": "CASE WHEN variant % 5 = 4 THEN NULL"
                                   " ELSE g_pick(variant, ['sms', 'fax', 'social', 'walk-in']) END"},
    "invalid_status": {"status": "CASE WHEN variant % 5 = 4 THEN NULL"
                                 " ELSE g_pick(variant, ['escalated', 'in progress', 'done', 'new']) END"},
    "odd_case_enum": {"channel": "g_odd_case({b}, variant)", "status": "g_odd_case({b}, variant // 4)"},
    "resolved_before_created": {
        "resolved_at": f"g_ts(created_us - (1 + variant % 48) * {US_PER_HOUR}, timestamp_format, utc_offset_minutes)",
        "status": "'resolved'",
    },
    "bad_resolved_at": {"resolved_at": f"g_bad_ts(created_us + {US_PER_HOUR}, variant % 7)", "status": "'closed'"},
    "bad_csat": {"csat_score": "g_pick(variant, ['0', '6', '4.5', 'x', '10', '-1'])"},
    "bad_email": {"customer_email": "g_bad_email(email_local, email_domain, variant)"},
    "unknown_agent": {"agent_id": "g_unknown_agent_id(variant)"},
    "unknown_customer_id": {"customer_id": "g_unknown_customer_id(variant)"},
    "pad_whitespace": {"ticket_id": "' ' || {b}", "customer_email": "{b} || '  '", "agent_id": "{b} || ' '"},
    "key_conflict": {"category": f"g_ticket_category((category_index + 1) % {len(TICKET_CATEGORIES)})"},
}
DERIVED = email_layers(form_when_none=UNKNOWN_EMAIL_FORM)


def _resolved_status(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.7, RESOLVED, CLOSED)


def _csat(rng: np.random.Generator, agent_csat: np.ndarray) -> np.ndarray:
    """A score from the agent's mean for about half the tickets, else 0 (none)."""
    n = agent_csat.size
    return np.where(rng.random(n) < 0.55, np.clip(np.rint(rng.normal(agent_csat, 0.9)), 1, 5), 0).astype(np.int64)


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    day_us = day_number(day) * US_PER_DAY
    end_us = day_us + US_PER_DAY
    n = max(1, int(rng.poisson(BASE_COUNTS["support_tickets_per_day"] * run.scale * SUPPORT_WEEKDAY[day.weekday()])))
    channel = pick_weighted(rng, np.array([0.35, 0.35, 0.30]), n)
    created_us = np.empty(n, dtype=np.int64)
    for index, name in enumerate(TICKET_CHANNELS):
        on_channel = channel == index
        hours = utc_profile(SUPPORT_LOCAL_HOURS[name], BUSINESS_UTC_OFFSET_HOURS)
        created_us[on_channel] = (day_us + pick_weighted(rng, hours, on_channel.sum()) * US_PER_HOUR
                                  + rng.integers(0, US_PER_HOUR, on_channel.sum()))
    by_time = np.argsort(created_us, kind="stable")
    created_us, channel = created_us[by_time], channel[by_time]
    category = pick_weighted(rng, np.array([0.22, 0.24, 0.16, 0.14, 0.12, 0.12]), n)
    team = np.array([handled_by for _, handled_by in TICKET_CATEGORIES])[category]
    team[rng.random(n) < 0.05] = ESCALATIONS_TEAM
    agents = run.world.agents
    agent = np.empty(n, dtype=np.int64)
    for team_index in range(len(TEAMS)):
        in_team = team == team_index
        pool = np.flatnonzero(agents.team == team_index)
        if pool.size == 0:
            pool = np.arange(len(agents))
        agent[in_team] = pool[rng.integers(0, pool.size, in_team.sum())]

    # Resolution: agent- and channel-dependent durations; unresolved by the end of the day means the
    # ticket is delivered open or pending now and again, resolved, on the day it gets resolved.
    base_hours = np.array([t[1] for t in TEAMS])[team] * agents.speed[agent] * np.array([0.5, 1.5, 0.3])[channel]
    hours = rng.lognormal(np.log(base_hours), 0.8)
    resolve_us = np.where(rng.random(n) < 0.08, NEVER, created_us + (hours * US_PER_HOUR).astype(np.int64))
    resolved_today = resolve_us < end_us
    status = np.where(resolved_today, _resolved_status(rng, n), np.where(rng.random(n) < 0.6, OPEN, PENDING))
    agent[~resolved_today & (rng.random(n) < 0.1)] = UNASSIGNED
    csat = _csat(rng, agents.csat[agent])

    crm, members = run.world.customers, run.world.members
    who = pick_weighted(rng, np.array(WHO_WEIGHTS), n)
    person = pick_weighted(rng, crm.activity + 0.2, n)
    member = rng.integers(0, len(members), n)
    from_member = who == WHO_MEMBER_EMAIL
    from_unknown = who == WHO_UNKNOWN_EMAIL
    email_form = np.where(who == WHO_ID_ONLY, NO_EMAIL,
                          np.where(from_member, members.email_form[member], crm.email_form[person]))
    email_form = np.where(from_unknown, UNKNOWN_EMAIL_FORM, email_form)
    email_form = np.where(who == WHO_NOBODY, NO_EMAIL, email_form)
    email_form = np.where(from_member & (email_form < 0), MEMBER_OWN_EMAIL_FORM, email_form)
    unknown_number = 900_000 + rng.integers(0, 99_999, n)
    tickets = dict(
        id_date=np.full(n, date_digits(day), dtype=np.int64), id_number=np.arange(1, n + 1, dtype=np.int64),
        customer_index=np.where(who <= WHO_ID_ONLY, person, NO_CUSTOMER),
        first_name_index=np.where(from_member, members.first[member],
                                  np.where(from_unknown, rng.integers(0, len(FIRST_NAMES), n), crm.first[person])),
        last_name_index=np.where(from_member, members.last[member],
                                 np.where(from_unknown, rng.integers(0, len(LAST_NAMES), n), crm.last[person])),
        email_form=email_form,
        email_number=np.where(from_member, np.where(members.email_form[member] < 0, member + 1, members.email_num[member]),
                              np.where(from_unknown, unknown_number, crm.email_num[person])),
        email_domain_index=np.where(from_member, members.email_domain[member], crm.email_domain[person]),
        email_capitalised=(rng.random(n) < 0.12).astype(np.int64),
        agent_index=agent, channel_index=channel, category_index=category, created_us=created_us,
        timestamp_format=format_codes(rng, n, (TS_Z, TS_SPACE, TS_MILLIS, TS_OFFSET), (0.6, 0.2, 0.1, 0.1)),
        utc_offset_minutes=np.full(n, -300, dtype=np.int64),
        resolved_us=np.where(resolved_today, resolve_us, -1), status_index=status,
        csat=np.where(resolved_today, csat, 0),
    )
    # Tickets opened earlier and resolved today are re-delivered with their final status.
    still_open = run.carry_over.get(SOURCE)
    resolved_earlier: Columns = {}
    if still_open:
        due = (still_open["resolve_us"] >= day_us) & (still_open["resolve_us"] < end_us)
        resolved_earlier = take(still_open, np.flatnonzero(due))
        still_open = take(still_open, np.flatnonzero(~due))
        k = row_count(resolved_earlier)
        resolved_earlier["resolved_us"] = resolved_earlier.pop("resolve_us")
        resolved_earlier["status_index"] = _resolved_status(rng, k)
        resolved_earlier["agent_index"] = np.where(resolved_earlier["agent_index"] < 0, rng.integers(0, len(agents), k),
                                                   resolved_earlier["agent_index"])
        resolved_earlier["csat"] = _csat(rng, agents.csat[resolved_earlier["agent_index"]])
    opened_today = take(tickets, np.flatnonzero(~resolved_today))
    opened_today["resolve_us"] = resolve_us[~resolved_today]
    del opened_today["resolved_us"]
    run.carry_over[SOURCE] = concat([still_open, opened_today]) if still_open else opened_today
    frame = concat([tickets, resolved_earlier])
    frame["dirty_kind"], frame["variant"] = run.dirty.assign(rng, DIRTY, row_count(frame))
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES, DERIVED)
