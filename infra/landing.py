"""The landing bucket the source systems deliver their daily CSV files into."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import Settings
from infra.stage import Stage

# Overwritten or deleted delivery files stay recoverable this long.
NONCURRENT_VERSION_DAYS = 7


@dataclass(frozen=True)
class LandingArgs:
    settings: Settings


class Landing(Stage):
    """A private, versioned bucket laid out as gs://<bucket>/<source>/<YYYYMMDD>/*.csv."""

    def __init__(self, name: str, args: LandingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("landing", name, opts)
        settings = args.settings
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=settings.bucket_name,
            project=settings.project,
            # A transfer's bucket must be in the datasets' location
            # (https://cloud.google.com/bigquery/docs/cloud-storage-transfer, "Limitations").
            location=settings.location,
            storage_class="STANDARD",
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        age=settings.landing_retention_days, with_state="LIVE"
                    ),
                ),
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=NONCURRENT_VERSION_DAYS, with_state="ARCHIVED"
                    ),
                ),
            ],
            encryption=(
                gcp.storage.BucketEncryptionArgs(default_kms_key_name=settings.kms_key_name)
                if settings.kms_key_name
                else None
            ),
            labels=settings.labels("landing"),
            force_destroy=not settings.deletion_protection,
            opts=self.child(protect=settings.deletion_protection),
        )
        self.register_outputs({"bucket_name": self.bucket.name, "bucket_url": self.bucket.url})
