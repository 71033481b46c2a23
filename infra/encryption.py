"""Lets the Cloud Storage and BigQuery service agents use the stack's CMEK key, when one is configured."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import Settings
from infra.stage import Stage

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class EncryptionArgs:
    settings: Settings


class Encryption(Stage):
    """Key-level grants only; declares nothing when the stack uses Google-managed encryption."""

    def __init__(self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("encryption", name, opts)
        settings = args.settings
        self.grants: list[gcp.kms.CryptoKeyIAMMember] = []
        if settings.kms_key_name:
            # These look-ups also create the service agents when the project has none yet.
            invoke = self.invoke_options()
            agents = {
                "storage": gcp.storage.get_project_service_account_output(project=settings.project, opts=invoke).member,
                "bigquery": gcp.bigquery.get_default_service_account_output(project=settings.project, opts=invoke).member,
            }
            self.grants = [
                gcp.kms.CryptoKeyIAMMember(
                    f"{name}-{service}-agent",
                    crypto_key_id=settings.kms_key_name,
                    role=ENCRYPTER_DECRYPTER,
                    member=member,
                    opts=self.child(),
                )
                for service, member in agents.items()
            ]
        self.register_outputs({"kms_key_name": settings.kms_key_name or ""})
