"""Service accounts per role and the narrowest grants that let them load and transform."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import Settings
from infra.stage import Stage

JOB_USER = "roles/bigquery.jobUser"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"

# The roles each account holds, per logical dataset. The Cloud Storage transfer needs
# bigquery.datasets.get and bigquery.datasets.update on its destination dataset (FACTS.md,
# and Google's "Use service accounts" page); of the predefined roles only dataOwner
# carries datasets.update, so the loader gets it on raw alone.
DATASET_ROLES: dict[str, dict[str, str]] = {
    "loader": {"raw": "roles/bigquery.dataOwner"},
    "transformer": {
        "raw": "roles/bigquery.dataViewer",
        "silver": "roles/bigquery.dataEditor",
        "gold": "roles/bigquery.dataEditor",
        "ops": "roles/bigquery.dataEditor",
    },
}
# FACTS.md: the transfer's account needs storage.objects.get and .list on the bucket.
BUCKET_ROLES: dict[str, str] = {"loader": "roles/storage.objectViewer"}

ACCOUNT_PURPOSES = {
    "loader": "Runs the Cloud Storage load transfers of the delivery files into the raw dataset.",
    "transformer": "Runs the daily scheduled query: every silver, quality and gold step.",
}


def transfer_service_agent(project_number: str) -> str:
    """FACTS.md: the Data Transfer service agent, which exists once the API is enabled."""
    return f"service-{project_number}@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"


@dataclass(frozen=True)
class AccessArgs:
    settings: Settings
    bucket: gcp.storage.Bucket
    datasets: dict[str, gcp.bigquery.Dataset]


class Access(Stage):
    """Loader and transformer service accounts: dataset- and bucket-level roles plus job creation; no keys."""

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("access", name, opts)
        settings = args.settings
        self.accounts: dict[str, gcp.serviceaccount.Account] = {}
        for role_name, purpose in ACCOUNT_PURPOSES.items():
            self.accounts[role_name] = gcp.serviceaccount.Account(
                f"{name}-{role_name}",
                project=settings.project,
                account_id=f"{settings.prefix}-{role_name}",
                display_name=f"Customer 360 {role_name} ({settings.environment})",
                description=purpose,
                opts=self.child(),
            )

        project_number = gcp.organizations.get_project_output(
            project_id=settings.project, opts=self.invoke_options()
        ).number
        agent = project_number.apply(lambda number: f"serviceAccount:{transfer_service_agent(number)}")

        self.grants: list[pulumi.CustomResource] = []
        for role_name, account in self.accounts.items():
            member = account.email.apply(lambda email: f"serviceAccount:{email}")
            # Creating jobs is only grantable on the project; it gives no access to data.
            self.grants.append(
                gcp.projects.IAMMember(
                    f"{name}-{role_name}-job-user",
                    project=settings.project,
                    role=JOB_USER,
                    member=member,
                    opts=self.child(),
                )
            )
            for layer, role in DATASET_ROLES[role_name].items():
                self.grants.append(
                    gcp.bigquery.DatasetIamMember(
                        f"{name}-{role_name}-{layer}",
                        project=settings.project,
                        dataset_id=args.datasets[layer].dataset_id,
                        role=role,
                        member=member,
                        opts=self.child(),
                    )
                )
            if role_name in BUCKET_ROLES:
                self.grants.append(
                    gcp.storage.BucketIAMMember(
                        f"{name}-{role_name}-landing",
                        bucket=args.bucket.name,
                        role=BUCKET_ROLES[role_name],
                        member=member,
                        opts=self.child(),
                    )
                )
            # FACTS.md: the service agent mints tokens for the account a transfer runs as.
            self.grants.append(
                gcp.serviceaccount.IAMMember(
                    f"{name}-{role_name}-transfer-agent",
                    service_account_id=account.name,
                    role=TOKEN_CREATOR,
                    member=agent,
                    opts=self.child(),
                )
            )

        self.register_outputs({role_name: account.email for role_name, account in self.accounts.items()})
