"""Service accounts per role and the narrowest grants that let them load and transform."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.settings import Settings
from infra.stage import Stage

JOB_USER = "roles/bigquery.jobUser"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
DATA_TRANSFER_API = "bigquerydatatransfer.googleapis.com"
# The custom role granted to the loader on raw (see LOADER_PERMISSIONS).
LOADER_ROLE = "custom:loader"

# Exactly what a Cloud Storage load transfer needs on its destination dataset, each with the page
# that asks for it. "Use service accounts": the account running a transfer needs datasets.get and
# datasets.update on the target dataset. "Batch loading data": loading into, or overwriting, a table
# or partition (a MIRROR run truncates its partition) needs tables.create, tables.updateData and
# tables.update (and jobs.create, which roles/bigquery.jobUser gives on the project).
_USE_SERVICE_ACCOUNTS = "https://cloud.google.com/bigquery/docs/use-service-accounts"
_BATCH_LOADING = "https://cloud.google.com/bigquery/docs/batch-loading-data"
LOADER_PERMISSIONS: dict[str, str] = {
    "bigquery.datasets.get": _USE_SERVICE_ACCOUNTS,
    "bigquery.datasets.update": _USE_SERVICE_ACCOUNTS,
    "bigquery.tables.create": _BATCH_LOADING,
    "bigquery.tables.updateData": _BATCH_LOADING,
    "bigquery.tables.update": _BATCH_LOADING,
}

# The roles each account holds, per logical dataset. Predefined roles for the transformer; the
# loader's custom role leaves out what dataOwner would add: deleting raw or its tables, reading
# rows, and changing the dataset's IAM policy (bigquery.datasets.setIamPolicy).
DATASET_ROLES: dict[str, dict[str, str]] = {
    "loader": {"raw": LOADER_ROLE},
    "transformer": {
        "raw": "roles/bigquery.dataViewer",
        "silver": "roles/bigquery.dataEditor",
        "gold": "roles/bigquery.dataEditor",
        "ops": "roles/bigquery.dataEditor",
    },
}
# "Batch loading data" (https://cloud.google.com/bigquery/docs/batch-loading-data): loading from Cloud
# Storage needs storage.objects.get and storage.objects.list on the bucket, both in objectViewer.
BUCKET_ROLES: dict[str, str] = {"loader": "roles/storage.objectViewer"}

ACCOUNT_PURPOSES = {
    "loader": "Runs the Cloud Storage load transfers of the delivery files into the raw dataset.",
    "transformer": "Runs the daily scheduled query: every silver, quality and gold step.",
}


def transfer_service_agent(project_number: str) -> str:
    """The Data Transfer service agent's address; Google creates the agent on the API's first use.

    https://cloud.google.com/bigquery/docs/enable-transfer-service ("Service agent")
    """
    return f"service-{project_number}@gcp-sa-bigquerydatatransfer.iam.gserviceaccount.com"


def transfer_agent_member(identity_member: str | None, project_number: str) -> str:
    """The agent's IAM member: the ServiceIdentity's `member`, or the documented address when it has none.

    pulumi-gcp bridges google-beta's resource_project_service_identity.go, whose Create sets `email`
    and `member` only when the generateServiceIdentity operation returns an email ("This API may not
    return the service identity's details"), so an empty member is a documented outcome.
    """
    return identity_member or f"serviceAccount:{transfer_service_agent(project_number)}"


def custom_role_id(prefix: str, role_name: str) -> str:
    # IAM custom role ids allow letters, digits, underscores and periods, 3 to 64 of them
    # (https://cloud.google.com/iam/docs/reference/rest/v1/projects.roles/create).
    return f"{prefix.replace('-', '_')}_{role_name}_transfer"


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

        self.loader_role = gcp.projects.IAMCustomRole(
            f"{name}-loader-role",
            project=settings.project,
            role_id=custom_role_id(settings.prefix, "loader"),
            title=f"Customer 360 loader ({settings.environment})",
            description="Lets a Cloud Storage load transfer write its raw dataset's partitions; no delete, no reads, no IAM.",
            permissions=sorted(LOADER_PERMISSIONS),
            opts=self.child(),
        )
        custom_roles = {LOADER_ROLE: self.loader_role.name}

        # Creates the Data Transfer service agent if the project has none yet (granting a role to an
        # agent that does not exist fails: terraform-google-modules/terraform-google-bigquery#291).
        self.transfer_agent = gcp.projects.ServiceIdentity(
            f"{name}-transfer-agent",
            project=settings.project,
            service=DATA_TRANSFER_API,
            opts=self.child(),
        )
        project_number = gcp.organizations.get_project_output(
            project_id=settings.project, opts=self.invoke_options()
        ).number
        agent = pulumi.Output.all(self.transfer_agent.member, project_number).apply(
            lambda values: transfer_agent_member(values[0], values[1])
        )

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
                        role=custom_roles.get(role, role),
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
            # The service agent mints the tokens of the account a transfer runs as
            # (https://cloud.google.com/bigquery/docs/dts-authentication-authorization).
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
