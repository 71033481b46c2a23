"""The support desk's agents file: every agent on the first day, then team moves and the new hire."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from customer360.generate.dirty import DirtyKinds
from customer360.generate.vocabulary import TEAMS

if TYPE_CHECKING:
    from customer360.generate.run import Run

SOURCE = "support_agents"
DIRTY = DirtyKinds(
    SOURCE,
    (
        "missing_key", "pad_whitespace", "bad_hire_date", "duplicate", "key_conflict"
    ),
    dimension=True,
)

COLUMNS = {
    "agent_id": "g_agent_id(agent_number)",
    "agent_name": "g_first(first_name_index) || ' ' || g_last(last_name_index)",
    "team": "g_team(team_index)",
    "hire_date": "g_date(hired_day, hired_format)",
}
OVERRIDES = {
    "missing_key": {"agent_id": "CASE WHEN variant % 2 = 0 THEN NULL ELSE '   ' END"},
    "pad_whitespace": {"agent_name": "' ' || {b} || '  '", "team": "{b} || ' '"},
    "bad_hire_date": {"hire_date": "g_bad_date(hired_day, variant)"},
    "key_conflict": {"team": f"g_team((team_index + 1) % {len(TEAMS)})"},
}


def write(run: Run, day_index: int, day: date) -> None:
    rng = run.rng(day_index, SOURCE)
    agents = run.world.agents
    delivered, _ = run.world.delivery(SOURCE, day_index)
    codes, variants = run.dirty.assign(rng, DIRTY, delivered.size)
    frame = dict(
        agent_number=delivered + 1, first_name_index=agents.first[delivered], last_name_index=agents.last[delivered],
        team_index=agents.team[delivered], hired_day=agents.hired[delivered],
        hired_format=agents.hired_format[delivered], dirty_kind=codes, variant=variants,
    )
    run.writer.write(day, DIRTY, frame, COLUMNS, OVERRIDES)
