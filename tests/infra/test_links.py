"""Transfer-config names in both documented forms, and the console links the stack outputs build from them."""

import pytest

from customer360.links import TransferConfigNameError, parse_transfer_config_name, transfer_runs_link

LOCATED = "projects/123456789012/locations/europe-west1/transferConfigs/6514c398-0000-2c7f-9fe7-883d24fe0948"
LOCATIONLESS = "projects/acme-c360/transferConfigs/5ec44164-0000-2b17-87e9-089e0825c550"


def test_a_name_with_a_location_gives_its_parts():
    name = parse_transfer_config_name(LOCATED)
    assert (name.project, name.location, name.config_id) == (
        "123456789012", "europe-west1", "6514c398-0000-2c7f-9fe7-883d24fe0948"
    )


def test_a_name_without_a_location_gives_its_parts():
    name = parse_transfer_config_name(LOCATIONLESS)
    assert (name.project, name.location, name.config_id) == ("acme-c360", None, "5ec44164-0000-2b17-87e9-089e0825c550")


def test_the_runs_link_uses_the_names_location_else_the_stacks():
    assert transfer_runs_link(LOCATED, "acme-c360", "EU") == (
        "https://console.cloud.google.com/bigquery/transfers/locations/europe-west1/configs/"
        "6514c398-0000-2c7f-9fe7-883d24fe0948/runs?project=acme-c360"
    )
    assert transfer_runs_link(LOCATIONLESS, "acme-c360", "EU") == (
        "https://console.cloud.google.com/bigquery/transfers/locations/eu/configs/"
        "5ec44164-0000-2b17-87e9-089e0825c550/runs?project=acme-c360"
    )


@pytest.mark.parametrize(
    "bad",
    ["", "transferConfigs/x", "projects/p/locations/eu/transferConfigs/", "projects/p/locations/eu/configs/x",
     "projects/p/locations/eu/transferConfigs/x/runs/y"],
)
def test_anything_else_is_a_clear_error(bad):
    with pytest.raises(TransferConfigNameError, match="is not a transfer config name"):
        parse_transfer_config_name(bad)


def test_the_stack_outputs_a_runs_link_for_every_transfer(stack_run):
    names = {k[len("transfer_config_names."):]: v for k, v in _flat(stack_run.captured["outputs"]).items()
             if k.startswith("transfer_config_names.")}
    links = {k[len("transfer_console_links."):]: v for k, v in _flat(stack_run.captured["outputs"]).items()
             if k.startswith("transfer_console_links.")}
    assert sorted(names) == sorted(links), "a transfer has a name but no link, or the reverse"
    for key, config_name in names.items():
        assert links[key] == transfer_runs_link(config_name, stack_run.settings.project, stack_run.settings.location), key


def _flat(outputs: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in outputs.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
