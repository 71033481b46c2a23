"""Stack configuration: declared in Pulumi.yaml, validated into one Settings object, errors naming the key."""

import json

import pytest
import yaml
from infra_harness import STACKS, stack_settings

from customer360 import plan
from customer360.contract import REPO_ROOT
from infra.settings import CONFIG_KEYS, PREFIX_MAX_LENGTH, PREFIX_MIN_LENGTH, SettingsError, settings_from_values

GOOD = {
    "project": "acme-c360-test",
    "location": "EU",
    "prefix": "c360-test",
    "environment": "test",
    "transferSchedule": "every day 01:47",
    "pipelineSchedule": "every day 02:17",
    "alertEmails": json.dumps(["team@example.com"]),
    "deletionProtection": "true",
    "kmsKeyName": "",
    "rawPartitionExpirationDays": "90",
    "landingRetentionDays": "30",
    "lateDeliveryDays": "1",
}


def error_for(**changes) -> str:
    values = {**GOOD, **changes}
    values = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(SettingsError) as raised:
        settings_from_values(values, "test")
    return str(raised.value)


def test_every_config_key_is_described_in_the_project_file():
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    declared = project["config"]
    assert sorted(declared) == sorted(CONFIG_KEYS), "Pulumi.yaml config and infra/settings.py CONFIG_KEYS differ"
    for key, declaration in declared.items():
        assert declaration.get("description"), f"Pulumi.yaml config key {key} has no description"
        assert declaration.get("type"), f"Pulumi.yaml config key {key} has no type"


def test_project_file_runs_the_infra_folder_with_the_project_virtualenv():
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    assert project["main"].rstrip("/") == "infra"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert (REPO_ROOT / "infra" / "__main__.py").exists()


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_is_valid(stack):
    settings = stack_settings(stack)
    assert settings.environment == stack, f"Pulumi.{stack}.yaml: environment label should name the stack"


def test_committed_stacks_are_dev_and_prod():
    assert {"dev", "prod"} <= set(STACKS)


def test_valid_values_give_typed_settings():
    settings = settings_from_values(GOOD, "test")
    assert settings.dataset_names == {
        "raw": "c360_test_raw",
        "silver": "c360_test_silver",
        "gold": "c360_test_gold",
        "ops": "c360_test_ops",
    }
    assert str(settings.pipeline_schedule) == "every day 02:17"
    assert settings.alert_emails == ("team@example.com",)
    assert settings.deletion_protection is True
    assert settings.kms_key_name is None
    assert settings.information_schema_region == "region-eu"


@pytest.mark.parametrize(
    ("key", "change", "expected"),
    [
        ("project", {"project": "Bad_Project"}, "not a Google Cloud project ID"),
        ("location", {"location": "moon-base"}, "expected US, EU or a region"),
        ("prefix", {"prefix": "Customer360_Prod_Long"}, "lowercase letters"),
        ("environment", {"environment": "Prod"}, "valid label value"),
        ("transferSchedule", {"transferSchedule": "daily"}, "expected 'every day HH:MM'"),
        ("pipelineSchedule", {"pipelineSchedule": "every day 02:00"}, "exactly on the hour"),
        ("pipelineSchedule", {"pipelineSchedule": "every day 01:50"}, "at least 30 minutes after"),
        ("pipelineSchedule", {"transferSchedule": "every day 23:47", "pipelineSchedule": "every day 00:17"}, "same UTC day"),
        ("pipelineSchedule", {"pipelineSchedule": "every day 23:45"}, "before midnight UTC"),
        ("pipelineSchedule", {"pipelineSchedule": "every day 02:30"}, "missing-deliveries check"),
        ("alertEmails", {"alertEmails": "[]"}, "non-empty list"),
        ("alertEmails", {"alertEmails": json.dumps(["not-an-address"])}, "is not an e-mail address"),
        ("deletionProtection", {"deletionProtection": "yes"}, "expected true or false"),
        ("kmsKeyName", {"kmsKeyName": "my-key"}, "expected projects/P/locations/L"),
        ("kmsKeyName", {"kmsKeyName": "projects/p/locations/us/keyRings/r/cryptoKeys/k"}, "must be in KMS location 'europe'"),
        ("rawPartitionExpirationDays", {"rawPartitionExpirationDays": "0"}, "whole number from 1"),
        ("landingRetentionDays", {"landingRetentionDays": "ten"}, "whole number from 1"),
        ("prefix", {"prefix": "c"}, "expected 2-14"),
        ("prefix", {"prefix": "c360-"}, "not ending with a dash"),
        ("lateDeliveryDays", {"lateDeliveryDays": "-1"}, "whole number from 0 to 14"),
        ("lateDeliveryDays", {"lateDeliveryDays": "15"}, "whole number from 0 to 14"),
        ("lateDeliveryDays", {"lateDeliveryDays": "3", "landingRetentionDays": "3"}, "less than customer360:landingRetentionDays"),
        ("lateDeliveryDays", {"lateDeliveryDays": "3", "rawPartitionExpirationDays": "2"}, "less than customer360:rawPartitionExpirationDays"),
    ],
)
def test_a_bad_setting_is_an_error_naming_its_key(key, change, expected):
    message = error_for(**change)
    assert f"customer360:{key}:" in message and expected in message, message


