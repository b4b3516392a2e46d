"""``analyze --self-view``: no auditor credentials; the leaked key reads what it can about itself.

moto does not enforce IAM: every call a key makes there succeeds. The expected reach below comes from the
AWS documentation (*Policy evaluation logic*: a user's effective permissions are its own, its groups' and
its managed policies' Allows, within its permissions boundary — *Permissions boundaries for IAM
entities*). Where a call must be refused, the refusal is faked in botocore (``_make_api_call``), as AWS
would answer it (``AccessDenied``), and the test says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import botocore.client
import pytest
from botocore.exceptions import ClientError
from scenarios import ACCOUNT, REGION, Account, allow, doc
from test_cli import assert_diagnosis, datasets, invoke, report_of

from blastradius.collect.selfview import OPERATIONS, collect_self_view
from blastradius.keys import Secret

READ_ONLY_PREFIXES = ("Get", "List", "Describe")

# What a vendor's user is typically allowed about itself (IAM "self-service" policies).
SELF_READ = allow(
    [
        "iam:GetUser",
        "iam:ListUserPolicies",
        "iam:GetUserPolicy",
        "iam:ListAttachedUserPolicies",
        "iam:ListGroupsForUser",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
    ],
    f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}",
)


class Vendor(NamedTuple):
    """The vendor's leaked key and its secret."""

    key: str
    secret: str
    boundary: str  # the user's permissions boundary (moto keeps none for users: see the fixture)


def _vendor(acct: Account) -> Vendor:
    """A user with inline, managed and group policies (inline and managed), and a permissions boundary.

    Reach per AWS: customers table (inline), exports bucket (attached managed policy), the api token secret
    (group inline policy); the SSM parameter the group's managed policy allows is outside the boundary.
    """
    iam = acct.client("iam")
    customers = acct.table("customers", "customer_number", "email")
    acct.bucket("vendor-exports", tags={"data-classification": "pii"})
    secret_arn = acct.client("secretsmanager").create_secret(Name="vendor/api-token", SecretString="x")["ARN"]
    acct.client("ssm").put_parameter(Name="/vendor/db-password", Value="x", Type="SecureString")
    acct.table("payroll", "employee_id")  # nothing allows it

    exports = iam.create_policy(
        PolicyName="ExportsRead", PolicyDocument=doc(allow("s3:GetObject", "arn:aws:s3:::vendor-exports/*"))
    )["Policy"]["Arn"]
    params = iam.create_policy(
        PolicyName="ParamsRead",
        PolicyDocument=doc(allow("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/vendor/*")),
    )["Policy"]["Arn"]
    boundary = iam.create_policy(
        PolicyName="VendorBoundary",
        PolicyDocument=doc(allow(["dynamodb:*", "s3:*", "secretsmanager:*", "iam:Get*", "iam:List*"], "*")),
    )["Policy"]["Arn"]
    iam.create_group(GroupName="vendors")
    iam.put_group_policy(
        GroupName="vendors",
        PolicyName="token",
        PolicyDocument=doc(allow("secretsmanager:GetSecretValue", secret_arn)),
    )
    iam.attach_group_policy(GroupName="vendors", PolicyArn=params)
    iam.create_user(UserName="vendor", PermissionsBoundary=boundary)
    iam.put_user_policy(
        UserName="vendor", PolicyName="app", PolicyDocument=doc(allow("dynamodb:Scan", customers), SELF_READ)
    )
    iam.attach_user_policy(UserName="vendor", PolicyArn=exports)
    iam.add_user_to_group(GroupName="vendors", UserName="vendor")
    created = iam.create_access_key(UserName="vendor")["AccessKey"]
    return Vendor(str(created["AccessKeyId"]), str(created["SecretAccessKey"]), str(boundary))


@pytest.fixture
def vendor(moto: None, monkeypatch: pytest.MonkeyPatch) -> Vendor:
    """The vendor's account, with GetUser answering as AWS does.

    moto ignores a user's ``PermissionsBoundary`` (it keeps boundaries for roles only), while AWS returns it
    in GetUser (IAM API Reference, *GetUser*, ``User.PermissionsBoundary``): the field is added to moto's
    answer as AWS would give it.
    """
    created = _vendor(Account())
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        response = original(self, operation_name, api_params)
        if operation_name == "GetUser" and api_params.get("UserName") == "vendor":
            response["User"]["PermissionsBoundary"] = {
                "PermissionsBoundaryType": "Policy",
                "PermissionsBoundaryArn": created.boundary,
            }
        return response

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return created


class Recorded(NamedTuple):
    service: str
    operation: str
    access_key: str


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Recorded]]:
    """Every AWS API call made in the test, with the access key that signed it."""
    calls: list[Recorded] = []
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        credentials = self._request_signer._credentials
        calls.append(Recorded(self.meta.service_model.service_name, operation_name, credentials.access_key))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    yield calls


