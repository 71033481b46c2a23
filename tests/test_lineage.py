"""The step graph is derived from the SQL, the contract's step order follows it, and --select reads it."""

from __future__ import annotations

import pytest

from customer360 import contract, docs, lineage, sqlgen
from customer360.sqlgen.text import Statement

STEPS = contract.STEPS_BY_NAME


def test_the_contract_step_order_is_a_topological_order_of_the_derived_graph():
    graph = lineage.graph()
    position = {name: index for index, name in enumerate(graph.names)}
    assert graph.names == tuple(s.name for s in contract.PIPELINE)
    for dependency in graph.dependencies:
        assert position[dependency.upstream] < position[dependency.step], (
            f"{dependency.step} reads {dependency.table} from {dependency.upstream}, which runs later"
        )


def test_a_step_reading_a_table_a_later_step_writes_is_refused_naming_both():
    broken = list(contract.PIPELINE)
    segments = broken.pop(broken.index(STEPS["customer_segments"]))
    broken.append(segments)  # now after customer_360, which reads gold.customer_segments
    with pytest.raises(lineage.LineageError) as refused:
        lineage.build(tuple(broken))
    message = str(refused.value)
    assert "customer_360" in message and "customer_segments" in message and "gold.customer_segments" in message, message


def test_an_intermediate_moved_before_what_it_reads_is_refused():
    broken = list(contract.PIPELINE)
    metrics = broken.pop(broken.index(STEPS["customer_metrics"]))
    broken.insert(broken.index(STEPS["customer_orders"]), metrics)
    with pytest.raises(lineage.LineageError, match="step customer_metrics reads silver.customer_orders, which the "
                                                   "later step customer_orders writes"):
        lineage.build(tuple(broken))


@pytest.mark.parametrize("step", contract.PIPELINE, ids=lambda s: s.name)
def test_the_tables_the_contract_says_a_step_writes_are_the_ones_its_sql_writes(step):
    derived = lineage.graph().lineage(step.name)
    assert set(derived.writes) == set(step.writes), (
        f"step {step.name}: contract says it writes {sorted(step.writes)}, its SQL writes {sorted(derived.writes)}"
    )


def test_reads_and_writes_leave_out_temp_tables_and_name_only_contract_tables():
    for step in lineage.graph().steps:
        for ref in step.reads + step.writes:
            assert ref in contract.TABLES_BY_REF, f"step {step.step.name}: {ref} is not a contract table"
    silver = lineage.graph().lineage("customers")
    assert "raw.customers" in silver.reads and "silver.customers" in silver.writes
    assert not any(ref.startswith(("staged_", "winners_")) for ref in silver.reads)


def _with_extra_statement(monkeypatch, step_name: str, sql: str) -> None:
    real = sqlgen.step_statements

    def patched(step, scope="run"):
        statements = real(step, scope)
        return statements + (Statement(sql),) if step.name == step_name else statements

    monkeypatch.setattr(lineage.sqlgen, "step_statements", patched)


def test_a_read_of_shared_bookkeeping_that_does_not_filter_its_rows_is_refused(monkeypatch):
    # A check that read every check's results would depend on every check: the exemption would be false.
    _with_extra_statement(monkeypatch, "conservation", "select count(*) from ops.data_quality_results")
    with pytest.raises(lineage.LineageError, match="step conservation reads ops.data_quality_results without "
                                                   "comparing check_name"):
        lineage.build(contract.PIPELINE)


def test_a_silver_step_reading_another_sources_ledger_rows_is_refused(monkeypatch):
    _with_extra_statement(monkeypatch, "customers",
                          "select count(*) from ops.processed_partitions where source = 'products'")
    with pytest.raises(lineage.LineageError, match="step customers reads the rows of ops.processed_partitions "
                                                   "whose source is products"):
        lineage.build(contract.PIPELINE)


def test_an_intermediate_reading_the_ledger_of_a_source_it_does_not_read_is_refused(monkeypatch):
    # ticket_contributions reads silver.support_tickets only: the ledger rows of online orders would make it
    # depend on the online_order_lines step without the graph knowing.
    _with_extra_statement(monkeypatch, "ticket_contributions",
                          "select count(*) from ops.processed_partitions where source = 'online_orders'")
    with pytest.raises(lineage.LineageError, match="step ticket_contributions reads the rows of "
                                                   "ops.processed_partitions whose source is online_orders: not a "
                                                   "source whose silver table it reads"):
        lineage.build(contract.PIPELINE)


def test_a_step_naming_a_table_outside_the_contract_is_refused(monkeypatch):
    _with_extra_statement(monkeypatch, "customer_360", "select count(*) from gold.customer_361")
    with pytest.raises(lineage.LineageError, match="step customer_360 names gold.customer_361, which is not a table"):
        lineage.build(contract.PIPELINE)


def test_every_exemption_is_used_by_the_steps_it_names():
    graph = lineage.graph()
    for exemption in contract.LINEAGE_EXEMPTIONS:
        readers = [s.step.name for s in graph.steps if exemption.table in s.shared]
        assert readers, f"exemption for {exemption.table} exempts no read: remove it from contract.LINEAGE_EXEMPTIONS"
        assert exemption.reason, f"exemption for {exemption.table} gives no reason"


# ---------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------


def test_step_plus_selects_the_step_and_everything_downstream():
    assert lineage.graph().select("customer_segments+") == ("customer_segments", "customer_360")


def test_plus_step_selects_the_step_and_everything_upstream():
    selected = lineage.graph().select("+customer_segments")
    assert selected == ("customers", "online_order_lines", "store_sale_lines", "loyalty_members", "support_tickets",
                        "customer_identity", "customer_orders", "customer_metrics", "customer_segments"), selected


def test_a_bare_step_selects_only_itself_and_lists_combine_in_pipeline_order():
    graph = lineage.graph()
    assert graph.select("customer_360") == ("customer_360",)
    assert graph.select("customer_360, customers") == ("customers", "customer_360")
    assert graph.select("+order_products+") == ("products", "online_order_lines", "store_sale_lines", "order_products",
                                              "average_order_value")


@pytest.mark.parametrize("expression, expected", [
    ("customer_segmnts+", "no step named 'customer_segmnts'; did you mean customer_segments"),
    ("+gold", "no step named 'gold'"),
    ("customers,,products", "expected STEP, STEP+, +STEP or a comma-separated list"),
])
def test_an_unknown_step_is_one_line_naming_close_names(expression, expected):
    with pytest.raises(lineage.SelectionError) as refused:
        lineage.graph().select(expression)
    assert expected in str(refused.value) and "\n" not in str(refused.value), str(refused.value)


# ---------------------------------------------------------------------------
# Docs
# ---------------------------------------------------------------------------


def test_the_data_dictionary_draws_the_derived_lineage_in_mermaid():
    text = docs.render()
    drawing = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert drawing.startswith("flowchart LR")
    for step in contract.PIPELINE:
        assert f'{step.name}["{step.name}"]' in drawing, f"step {step.name} is not drawn"
    assert "customer_segments --> customer_360" in drawing
    assert "raw__customers --> customers" in drawing
    # Implied edges are left out of the drawing: customer_identity reaches customer_360 through customer_metrics.
    assert "customer_identity --> customer_360" not in drawing
    assert "| `customer_360` | " in text and "`customer_segments`" in text
