"""The Pulumi program that deploys the Customer 360 pipeline to BigQuery, one component per stage."""
