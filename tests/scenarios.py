"""Named incident scenarios, built through boto3 so they run in-process (mock_aws) or over HTTP.

Each builder creates a small account and returns the leaked key id. Expected answers in the tests come
from the AWS documentation, never from what moto lets through (moto does not evaluate policies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

ACCOUNT = "123456789012"  # moto's default account
OTHER_ACCOUNT = "999999999999"
REGION = "us-east-1"


def doc(*statements: dict[str, Any]) -> str:
    """A 2012-10-17 policy document as JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    """An Allow statement."""
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust(principal: dict[str, Any]) -> str:
    """A role trust policy allowing sts:AssumeRole to ``principal``."""
    return doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})


class Account:
    """boto3 clients for one account, in-process or at an endpoint."""

    def __init__(self, endpoint_url: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.session = boto3.Session(region_name=REGION)
        self._clients: dict[tuple[boto3.Session, str], Any] = {}

    def client(self, service: str) -> Any:
        """A client for ``service`` in the scenario's region: one per session and service (creating a
        client costs far more than the calls the scenarios make with it)."""
        key = (self.session, service)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=REGION, endpoint_url=self.endpoint_url
            )
        return self._clients[key]

    def user(self, name: str, *statements: dict[str, Any]) -> str:
        """Create a user with an inline policy and an access key; return the key id."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        if statements:
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=doc(*statements))
        return str(iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"])

    def role(
        self, name: str, trust_policy: str, *statements: dict[str, Any], boundary: str | None = None
    ) -> str:
        """Create a role with an inline policy; return its ARN."""
        iam = self.client("iam")
        kwargs: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": trust_policy}
        if boundary is not None:
            kwargs["PermissionsBoundary"] = boundary
        arn = str(iam.create_role(**kwargs)["Role"]["Arn"])
        if statements:
            iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=doc(*statements))
        return arn

    def table(self, name: str, *attributes: str) -> str:
        """Create a DynamoDB table keyed by its first attribute; return its ARN."""
        ddb = self.client("dynamodb")
        attrs = attributes or ("id",)
        return str(
            ddb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": attrs[0], "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in attrs[:1]],
                BillingMode="PAY_PER_REQUEST",
            )["TableDescription"]["TableArn"]
        )

    def bucket(self, name: str, *, policy: str | None = None, tags: dict[str, str] | None = None) -> str:
        """Create a bucket (optionally with a policy and tags); return its ARN."""
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if policy is not None:
            s3.put_bucket_policy(Bucket=name, Policy=policy)
        if tags:
            s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
            )
        return f"arn:aws:s3:::{name}"


def direct_read(acct: Account) -> str:
    """A user reads the customers table with its own inline policy."""
    table = acct.table("customers", "customer_number", "email")
    return acct.user("app", allow(["dynamodb:GetItem", "dynamodb:Scan"], table))


def role_chain_two_hops(acct: Account) -> str:
    """user → role/hop1 → role/hop2 → exports bucket."""
    acct.bucket("chain-exports", tags={"data-classification": "pii"})
    hop2 = acct.role(
        "hop2",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/hop1"}),
        allow("s3:GetObject", "arn:aws:s3:::chain-exports/*"),
    )
    hop1 = acct.role("hop1", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), allow("sts:AssumeRole", hop2))
    return acct.user("jump", allow("sts:AssumeRole", hop1))


def explicit_deny(acct: Account) -> str:
    """dynamodb:* on every table, but an explicit Deny on the payments table."""
    acct.table("payments", "payment_id")
    acct.table("orders", "order_id")
    return acct.user(
        "ops",
        allow("dynamodb:*", "*"),
        {
            "Effect": "Deny",
            "Action": "dynamodb:*",
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/payments",
        },
    )


def boundary_limits_role(acct: Account) -> str:
    """A role with s3:* whose permissions boundary only allows s3:ListBucket."""
    iam = acct.client("iam")
    acct.bucket("bounded-data")
    boundary = iam.create_policy(
        PolicyName="ListOnly", PolicyDocument=doc(allow(["s3:ListBucket", "sts:AssumeRole"], "*"))
    )["Policy"]["Arn"]
    role = acct.role(
        "bounded",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("s3:*", "*"),
        boundary=boundary,
    )
    return acct.user("dev", allow("sts:AssumeRole", role))


def cross_account_trust_denied(acct: Account) -> str:
    """The user may call sts:AssumeRole, but the role trusts only another account."""
    acct.bucket("partner-data")
    role = acct.role(
        "partner-access",
        trust({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}),
        allow("s3:GetObject", "arn:aws:s3:::partner-data/*"),
    )
    return acct.user("integration", allow("sts:AssumeRole", role))


def resource_policy_grants_user(acct: Account) -> str:
    """No identity policy at all; the bucket policy names the user ARN (same account)."""
    key = acct.user("reporter")
    acct.bucket(
        "shared-reports",
        policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/reporter"},
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::shared-reports/*",
            }
        ),
    )
    return key


def kms_key_policy_blocks_decrypt(acct: Account) -> str:
    """The user may GetSecretValue and kms:Decrypt, but the key policy names only another principal."""
    kms = acct.client("kms")
    key_arn = kms.create_key(
        Policy=doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/key-admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        )
    )["KeyMetadata"]["Arn"]
    sm = acct.client("secretsmanager")
    sealed = sm.create_secret(Name="sealed/db-password", SecretString="x", KmsKeyId=key_arn)["ARN"]
    plain = sm.create_secret(Name="plain/api-token", SecretString="x")["ARN"]
    return acct.user(
        "reader",
        allow("secretsmanager:GetSecretValue", [sealed, plain]),
        allow("kms:Decrypt", "*"),
    )


def ip_conditioned_access(acct: Account) -> str:
    """Reading the table is allowed only from the corporate network (aws:SourceIp)."""
    table = acct.table("corp-customers", "customer_number", "email")
    return acct.user(
        "office",
        allow("dynamodb:Scan", table, Condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
    )


SCENARIOS: dict[str, Callable[[Account], str]] = {
    "direct_read": direct_read,
    "role_chain_two_hops": role_chain_two_hops,
    "explicit_deny": explicit_deny,
    "boundary_limits_role": boundary_limits_role,
    "cross_account_trust_denied": cross_account_trust_denied,
    "resource_policy_grants_user": resource_policy_grants_user,
    "kms_key_policy_blocks_decrypt": kms_key_policy_blocks_decrypt,
    "ip_conditioned_access": ip_conditioned_access,
}


# ------------------------------------------------------------------------------------------------------
# Organizations and the fidelity scenarios (issue 3): SCP and RCP denies in a member account, a boundary on
# an intermediate role of a chain, a KMS grant, a resource policy naming a role session.

SCP_TYPE = "SERVICE_CONTROL_POLICY"
RCP_TYPE = "RESOURCE_CONTROL_POLICY"
FULL_AWS_ACCESS = "p-FullAWSAccess"  # AWS's default SCP
RCP_FULL_AWS_ACCESS = "p-RCPFullAWSAccess"  # AWS's default RCP


class MemberAccount(Account):
    """A member account of an organization, reached from the management account through
    ``OrganizationAccountAccessRole`` (what AWS creates in accounts made with CreateAccount).

    ``credentials`` are the member's session credentials as environment variables, for running the CLI as
    an auditor of the member account.
    """

    def __init__(self, endpoint_url: str | None, account_id: str, credentials: dict[str, str]) -> None:
        super().__init__(endpoint_url)
        self.account_id = account_id
        self.credentials = credentials
        self.session = boto3.Session(
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials["AWS_SESSION_TOKEN"],
            region_name=REGION,
        )


def share_organization_with(account_id: str) -> None:
    """Let a member account read its organization the way a delegated administrator can.

    AWS answers ListParents, ListPoliciesForTarget and DescribePolicy for the management account and for a
    delegated administrator of AWS Organizations (*Delegated administrator for AWS Organizations*). moto
    answers them only for the management account (a member gets AccountNotFoundException), so the member's
    Organizations backend is pointed at the management account's. Only the test setup touches moto's
    internals; the collector still reads everything through the Organizations API (in-process or over HTTP:
    ThreadedMotoServer runs in this process). moto's reset drops the alias with every other backend.
    """
    from moto.organizations.models import organizations_backends

    management = organizations_backends.master_accounts[account_id][0]
    organizations_backends[account_id]["aws"] = organizations_backends[management]["aws"]


def organization_member(
    management: Account,
    *,
    ou_scps: dict[str, dict[str, Any]] | None = None,
    account_rcps: dict[str, dict[str, Any]] | None = None,
    delegated: bool = True,
) -> MemberAccount:
    """An organization managed by ``management`` (SCPs and RCPs enabled) with one member account in the
    OU ``workloads``; ``ou_scps`` are attached to the OU and ``account_rcps`` to the member account (name ->
    policy document). The member may read the organization as a delegated administrator when ``delegated``.
    """
    org = management.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    for policy_type in (SCP_TYPE, RCP_TYPE):
        org.enable_policy_type(RootId=root, PolicyType=policy_type)
    ou = org.create_organizational_unit(ParentId=root, Name="workloads")["OrganizationalUnit"]["Id"]
    created = org.create_account(AccountName="workloads-prod", Email="prod@example.com")
    member = str(created["CreateAccountStatus"]["AccountId"])
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=ou)
    # AWS attaches the default policies to every account it creates; moto only to the root and OUs.
    for default in (FULL_AWS_ACCESS, RCP_FULL_AWS_ACCESS):
        org.attach_policy(PolicyId=default, TargetId=member)
    for policies, policy_type, target in ((ou_scps, SCP_TYPE, ou), (account_rcps, RCP_TYPE, member)):
        for name, document in (policies or {}).items():
            policy = org.create_policy(
                Name=name, Description=name, Type=policy_type, Content=json.dumps(document)
            )["Policy"]["PolicySummary"]["Id"]
            org.attach_policy(PolicyId=policy, TargetId=target)
    if delegated:
        share_organization_with(member)
    credentials = management.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole", RoleSessionName="auditor"
    )["Credentials"]
    return MemberAccount(
        management.endpoint_url,
        member,
        {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        },
    )


def scp_denies_table(management: Account) -> tuple[MemberAccount, str]:
    """A member-account user with dynamodb:* and s3:GetObject; an SCP on its OU denies dynamodb:*."""
    member = organization_member(
        management,
        ou_scps={
            "DenyDynamoDB": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}],
            }
        },
    )
    member.table("member-orders", "order_id")
    member.bucket("member-reports")
    key = member.user("app", allow("dynamodb:*", "*"), allow("s3:GetObject", "arn:aws:s3:::member-reports/*"))
    return member, key


def rcp_denies_bucket_reads(management: Account) -> tuple[MemberAccount, str]:
    """A member-account user with s3:* on two buckets; an RCP on the account denies s3:GetObject on one."""
    member = organization_member(
        management,
        account_rcps={
            "DenyVaultReads": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::member-vault/*",
                    }
                ],
            }
        },
    )
    member.bucket("member-vault")
    member.bucket("member-scratch")
    key = member.user("analyst", allow("s3:*", ["arn:aws:s3:::member-*", "arn:aws:s3:::member-*/*"]))
    return member, key


def boundary_on_intermediate_role(acct: Account) -> str:
    """user → role/hop1 → role/hop2 → chain-data; hop1's boundary allows only sts:AssumeRole, so hop1's own
    s3:GetObject on hop1-data is capped, while the hop to hop2 (no boundary) goes through."""
    iam = acct.client("iam")
    acct.bucket("chain-data")
    acct.bucket("hop1-data")
    boundary = iam.create_policy(PolicyName="AssumeOnly", PolicyDocument=doc(allow("sts:AssumeRole", "*")))[
        "Policy"
    ]["Arn"]
    hop2 = acct.role(
        "hop2",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/hop1"}),
        allow("s3:GetObject", "arn:aws:s3:::chain-data/*"),
    )
    hop1 = acct.role(
        "hop1",
        trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("sts:AssumeRole", hop2),
        allow("s3:GetObject", "arn:aws:s3:::hop1-data/*"),
        boundary=boundary,
    )
    return acct.user("jump", allow("sts:AssumeRole", hop1))


def kms_grant_opens_key(acct: Account) -> str:
    """Two secrets under two customer keys whose key policies name only role/key-admin (no "Enable IAM
    policies" statement); a grant gives the user kms:Decrypt on the first key only."""
    kms = acct.client("kms")
    key_policy = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/key-admin"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    granted = kms.create_key(Policy=key_policy, Description="granted")["KeyMetadata"]["Arn"]
    closed = kms.create_key(Policy=key_policy, Description="closed")["KeyMetadata"]["Arn"]
    sm = acct.client("secretsmanager")
    opened = sm.create_secret(Name="granted/db-password", SecretString="x", KmsKeyId=granted)["ARN"]
    sealed = sm.create_secret(Name="closed/db-password", SecretString="x", KmsKeyId=closed)["ARN"]
    key = acct.user("batch", allow("secretsmanager:GetSecretValue", [opened, sealed]))
    kms.create_grant(
        KeyId=granted,
        GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/batch",
        Operations=["Decrypt", "DescribeKey"],
    )
    return key


def resource_policy_names_session(acct: Account) -> str:
    """The user may assume role/reader (which has no S3 permission); a bucket policy names the reader role's
    session ``incident`` directly, another bucket names a session of a role the user cannot assume."""
    acct.role("reader", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    acct.role("other", trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    for bucket, role in (("session-reports", "reader"), ("other-reports", "other")):
        acct.bucket(
            bucket,
            policy=doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/incident"},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ),
        )
    return acct.user("auditor", allow("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/reader"))


def public_acls_and_block_public_access(acct: Account) -> str:
    """A user without any policy; three buckets with a public-read ACL: one plain, one whose bucket-level
    Block Public Access ignores public ACLs, one whose ACLs are disabled (BucketOwnerEnforced)."""
    s3 = acct.client("s3")
    for name in ("acl-open", "acl-ignored", "acl-disabled"):
        acct.bucket(name)
        s3.put_bucket_acl(Bucket=name, ACL="public-read")
    s3.put_public_access_block(
        Bucket="acl-ignored", PublicAccessBlockConfiguration={"IgnorePublicAcls": True}
    )
    s3.put_bucket_ownership_controls(
        Bucket="acl-disabled", OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    return acct.user("visitor")
