"""Looker Studio links that open a new report on a BigQuery table (the Linking API); kept in customer360.links."""

from customer360.links import LOOKER_STUDIO_CREATE, looker_studio_link  # noqa: F401