def test_the_missing_deliveries_check_runs_half_an_hour_after_the_pipeline_on_the_same_day():
    settings = settings_from_values({**GOOD, "pipelineSchedule": "every day 02:17"}, "test")
    assert str(settings.missing_deliveries_schedule) == "every day 02:47"
    latest = settings_from_values({**GOOD, "pipelineSchedule": "every day 23:29"}, "test")
    assert str(latest.missing_deliveries_schedule) == "every day 23:59"
    assert "customer360:pipelineSchedule:" in error_for(pipelineSchedule="every day 23:30")


def test_the_project_file_and_the_settings_agree_on_the_prefix_length():
    project = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())
    description = project["config"]["prefix"]["description"]
    assert f"{PREFIX_MIN_LENGTH}-{PREFIX_MAX_LENGTH} lowercase" in description, description
    shortest, longest = "a" * PREFIX_MIN_LENGTH, "a" * PREFIX_MAX_LENGTH
    assert settings_from_values({**GOOD, "prefix": shortest}).prefix == shortest
    assert settings_from_values({**GOOD, "prefix": longest}).prefix == longest
    assert "customer360:prefix:" in error_for(prefix="a" * (PREFIX_MIN_LENGTH - 1))
    assert "customer360:prefix:" in error_for(prefix="a" * (PREFIX_MAX_LENGTH + 1))


def test_the_project_file_declares_the_defaults_the_settings_assume():
    declared = yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"]
    assert declared["lateDeliveryDays"]["default"] == 1, "lateDeliveryDays defaults to one day"
    values = {k: v for k, v in GOOD.items() if k != "lateDeliveryDays"}
    values["lateDeliveryDays"] = str(declared["lateDeliveryDays"]["default"])
    assert settings_from_values(values).late_delivery_days == 1


@pytest.mark.parametrize("key", [k for k in CONFIG_KEYS if k != "kmsKeyName"])
def test_a_missing_setting_is_an_error_naming_its_key(key):
    message = error_for(**{key: None})
    assert f"customer360:{key}: missing" in message, message


def test_every_problem_is_reported_at_once():
    message = error_for(project="X", location="mars", prefix=None)
    for key in ("project", "location", "prefix"):
        assert f"customer360:{key}:" in message, message


def test_the_program_stops_on_bad_settings_before_declaring_any_resource():
    config = plan.stack_config("dev")
    config["customer360:location"] = "mars"
    with pytest.raises(plan.PlanError) as raised:
        plan.capture("dev", config)
    message = str(raised.value)
    assert "SettingsError" in message and "customer360:location" in message, message
    assert "resources declared before the error: 0" in message, message
