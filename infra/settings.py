"""Reads the stack's configuration into one validated, typed settings object."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from customer360 import contract

NAMESPACE = "customer360"

# Google's limits the values must fit, checked here so that a bad value fails
# before any resource is declared instead of halfway through `pulumi up`.
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_MULTI_REGIONS = {"US": "us", "EU": "europe"}  # BigQuery multi-region -> Cloud KMS location of its keys
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
# Service account ids allow 6-30 of [a-z0-9-] (https://cloud.google.com/iam/docs/service-accounts-create);
# the longest one made from the prefix is "<prefix>-transformer", so 14 characters keep every derived
# name within Google's limits. Pulumi.yaml states the same range in the prefix's description.
PREFIX_MIN_LENGTH = 2
PREFIX_MAX_LENGTH = 14
_PREFIX = re.compile(rf"^[a-z][a-z0-9-]{{{PREFIX_MIN_LENGTH - 2},{PREFIX_MAX_LENGTH - 2}}}[a-z0-9]$")
_LABEL_VALUE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_SCHEDULE = re.compile(r"^every day (\d\d):(\d\d)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_KMS_KEY = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")

# The load transfers must have finished before the pipeline reads their partitions.
MIN_LOAD_WINDOW_MINUTES = 30
# Each day of the late-delivery window adds one transfer per source.
MAX_LATE_DELIVERY_DAYS = 14
# The missing-deliveries check runs this long after the pipeline, on the same UTC day: its @run_date
# is the day whose deliveries it looks for.
MISSING_DELIVERIES_DELAY_MINUTES = 30
MINUTES_PER_DAY = 24 * 60


class SettingsError(ValueError):
    """One or more stack settings are missing or invalid; the message names every offending key."""


@dataclass(frozen=True)
class DailySchedule:
    hour: int
    minute: int

    @property
    def minutes_after_midnight(self) -> int:
        return self.hour * 60 + self.minute

    def __str__(self) -> str:
        # The BigQuery Data Transfer Service schedule syntax (times are UTC).
        return f"every day {self.hour:02d}:{self.minute:02d}"

    def later(self, minutes: int) -> DailySchedule:
        """The same day's schedule `minutes` later; the caller keeps it before midnight."""
        total = self.minutes_after_midnight + minutes
        if not 0 <= total < MINUTES_PER_DAY:
            raise ValueError(f"{self} plus {minutes} minutes is not on the same UTC day")
        return DailySchedule(total // 60, total % 60)


@dataclass(frozen=True)
class Settings:
    project: str
    location: str
    prefix: str
    environment: str
    transfer_schedule: DailySchedule
    pipeline_schedule: DailySchedule
    alert_emails: tuple[str, ...]
    deletion_protection: bool
    kms_key_name: str | None
    raw_partition_expiration_days: int
    landing_retention_days: int
    late_delivery_days: int = 1

    @property
    def missing_deliveries_schedule(self) -> DailySchedule:
        """When the missing-deliveries check runs: after the pipeline, the same UTC day."""
        return self.pipeline_schedule.later(MISSING_DELIVERIES_DELAY_MINUTES)

    @property
    def dataset_names(self) -> dict[str, str]:
        """Real BigQuery dataset id of every logical dataset of the contract."""
        base = self.prefix.replace("-", "_")
        return {layer: f"{base}_{layer}" for layer in contract.DATASETS}

    @property
    def bucket_name(self) -> str:
        return f"{self.project}-{self.prefix}-landing"

    @property
    def information_schema_region(self) -> str:
        """The region qualifier of INFORMATION_SCHEMA views for this location (`region-eu`)."""
        return f"region-{self.location.lower()}"

    def labels(self, layer: str) -> dict[str, str]:
        return {"app": "customer360", "env": self.environment, "layer": layer, "managed-by": "pulumi"}


def _schedule(key: str, value: str, problems: list[str]) -> DailySchedule | None:
    match = _SCHEDULE.match(value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        problems.append(f"{key}: expected 'every day HH:MM' (UTC), got {value!r}")
        return None
    schedule = DailySchedule(int(match[1]), int(match[2]))
    if schedule.minute == 0:
        # Kept off the hour on purpose (README, "Deploying to BigQuery"): a run on the hour may fire twice.
        problems.append(f"{key}: {value!r} is exactly on the hour; pick a minute other than :00")
    return schedule


def settings_from_values(values: Mapping[str, str | None], stack: str = "") -> Settings:
    """Validates raw configuration strings (keyed without namespace) into Settings.

    Values arrive as the Pulumi engine passes them: strings, with arrays as JSON.
    """
    problems: list[str] = []

    def key(name: str) -> str:
        return f"{NAMESPACE}:{name}"

    def text(name: str) -> str:
        value = values.get(name)
        if value is None:
            stack_option = f" --stack {stack}" if stack else ""
            problems.append(f"{key(name)}: missing (set it with `pulumi config set {name} VALUE{stack_option}`)")
            return ""
        return str(value).strip()

    def integer(name: str, minimum: int, maximum: int) -> int:
        raw = text(name)
        if not raw:
            return minimum
        if not re.fullmatch(r"\d+", raw) or not minimum <= int(raw) <= maximum:
            problems.append(f"{key(name)}: expected a whole number from {minimum} to {maximum}, got {raw!r}")
            return minimum
        return int(raw)

    project = text("project")
    if project and not _PROJECT_ID.match(project):
        problems.append(f"{key('project')}: {project!r} is not a Google Cloud project ID (6-30 of a-z, 0-9, -)")

    location = text("location")
    if location and location not in _MULTI_REGIONS and not _REGION.match(location):
        problems.append(f"{key('location')}: expected US, EU or a region such as europe-west1, got {location!r}")

    prefix = text("prefix")
    if prefix and not _PREFIX.match(prefix):
        problems.append(
            f"{key('prefix')}: expected {PREFIX_MIN_LENGTH}-{PREFIX_MAX_LENGTH} lowercase letters, digits or dashes, "
            f"starting with a letter and not ending with a dash, got {prefix!r}"
        )

    environment = text("environment")
    if environment and not _LABEL_VALUE.match(environment):
        problems.append(f"{key('environment')}: must be a valid label value (lowercase letter first), got {environment!r}")

    raw_transfer = text("transferSchedule")
    raw_pipeline = text("pipelineSchedule")
    transfer = _schedule(key("transferSchedule"), raw_transfer, problems) if raw_transfer else None
    pipeline = _schedule(key("pipelineSchedule"), raw_pipeline, problems) if raw_pipeline else None
    if transfer and pipeline:
        gap = pipeline.minutes_after_midnight - transfer.minutes_after_midnight
        # Both runs must fall on the same UTC day: the transfers load the {run_date}
        # partition and the pipeline reads @run_date, both the day of the run.
        if gap < MIN_LOAD_WINDOW_MINUTES:
            problems.append(
                f"{key('pipelineSchedule')}: {raw_pipeline!r} must be at least {MIN_LOAD_WINDOW_MINUTES} minutes "
                f"after {key('transferSchedule')} {raw_transfer!r} on the same UTC day"
            )
    if pipeline:
        # The missing-deliveries check (infra/transform.py) follows the pipeline; it must stay on the
        # pipeline's UTC day (it looks for that day's deliveries) and off the hour like every schedule.
        check_minutes = pipeline.minutes_after_midnight + MISSING_DELIVERIES_DELAY_MINUTES
        if check_minutes >= MINUTES_PER_DAY:
            problems.append(
                f"{key('pipelineSchedule')}: {raw_pipeline!r} must be at least {MISSING_DELIVERIES_DELAY_MINUTES} "
                "minutes before midnight UTC: the missing-deliveries check runs that much later on the same UTC day"
            )
        elif check_minutes % 60 == 0:
            problems.append(
                f"{key('pipelineSchedule')}: {raw_pipeline!r} would put the missing-deliveries check, "
                f"{MISSING_DELIVERIES_DELAY_MINUTES} minutes later, exactly on the hour; pick another minute"
            )

    emails: tuple[str, ...] = ()
    raw_emails = text("alertEmails")
    if raw_emails:
        try:
            parsed = json.loads(raw_emails)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, list) or not parsed or not all(isinstance(e, str) for e in parsed):
            problems.append(f"{key('alertEmails')}: expected a non-empty list of e-mail addresses, got {raw_emails!r}")
        else:
            emails = tuple(e.strip() for e in parsed)
            for email in emails:
                if not _EMAIL.match(email):
                    problems.append(f"{key('alertEmails')}: {email!r} is not an e-mail address")
            if len(set(emails)) != len(emails):
                problems.append(f"{key('alertEmails')}: lists an address twice")

    raw_protection = text("deletionProtection").lower()
    if raw_protection and raw_protection not in ("true", "false"):
        problems.append(f"{key('deletionProtection')}: expected true or false, got {raw_protection!r}")
    deletion_protection = raw_protection != "false"

    kms_key_name = text("kmsKeyName") if values.get("kmsKeyName") is not None else ""
    if kms_key_name:
        match = _KMS_KEY.match(kms_key_name)
        if not match:
            problems.append(
                f"{key('kmsKeyName')}: expected projects/P/locations/L/keyRings/R/cryptoKeys/K, got {kms_key_name!r}"
            )
        elif location:
            # BigQuery CMEK: the key must be in the dataset's location (multi-region EU -> europe, US -> us).
            wanted = _MULTI_REGIONS.get(location, location)
            if match["location"] != wanted:
                problems.append(
                    f"{key('kmsKeyName')}: a key for location {location} must be in KMS location {wanted!r}, "
                    f"got {match['location']!r}"
                )

    raw_days = integer("rawPartitionExpirationDays", 1, 3650)
    landing_days = integer("landingRetentionDays", 1, 3650)
    late_days = integer("lateDeliveryDays", 0, MAX_LATE_DELIVERY_DAYS)
    # A late transfer re-reads a folder that many days old: its files must still be in the bucket
    # and its raw partition not yet expired, or the reload finds nothing or is deleted at once.
    if late_days >= landing_days:
        problems.append(
            f"{key('lateDeliveryDays')}: {late_days} must be less than {key('landingRetentionDays')} ({landing_days}): "
            "the late transfers re-read folders that old"
        )
    if late_days >= raw_days:
        problems.append(
            f"{key('lateDeliveryDays')}: {late_days} must be less than {key('rawPartitionExpirationDays')} ({raw_days})"
        )

    if problems:
        raise SettingsError(
            f"invalid configuration for stack {stack or '(unnamed)'}:\n  - " + "\n  - ".join(problems)
        )
    return Settings(
        project=project,
        location=location,
        prefix=prefix,
        environment=environment,
        transfer_schedule=transfer,
        pipeline_schedule=pipeline,
        alert_emails=emails,
        deletion_protection=deletion_protection,
        kms_key_name=kms_key_name or None,
        raw_partition_expiration_days=raw_days,
        landing_retention_days=landing_days,
        late_delivery_days=late_days,
    )


CONFIG_KEYS = (
    "project",
    "location",
    "prefix",
    "environment",
    "transferSchedule",
    "pipelineSchedule",
    "alertEmails",
    "deletionProtection",
    "kmsKeyName",
    "rawPartitionExpirationDays",
    "landingRetentionDays",
    "lateDeliveryDays",
)


def load_settings(get: Callable[[str], str | None] | None = None) -> Settings:
    """Reads the current stack's pulumi.Config; raises SettingsError naming every bad key."""
    import pulumi

    if get is None:
        get = pulumi.Config(NAMESPACE).get
    return settings_from_values({name: get(name) for name in CONFIG_KEYS}, stack=pulumi.get_stack())