def deny(monkeypatch: pytest.MonkeyPatch, key: str, operations: set[str]) -> None:
    """Fake AWS refusing ``operations`` (botocore names, e.g. ``GetUser``) to ``key``.

    moto does not evaluate IAM, so the refusal a real account would give is injected in botocore.
    """
    original = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name in operations and self._request_signer._credentials.access_key == key:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform {operation_name}"}},
                operation_name,
            )
        return original(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)


def self_view(v: Vendor, *extra: str) -> Any:
    return invoke(
        "analyze", "--key", v.key, "--self-view", "--secret-stdin", "--region", REGION, *extra,
        input=f"{v.secret}\n",
    )  # fmt: skip


def test_self_view_reads_inline_managed_group_policies_and_the_boundary(
    vendor: Vendor, recorded: list[Recorded]
) -> None:
    result = self_view(vendor, "--format", "json")
    report = report_of(result)

    # Partial, and says so in the JSON contract.
    assert report["self_view"]["partial"] is True
    assert report["coverage"]["source"] == "self-view"
    assert report["coverage"]["complete"] is False
    assert any("a denied read means unknown, not no access" in w for w in report["coverage"]["warnings"])
    assert report["key"]["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/vendor"
    assert report["key"]["status"] == "Active"

    # Reach per the AWS evaluation logic: inline + managed + group inline allow; the group's managed
    # policy (ssm) is cut by the permissions boundary; payroll is allowed by nothing.
    found = datasets(report)
    assert set(found) == {"customers", "vendor-exports", "vendor/api-token"}
    assert found["customers"]["access"] == ["read"]
    assert found["vendor-exports"]["path"][0]["policy"] == "ExportsRead"
    assert found["vendor/api-token"]["path"][0]["policy"].startswith("token")

    # Every call one by one, with its result; each is one of the documented read-only operations.
    calls = report["self_view"]["calls"]
    assert [c["step"] for c in calls] == list(range(1, len(calls) + 1))
    assert all(c["result"] == "allowed" for c in calls)
    operations = [c["operation"] for c in calls]
    for expected in ("sts:GetCallerIdentity", "iam:GetUser", "iam:GetUserPolicy", "iam:GetGroupPolicy",
                     "iam:ListAttachedGroupPolicies", "iam:GetPolicyVersion", "s3:ListBuckets",
                     "dynamodb:ListTables", "secretsmanager:ListSecrets", "ssm:DescribeParameters",
                     "kms:ListKeys"):  # fmt: skip
        assert expected in operations
    read_policies = {c["target"].split(" ")[0] for c in calls if c["operation"] == "iam:GetPolicy"}
    assert read_policies == {
        f"arn:aws:iam::{ACCOUNT}:policy/{name}" for name in ("ExportsRead", "ParamsRead", "VendorBoundary")
    }

    # Read-only, and only as the leaked key: no auditor credentials were used at all.
    assert recorded, "no call was recorded"
    assert {c.access_key for c in recorded} == {vendor.key}
    assert all(c.operation.startswith(READ_ONLY_PREFIXES) for c in recorded), recorded
    assert len(recorded) == len(calls)

    # Told on stderr, before anything else, that the key itself is used.
    stderr = " ".join(result.stderr.split())
    assert "AS THE LEAKED KEY" in stderr and "CloudTrail" in stderr


def test_every_declared_operation_is_read_only() -> None:
    assert all(op.split(":", 1)[1].startswith(READ_ONLY_PREFIXES) for op in OPERATIONS)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_human_formats_say_partial_and_list_the_calls(vendor: Vendor, fmt: str) -> None:
    result = self_view(vendor, "--format", fmt)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "PARTIAL ANALYSIS (self-view)" in text
    assert "iam:GetUserPolicy user/vendor policy app: allowed" in text
    assert "sts:GetCallerIdentity: allowed" in text


def test_denied_own_reads_are_unknown_not_safe(vendor: Vendor, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key may not read its own IAM entity (faked AccessDenied: moto does not enforce IAM), nor list
    DynamoDB tables: the report lists each refusal, analyses nothing it could not see, and says unknown."""
    iam_reads = {op.split(":", 1)[1] for op in OPERATIONS if op.startswith("iam:")}
    deny(monkeypatch, vendor.key, iam_reads | {"ListTables"})
    report = report_of(self_view(vendor, "--format", "json"))

    calls = {c["operation"]: c for c in report["self_view"]["calls"]}
    assert calls["sts:GetCallerIdentity"]["result"] == "allowed"
    for op in (
        "iam:GetUser",
        "iam:ListUserPolicies",
        "iam:ListAttachedUserPolicies",
        "iam:ListGroupsForUser",
    ):
        assert calls[op]["result"] == "denied" and calls[op]["error"] == "AccessDenied"
    assert calls["dynamodb:ListTables"]["result"] == "denied"
    assert calls["s3:ListBuckets"]["result"] == "allowed"

    # Nothing could be read about the key's permissions: no dataset is claimed reachable, and the report
    # says why that is unknown rather than safe.
    assert report["datasets"] == []
    assert report["coverage"]["complete"] is False
    assert report["coverage"]["services"]["dynamodb"] == "AccessDenied"
    gaps = {(g["service"], g["operation"]) for g in report["coverage"]["gaps"]}
    assert ("iam", "ListUserPolicies") in gaps and ("dynamodb", "ListTables") in gaps
    unknown = " ".join(report["self_view"]["unknown"])
    assert "inline policies of user/vendor" in unknown and "dynamodb" in unknown
    assert report["key"]["principal_arn"] == f"arn:aws:iam::{ACCOUNT}:user/vendor"  # from STS


def test_an_unreadable_managed_policy_is_named(vendor: Vendor, monkeypatch: pytest.MonkeyPatch) -> None:
    deny(monkeypatch, vendor.key, {"GetPolicyVersion"})
    report = report_of(self_view(vendor, "--format", "json"))
    # The boundary could not be read either: analysed as if absent, so the SSM parameter shows up — and
    # the report says the boundary is unknown (reach may be overstated) rather than hiding it.
    assert "customers" in datasets(report)
    warnings = " ".join(report["coverage"]["warnings"])
    assert "ExportsRead" in warnings and "VendorBoundary" in warnings


def test_self_view_needs_the_secret_on_stdin() -> None:
    result = invoke("analyze", "--key", "AKIARZPUZDIKO66S32JL", "--self-view")
    assert_diagnosis(result, r"--self-view acts as the leaked key and needs its secret: add --secret-stdin")


def test_self_view_cannot_combine_with_a_snapshot(tmp_path: Any) -> None:
    result = invoke(
        "analyze", "--key", "AKIARZPUZDIKO66S32JL", "--self-view", "--secret-stdin",
        "--snapshot", tmp_path / "x.json", input="s\n",
    )  # fmt: skip
    assert_diagnosis(result, r"--self-view collects live as the leaked key; it cannot be combined")


def test_get_caller_identity_refused_is_a_diagnosis(vendor: Vendor, monkeypatch: pytest.MonkeyPatch) -> None:
    deny(monkeypatch, vendor.key, {"GetCallerIdentity"})
    result = self_view(vendor)
    assert_diagnosis(
        result, r"sts:GetCallerIdentity with the leaked credentials of AKIA…\w{4} failed \(AccessDenied\)"
    )
    assert vendor.secret not in result.output


def test_the_partial_snapshot_holds_no_secret(vendor: Vendor) -> None:
    result = collect_self_view(vendor.key, Secret(vendor.secret), regions=(REGION,))
    text = json.dumps(result.snapshot.to_json())
    assert vendor.secret not in text
    assert result.snapshot.source == "self-view"
    assert vendor.secret not in repr(result)


def test_a_role_session_reads_its_role(moto: None, recorded: list[Recorded]) -> None:
    """A session (ASIA) key reads its own role: GetRole, its inline and attached managed policies."""
    acct = Account()
    iam = acct.client("iam")
    acct.table("orders", "order_id")
    role = acct.role(
        "batch",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ),
        allow("dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"),
    )
    acct.bucket("batch-input")
    reads = iam.create_policy(
        PolicyName="BatchInput", PolicyDocument=doc(allow("s3:GetObject", "arn:aws:s3:::batch-input/*"))
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="batch", PolicyArn=reads)
    creds = acct.client("sts").assume_role(RoleArn=role, RoleSessionName="leak")["Credentials"]
    recorded.clear()
    result = invoke(
        "analyze", "--key", creds["AccessKeyId"], "--self-view", "--secret-stdin", "--region", REGION,
        "--format", "json", input=f"{creds['SecretAccessKey']}\n{creds['SessionToken']}\n",
    )  # fmt: skip
    report = report_of(result)
    assert report["key"]["principal_arn"] == role
    assert report["key"]["kind"] == "session"
    operations = [c["operation"] for c in report["self_view"]["calls"]]
    assert operations[:4] == [
        "sts:GetCallerIdentity",
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
    ]
    assert "iam:ListAttachedRolePolicies" in operations
    assert {"orders", "batch-input"} <= set(datasets(report))  # inline and attached managed policy
    assert {c.access_key for c in recorded} == {creds["AccessKeyId"]}
    assert all(c.operation.startswith(READ_ONLY_PREFIXES) for c in recorded)


@pytest.mark.parametrize(
    "option", [["--profile", "auditor"], ["--all-regions"]], ids=["profile", "all-regions"]
)
def test_self_view_refuses_auditor_options(option: list[str]) -> None:
    result = invoke(
        "analyze", "--key", "AKIARZPUZDIKO66S32JL", "--self-view", "--secret-stdin", *option, input="s\n"
    )
    assert_diagnosis(result, r"--self-view uses no auditor credentials")
