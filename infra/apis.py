"""Enables the Google Cloud APIs every other stage needs, before anything else is declared."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import Settings
from infra.stage import Stage

REQUIRED_APIS = (
    "bigquery.googleapis.com",
    "bigquerydatatransfer.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
)
KMS_API = "cloudkms.googleapis.com"


@dataclass(frozen=True)
class ApisArgs:
    settings: Settings


class Apis(Stage):
    """One project service per required API; depend on this component to wait for all of them."""

    def __init__(self, name: str, args: ApisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("apis", name, opts)
        settings = args.settings
        apis = REQUIRED_APIS + ((KMS_API,) if settings.kms_key_name else ())
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=settings.project,
                service=api,
                # Other workloads in the project may rely on these APIs: never switch them off on destroy.
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=self.child(),
            )
            for api in apis
        }
        self.register_outputs({"services": list(apis)})
