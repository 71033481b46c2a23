"""The data dictionary is generated from the contract (its committed copy is checked in test_generated_artifacts)."""

from customer360 import contract, docs


def test_data_dictionary_describes_every_table_and_column():
    text = docs.render()
    for table in contract.SILVER_TABLES + contract.GOLD_TABLES + contract.OPS_TABLES:
        assert f"### `{table.ref}`" in text, f"{table.ref} is missing from the data dictionary"
        for column in table.columns:
            assert f"| `{column.name}` | {column.type} |" in text, f"{table.ref}.{column.name} is undocumented"
    for source in contract.SOURCES:
        for name, _ in source.columns:
            assert f"| `{name}` |" in text, f"source column {source.name}.{name} is undocumented"
