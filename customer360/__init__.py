"""Customer 360 pipeline for BigQuery: one contract, BigQuery SQL, Pulumi, and a local DuckDB engine."""
