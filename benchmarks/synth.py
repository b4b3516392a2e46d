#!/usr/bin/env python3
"""Synthetic but realistic blastradius snapshots, for benchmarks and scale tests.

    python benchmarks/synth.py --principals 10000 --datasets 100000 --policies 1000 --out snap.json

writes a ``blastradius.snapshot/v1`` file (mode 0600, via ``dump_snapshot``) for one account and prints on
stdout ``{"snapshot": PATH, "broad_keys": [...], "narrow_keys": [...], "principals": N, "datasets": M, ...}``.
Everything is derived from ``--seed``: the same arguments give byte-identical files.

Shape of the organisation (numbers are fractions of the totals):

* Teams with Zipf-distributed sizes; every principal, policy and dataset belongs to a team and is named
  after it (``orders-exports-prod-00012a``, ``table/orders-customers-…``, ``secret:orders/prod/…``), so
  wildcard resources such as ``arn:aws:s3:::orders-*`` select realistic fractions of the estate.
* ~30% users (1-2 access keys, some inactive; groups per team plus organisation-wide groups; some
  inline policies with ``aws:SourceIp`` conditions) and ~70% roles (service roles for lambda/ECS/glue,
  team roles trusting the account root, roles trusting specific "hub" roles or users — hence
  assume-role chains of 2-4 hops — SSO roles trusting a SAML provider, a few partner roles with
  ``sts:ExternalId``), some with permissions boundaries and ``aws:PrincipalTag`` trust conditions.
* ``--policies`` customer managed policies: a handful of organisation-wide baseline policies attached
  nearly everywhere (``Deny`` on ``*payments*``, a region guard written with ``NotAction``, shared SSM
  parameters, KMS via-service decrypt), the rest team policies whose popularity within a team is Zipf-like
  (``s3:Get*`` on ``team-*``, ``dynamodb:*`` on ``table/team-*``, ABAC on ``aws:ResourceTag/team``,
  ``NotAction`` team-admin, ``"Resource": "*"`` listing, ``aws:SecureTransport`` conditions, ...). A few
  AWS managed policies are attached as well.
* Datasets: S3 buckets (10% with bucket policies naming roles, users or a partner account; some
  KMS-encrypted with a customer key), DynamoDB tables (``field_names`` with ``email``/``customer_number``
  on customer-like tables), Secrets Manager secrets (a few with resource policies), SSM parameters and
  KMS keys (key policies with the root "Enable IAM User Permissions" statement, key administrators,
  key users, some grants; a few keys without the root statement).

The first users are the benchmark's subjects: "broad" keys (a data-engineering service user that
reaches roughly 5-30% of the datasets, directly and through assume-role chains) and "narrow" keys
(an uploader scoped to a single bucket). Access key ids encode the account id the way AWS does
(offline decodable), are unique, and are not secrets (snapshots never contain secrets).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import dataclasses
import itertools
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Runnable as a script from a checkout without installing the package.
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blastradius.model import (
    DYNAMODB_TABLE,
    KMS_KEY,
    RCP,
    S3_BUCKET,
    SCP,
    SECRET,
    SSM_PARAMETER,
    AccessKey,
    Dataset,
    Group,
    KmsGrant,
    ManagedPolicy,
    Organization,
    OrgPolicy,
    PolicyDocument,
    Role,
    Snapshot,
    User,
    dump_snapshot,
)

ACCOUNT = "111111111111"
PARTNER_ACCOUNT = "222222222222"
SECURITY_ACCOUNT = "999999999999"
REGIONS = ("us-east-1", "eu-west-1")
COLLECTED_AT = "2026-01-15T12:00:00Z"
SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
OFFICE_CIDRS = ["203.0.113.0/24", "198.51.100.0/24"]
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
V = "2012-10-17"

TEAM_WORDS = [
    "orders", "payments", "catalog", "analytics", "identity", "search", "billing", "logistics",
    "marketing", "support", "fraud", "ledger", "inventory", "shipping", "pricing", "reviews",
    "notify", "recsys", "growth", "platform", "mobile", "web", "partners", "risk", "compliance",
    "people", "finance", "media", "maps", "ads", "checkout", "loyalty", "tax", "warehouse", "sellers",
    "content", "chat", "voice", "devices", "travel",
]  # fmt: skip
# Team rank of the broad subjects' home team: a mid-sized team, not the largest.
BROAD_TEAM_RANK = 4
ENVS = ["prod", "staging", "dev"]
ENV_CUM_WEIGHTS = [5, 8, 10]  # prod 50%, staging 30%, dev 20%

S3_PURPOSES = [
    "exports", "logs", "backups", "assets", "raw", "curated", "uploads", "reports", "features", "archive",
]  # fmt: skip
DDB_TABLES: dict[str, tuple[str, ...]] = {
    "customers": ("customer_number", "email", "full_name", "created_at"),
    "profiles": ("user_id", "email", "phone_number", "country"),
    "orders": ("order_id", "customer_number", "total_cents", "status"),
    "invoices": ("invoice_id", "customer_number", "amount", "iban"),
    "sessions": ("session_id", "user_id", "expires_at"),
    "events": ("pk", "sk", "payload", "ttl"),
    "carts": ("cart_id", "user_id", "items"),
    "tokens": ("token_id", "user_id", "refresh_token"),
    "audit": ("pk", "sk", "actor", "action"),
    "config": ("pk", "value"),
}
SECRET_KINDS = ["db-password", "api-key", "oauth-client", "signing-key", "webhook-token"]
SSM_KINDS = ["config", "db-url", "feature-flags", "api-token"]
OBJECT_KEYS: dict[str, tuple[str, ...]] = {
    "exports": ("customers/2025-12-01/export.csv", "orders/2025-12-01/part-0000.parquet"),
    "uploads": ("incoming/passport-scan-7781.pdf", "incoming/invoice-2025-11.pdf"),
    "reports": ("monthly/2025-11/revenue.xlsx",),
    "logs": ("AWSLogs/111111111111/elasticloadbalancing/us-east-1/2025/12/01/log.gz",),
    "backups": ("pg_dump/2025-12-01/customers.sql.gz",),
}

# (function, weight): what each role is for decides its trust policy and permissions.
ROLE_FUNCS = [
    ("app", 24), ("lambda", 15), ("etl", 10), ("deploy", 7), ("ci", 6), ("readonly", 13),
    ("admin", 5), ("analytics", 10), ("sso", 7), ("partner", 3),
]  # fmt: skip
USER_KINDS = [("dev", 55), ("ci", 15), ("svc", 15), ("analyst", 8), ("contractor", 7)]
HUB_FUNCS = frozenset({"deploy", "ci", "admin"})
SERVICE_PRINCIPALS = {
    "app": ["ecs-tasks.amazonaws.com", "ec2.amazonaws.com"],
    "lambda": ["lambda.amazonaws.com"],
    "etl": ["glue.amazonaws.com"],
}

KMS_ADMIN_ACTIONS = [
    "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*",
    "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
]  # fmt: skip
KMS_USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]

JsonDoc = dict[str, Any]


def _doc(*statements: dict[str, Any]) -> JsonDoc:
    return {"Version": V, "Statement": list(statements)}


# AWS managed policies attached to some roles (their real documents, abridged).
AWS_MANAGED: dict[str, JsonDoc] = {
    "AWSLambdaBasicExecutionRole": _doc(
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ),
    "AmazonS3ReadOnlyAccess": _doc(
        {
            "Effect": "Allow",
            "Action": [
                "s3:Get*",
                "s3:List*",
                "s3:Describe*",
                "s3-object-lambda:Get*",
                "s3-object-lambda:List*",
            ],
            "Resource": "*",
        }
    ),
    "AmazonSSMManagedInstanceCore": _doc(
        {
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeAssociation",
                "ssm:GetDeployablePatchSnapshotForInstance",
                "ssm:GetDocument",
                "ssm:DescribeDocument",
                "ssm:GetManifest",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:ListAssociations",
                "ssm:ListInstanceAssociations",
                "ssm:PutInventory",
                "ssm:PutComplianceItems",
                "ssm:PutConfigurePackageResult",
                "ssm:UpdateAssociationStatus",
                "ssm:UpdateInstanceAssociationStatus",
                "ssm:UpdateInstanceInformation",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        },
    ),
}


def _aws_policy_arn(name: str) -> str:
    if name == "AWSLambdaBasicExecutionRole":
        return f"arn:aws:iam::aws:policy/service-role/{name}"
    return f"arn:aws:iam::aws:policy/{name}"


def access_key_id(rng: random.Random, account: str = ACCOUNT) -> str:
    """An ``AKIA`` key id whose bits encode ``account`` like AWS's (so offline account decoding works)."""
    head = (1 << 47) | (int(account) << 7) | rng.getrandbits(7)
    raw = head.to_bytes(6, "big") + rng.getrandbits(32).to_bytes(4, "big")
    return "AKIA" + base64.b32encode(raw).decode("ascii")


def _unique_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(B32, k=16))


class _Zipf:
    """Draw from ``items`` with weight 1/(rank+1)**s (deterministic given the rng)."""

    def __init__(self, items: list[Any], s: float) -> None:
        self.items = items
        self.cum = list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(len(items))))

    def draw(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect_left(self.cum, rng.random() * self.cum[-1])]


def _weighted(pairs: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [p for p, _ in pairs], list(itertools.accumulate(w for _, w in pairs))


def _date(rng: random.Random, start_year: int = 2019, end_year: int = 2025) -> str:
    year = rng.randint(start_year, end_year)
    month, day, hour, minute = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00Z"


# ---------------------------------------------------------------------------------------------------------
# Resource patterns per team


def _s3(team: str, mid: str = "") -> list[str]:
    return [f"arn:aws:s3:::{team}-{mid}*", f"arn:aws:s3:::{team}-{mid}*/*"]


def _ddb(team: str, mid: str = "") -> list[str]:
    base = f"arn:aws:dynamodb:*:{ACCOUNT}:table/{team}-{mid}*"
    return [base, base + "/index/*"]


def _secrets(team: str, env: str = "*") -> str:
    return (
        f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:{team}/{env}/*"
        if env != "*"
        else (f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:{team}/*")
    )


def _ssm(team: str) -> str:
    return f"arn:aws:ssm:*:{ACCOUNT}:parameter/{team}/*"


def _role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def _user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def _policy_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/{name}"


def _assume(resources: str | list[str], sid: str = "AssumeTeamRoles") -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resources}


# Baseline customer managed policies (name -> document), attached across the organisation.
def _baseline_policies() -> list[tuple[str, JsonDoc, str]]:
    """(name, document, role) with role one of: everywhere, common, boundary, sso."""
    return [
        (
            "DenyPaymentsData",
            _doc(
                {
                    "Sid": "DenyPaymentsDataOutsidePaymentsTeam",
                    "Effect": "Deny",
                    "Action": ["s3:*", "dynamodb:*", "secretsmanager:GetSecretValue"],
                    "Resource": [
                        "arn:aws:s3:::*payments*",
                        "arn:aws:s3:::*payments*/*",
                        f"arn:aws:dynamodb:*:{ACCOUNT}:table/*payments*",
                        f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:payments/*",
                    ],
                }
            ),
            "everywhere",
        ),
        (
            "DeveloperBoundary",
            _doc(
                {
                    "Sid": "DataAndCompute",
                    "Effect": "Allow",
                    "Action": [
                        "s3:*",
                        "dynamodb:*",
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:DescribeSecret",
                        "ssm:Get*",
                        "ssm:Describe*",
                        "kms:Decrypt",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                        "sts:AssumeRole",
                        "logs:*",
                        "lambda:*",
                        "cloudwatch:*",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "NoIamChanges",
                    "Effect": "Deny",
                    "Action": ["iam:*", "organizations:*"],
                    "Resource": "*",
                },
            ),
            "boundary",
        ),
        (
            "SharedConfigRead",
            _doc(
                {
                    "Sid": "ReadSharedParameters",
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                    "Resource": f"arn:aws:ssm:*:{ACCOUNT}:parameter/shared/*",
                },
                {
                    "Sid": "DescribeEverything",
                    "Effect": "Allow",
                    "Action": [
                        "s3:ListAllMyBuckets",
                        "dynamodb:ListTables",
                        "secretsmanager:ListSecrets",
                        "ssm:DescribeParameters",
                        "kms:ListAliases",
                        "kms:ListKeys",
                    ],
                    "Resource": "*",
                },
            ),
            "everywhere",
        ),
        (
            "KmsDecryptViaService",
            _doc(
                {
                    "Sid": "DecryptThroughDataServices",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": f"arn:aws:kms:*:{ACCOUNT}:key/*",
                    "Condition": {
                        "StringLike": {
                            "kms:ViaService": [
                                "s3.*.amazonaws.com",
                                "dynamodb.*.amazonaws.com",
                                "secretsmanager.*.amazonaws.com",
                                "ssm.*.amazonaws.com",
                            ]
                        }
                    },
                }
            ),
            "common",
        ),
        (
            "RegionGuard",
            _doc(
                {
                    "Sid": "DenyOutsideApprovedRegions",
                    "Effect": "Deny",
                    "NotAction": ["iam:*", "sts:*", "s3:ListAllMyBuckets", "support:*", "cloudfront:*"],
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(REGIONS)}},
                }
            ),
            "common",
        ),
        (
            "PowerUserNoIam",
            _doc(
                {
                    "Sid": "EverythingButIam",
                    "Effect": "Allow",
                    "NotAction": ["iam:*", "organizations:*", "account:*"],
                    "Resource": "*",
                },
                {
                    "Sid": "ServiceLinkedRolesOnly",
                    "Effect": "Allow",
                    "Action": ["iam:CreateServiceLinkedRole", "iam:ListRoles"],
                    "Resource": "*",
                },
            ),
            "sso",
        ),
        (
            "DataBoundary",
            _doc(
                {
                    "Sid": "DataReadOnly",
                    "Effect": "Allow",
                    "Action": [
                        "s3:Get*",
                        "s3:List*",
                        "dynamodb:Get*",
                        "dynamodb:Query",
                        "dynamodb:Scan",
                        "dynamodb:BatchGetItem",
                        "dynamodb:Describe*",
                        "kms:Decrypt",
                        "sts:AssumeRole",
                        "logs:*",
                        "glue:*",
                        "athena:*",
                    ],
                    "Resource": "*",
                },
            ),
            "boundary",
        ),
        (
            "RequireSecureTransport",
            _doc(
                {
                    "Sid": "DenyPlainHttp",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
            "common",
        ),
    ]


@dataclass(slots=True)
class _Principal:
    name: str
    team: str
    kind: str  # role function or user kind
    arn: str
    managed: list[str] = field(default_factory=list)
    inline: list[PolicyDocument] = field(default_factory=list)


@dataclass(slots=True)
class Result:
    """A generated snapshot and the benchmark subjects within it."""

    snapshot: Snapshot
    broad_keys: list[str]
    narrow_keys: list[str]


class _Generator:
    def __init__(self, principals: int, datasets: int, policies: int, seed: int) -> None:
        if principals < 10:
            raise ValueError("--principals must be at least 10")
        if datasets < 10:
            raise ValueError("--datasets must be at least 10")
        if policies < 2:
            raise ValueError("--policies must be at least 2")
        self.rng = random.Random(seed)
        self.n_principals = principals
        self.n_datasets = datasets
        self.n_policies = policies
        n_teams = max(6, min(100, principals // 100))
        self.teams = [
            TEAM_WORDS[i % len(TEAM_WORDS)] + (str(i // len(TEAM_WORDS) + 1) if i >= len(TEAM_WORDS) else "")
            for i in range(n_teams)
        ]
        self.team_zipf = _Zipf(self.teams, 0.9)
        self.broad_team = self.teams[BROAD_TEAM_RANK]
        self.used_ids: set[str] = set()

    # -- helpers ------------------------------------------------------------------------------------------
    def uid(self, prefix: str) -> str:
        while True:
            value = _unique_id(self.rng, prefix)
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def key_id(self) -> str:
        while True:
            value = access_key_id(self.rng)
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    def env(self) -> str:
        return self.rng.choices(ENVS, cum_weights=ENV_CUM_WEIGHTS)[0]

    def other_team(self, team: str) -> str:
        other = self.team_zipf.draw(self.rng)
        return other if other != team else self.teams[(self.teams.index(team) + 1) % len(self.teams)]

    # -- the plan -----------------------------------------------------------------------------------------
    def build(self) -> Result:
        rng = self.rng
        n_users = max(4, round(self.n_principals * 0.3))
        n_roles = self.n_principals - n_users

        # Principals first (names only), so that datasets' resource policies can name them.
        funcs, func_cum = _weighted(ROLE_FUNCS)
        self.roles: list[_Principal] = []
        self.roles_by_team: dict[str, list[_Principal]] = {t: [] for t in self.teams}
        self.hubs_by_team: dict[str, list[_Principal]] = {t: [] for t in self.teams}
        for i in range(n_roles):
            team = self.team_zipf.draw(rng)
            func = rng.choices(funcs, cum_weights=func_cum)[0]
            name = f"AWSReservedSSO_{team}-{i:05d}" if func == "sso" else f"{team}-{func}-{i:05d}"
            p = _Principal(name=name, team=team, kind=func, arn=_role_arn(name))
            self.roles.append(p)
            self.roles_by_team[team].append(p)
            if func in HUB_FUNCS:
                self.hubs_by_team[team].append(p)
        # Every team with roles gets at least one deploy hub, so each team has an entry point.
        for team, members in self.roles_by_team.items():
            if members and not self.hubs_by_team[team]:
                first = next((m for m in members if m.kind not in ("sso", "partner")), None)
                if first is not None:
                    first.kind = "deploy"
                    first.name = f"{team}-deploy-{first.name.rsplit('-', 1)[1]}"
                    first.arn = _role_arn(first.name)
                    self.hubs_by_team[team].append(first)

        kinds, kind_cum = _weighted(USER_KINDS)
        self.users: list[_Principal] = []
        self.users_by_team: dict[str, list[_Principal]] = {t: [] for t in self.teams}
        n_broad = min(3, max(1, n_users // 100))
        n_narrow = min(3, max(1, n_users // 100))
        for i in range(n_users):
            if i < n_broad:
                team, kind, name = self.broad_team, "broad", f"dataeng-etl-svc{i}"
            elif i < n_broad + n_narrow:
                team = self.team_zipf.draw(rng)
                kind, name = "narrow", f"uploader-svc{i - n_broad}"
            else:
                team = self.team_zipf.draw(rng)
                kind = rng.choices(kinds, cum_weights=kind_cum)[0]
                name = (
                    f"{team}.{kind}{i:05d}"
                    if kind in ("dev", "analyst", "contractor")
                    else f"{team}-{kind}-{i:05d}"
                )
            p = _Principal(name=name, team=team, kind=kind, arn=_user_arn(name))
            self.users.append(p)
            self.users_by_team[team].append(p)

        datasets = self.make_datasets()
        managed = self.make_managed_policies()
        groups = self.make_groups()
        roles = self.make_roles()
        users, broad, narrow = self.make_users()

        # Attachment counts (GAAD reports them); boundary usage separately.
        attach: dict[str, int] = {}
        boundary: dict[str, int] = {}
        for entity in itertools.chain(users, groups, roles):
            for arn in entity.managed_policy_arns:
                attach[arn] = attach.get(arn, 0) + 1
        for entity in itertools.chain(users, roles):
            if entity.permissions_boundary_arn:
                b = entity.permissions_boundary_arn
                boundary[b] = boundary.get(b, 0) + 1
        policies = [
            ManagedPolicy(
                arn=arn,
                name=name,
                document=doc,
                policy_id=pid,
                default_version_id=ver,
                attachment_count=attach.get(arn, 0),
                boundary_usage_count=boundary.get(arn, 0),
            )
            for arn, name, doc, pid, ver in managed
            if attach.get(arn, 0) or boundary.get(arn, 0) or not arn.startswith("arn:aws:iam::aws:")
        ]
        snapshot = Snapshot(
            account_id=ACCOUNT,
            collected_at=COLLECTED_AT,
            regions=REGIONS,
            source="synthetic",
            users=tuple(users),
            groups=tuple(groups),
            roles=tuple(roles),
            managed_policies=tuple(policies),
            datasets=tuple(datasets),
            services=dict.fromkeys(("iam", "s3", "dynamodb", "secretsmanager", "ssm", "kms"), "ok"),
            warnings=("synthetic snapshot generated by benchmarks/synth.py",),
        )
        return Result(snapshot=snapshot, broad_keys=broad, narrow_keys=narrow)

    # -- datasets -----------------------------------------------------------------------------------------
    def team_roles(self, team: str, k: int, funcs: frozenset[str] | None = None) -> list[str]:
        pool = [r for r in self.roles_by_team[team] if funcs is None or r.kind in funcs] or self.roles
        return [r.arn for r in self.rng.sample(pool, min(k, len(pool)))]

    def make_datasets(self) -> list[Dataset]:
        rng = self.rng
        m = self.n_datasets
        n_kms = max(2, m // 20)
        n_s3 = round(m * 0.35)
        n_ddb = round(m * 0.25)
        n_secret = round(m * 0.15)
        n_ssm = max(0, m - n_kms - n_s3 - n_ddb - n_secret)
        out: list[Dataset] = []
        self.kms_by_team: dict[str, list[str]] = {}
        self.uploads_buckets: list[str] = []  # targets of the narrow keys
        classes = ["pii", "confidential", "internal", "public"]

        for i in range(n_kms):
            team = self.team_zipf.draw(rng)
            region = rng.choice(REGIONS)
            key_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            arn = f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"
            self.kms_by_team.setdefault(team, []).append(arn)
            statements: list[dict[str, Any]] = []
            if rng.random() < 0.9:
                statements.append(
                    {
                        "Sid": "Enable IAM User Permissions",
                        "Effect": "Allow",
                        "Principal": {"AWS": ROOT},
                        "Action": "kms:*",
                        "Resource": "*",
                    }
                )
            admins = self.team_roles(team, 1, frozenset({"admin", "deploy"}))
            statements.append(
                {
                    "Sid": "Allow access for Key Administrators",
                    "Effect": "Allow",
                    "Principal": {"AWS": admins},
                    "Action": KMS_ADMIN_ACTIONS,
                    "Resource": "*",
                }
            )
            users = self.team_roles(team, rng.randint(1, 3))
            statements.append(
                {
                    "Sid": "Allow use of the key",
                    "Effect": "Allow",
                    "Principal": {"AWS": users},
                    "Action": KMS_USE_ACTIONS,
                    "Resource": "*",
                }
            )
            grants: tuple[KmsGrant, ...] = ()
            if rng.random() < 0.15:
                grantee = self.team_roles(team, 1)[0]
                grants = (
                    KmsGrant(
                        grant_id="".join(rng.choices("0123456789abcdef", k=64)),
                        grantee_principal=grantee,
                        operations=("Decrypt", "GenerateDataKey"),
                        retiring_principal=grantee,
                    ),
                )
            out.append(
                Dataset(
                    arn=arn,
                    type=KMS_KEY,
                    name=key_id,
                    account_id=ACCOUNT,
                    region=region,
                    resource_policy={"Version": V, "Id": "key-consolepolicy-3", "Statement": statements},
                    tags={"team": team},
                    description=f"{team} data key {i}",
                    grants=grants,
                    aliases=(f"alias/{team}-data-{i:05d}",),
                    key_manager="CUSTOMER",
                    details={
                        "key_state": "Enabled",
                        "key_spec": "SYMMETRIC_DEFAULT",
                        "rotation": rng.random() < 0.7,
                    },
                )
            )

        for i in range(n_s3):
            team = self.team_zipf.draw(rng)
            env = self.env()
            purpose = rng.choice(S3_PURPOSES)
            name = f"{team}-{purpose}-{env}-{i:06x}"
            arn = f"arn:aws:s3:::{name}"
            kms = None
            if rng.random() < 0.25 and team in self.kms_by_team:
                kms = rng.choice(self.kms_by_team[team])
            policy = self.bucket_policy(team, arn) if rng.random() < 0.10 else None
            if purpose == "uploads" or not self.uploads_buckets:
                self.uploads_buckets.append(arn)
            cls = (
                "pii"
                if purpose in ("exports", "uploads", "backups") and rng.random() < 0.6
                else rng.choice(classes)
            )
            out.append(
                Dataset(
                    arn=arn,
                    type=S3_BUCKET,
                    name=name,
                    account_id=ACCOUNT,
                    region=rng.choice(REGIONS),
                    resource_policy=policy,
                    kms_key=kms,
                    tags={"team": team, "env": env, "data-classification": cls},
                    object_keys_sample=OBJECT_KEYS.get(purpose, ()),
                    estimated_records=rng.randint(0, 2_000_000),
                    size_bytes=rng.randint(0, 5 * 10**12),
                    details={
                        "encryption": "aws:kms" if kms else "AES256",
                        "public_access_block": rng.random() < 0.95,
                        "versioning": rng.choice(["Enabled", "Suspended", "Disabled"]),
                    },
                )
            )

        tables = list(DDB_TABLES)
        for i in range(n_ddb):
            team = self.team_zipf.draw(rng)
            env = self.env()
            thing = rng.choice(tables)
            region = rng.choice(REGIONS)
            name = f"{team}-{thing}-{env}-{i:06x}"
            kms = (
                rng.choice(self.kms_by_team[team])
                if rng.random() < 0.15 and team in self.kms_by_team
                else None
            )
            out.append(
                Dataset(
                    arn=f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}",
                    type=DYNAMODB_TABLE,
                    name=name,
                    account_id=ACCOUNT,
                    region=region,
                    kms_key=kms,
                    tags={"team": team, "env": env},
                    field_names=DDB_TABLES[thing],
                    estimated_records=rng.randint(0, 5_000_000),
                    size_bytes=rng.randint(0, 10**11),
                    details={"billing_mode": rng.choice(["PAY_PER_REQUEST", "PROVISIONED"])},
                )
            )

        for i in range(n_secret):
            team = self.team_zipf.draw(rng)
            env = self.env()
            region = rng.choice(REGIONS)
            name = f"{team}/{env}/{rng.choice(SECRET_KINDS)}-{i:05d}"
            arn = (
                f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{name}-{''.join(rng.choices(ALNUM, k=6))}"
            )
            policy = None
            if rng.random() < 0.05:
                reader = self.team_roles(self.other_team(team), 1)
                policy = _doc(
                    {
                        "Sid": "CrossTeamRead",
                        "Effect": "Allow",
                        "Principal": {"AWS": reader},
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": "*",
                    }
                )
            kms = (
                rng.choice(self.kms_by_team[team])
                if rng.random() < 0.3 and team in self.kms_by_team
                else None
            )
            out.append(
                Dataset(
                    arn=arn,
                    type=SECRET,
                    name=name,
                    account_id=ACCOUNT,
                    region=region,
                    resource_policy=policy,
                    kms_key=kms,
                    tags={"team": team, "env": env},
                    description=f"{team} {env} credential",
                    details={"rotation_enabled": rng.random() < 0.4, "last_rotated": _date(rng, 2024, 2025)},
                )
            )

        for i in range(n_ssm):
            region = rng.choice(REGIONS)
            if rng.random() < 0.05:
                team, name = "shared", f"/shared/{rng.choice(SSM_KINDS)}/{i:05d}"
                tags = {"team": "shared"}
            else:
                team = self.team_zipf.draw(rng)
                env = self.env()
                name = f"/{team}/{env}/{rng.choice(SSM_KINDS)}/{i:05d}"
                tags = {"team": team, "env": env}
            secure = rng.random() < 0.4
            out.append(
                Dataset(
                    arn=f"arn:aws:ssm:{region}:{ACCOUNT}:parameter{name}",
                    type=SSM_PARAMETER,
                    name=name,
                    account_id=ACCOUNT,
                    region=region,
                    tags=tags,
                    details={"type": "SecureString" if secure else "String", "tier": "Standard"},
                )
            )
        return out

    def bucket_policy(self, team: str, arn: str) -> JsonDoc:
        rng = self.rng
        resources = [arn, arn + "/*"]
        statements: list[dict[str, Any]] = [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": resources,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "AllowTeamReaders",
                "Effect": "Allow",
                "Principal": {
                    "AWS": self.team_roles(self.other_team(team) if rng.random() < 0.3 else team, 2)
                },
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": resources,
            },
        ]
        if rng.random() < 0.3 and self.users_by_team[team]:
            statements.append(
                {
                    "Sid": "AllowNamedUser",
                    "Effect": "Allow",
                    "Principal": {"AWS": rng.choice(self.users_by_team[team]).arn},
                    "Action": ["s3:GetObject", "s3:PutObject"],
                    "Resource": arn + "/*",
                }
            )
        if rng.random() < 0.2:
            statements.append(
                {
                    "Sid": "AllowPartnerAccount",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{PARTNER_ACCOUNT}:root"},
                    "Action": "s3:GetObject",
                    "Resource": arn + "/*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-partner1234"}},
                }
            )
        return _doc(*statements)

    # -- managed policies ---------------------------------------------------------------------------------
    def team_policy(self, team: str, kind: str) -> JsonDoc:
        rng = self.rng
        tls = {"Bool": {"aws:SecureTransport": "true"}}
        if kind == "s3-read":
            return _doc(
                {
                    "Sid": "ReadTeamBuckets",
                    "Effect": "Allow",
                    "Action": ["s3:Get*", "s3:List*"],
                    "Resource": _s3(team),
                }
            )
        if kind == "s3-rw":
            purpose = rng.choice(S3_PURPOSES)
            stmt: dict[str, Any] = {
                "Sid": "ReadWriteTeamObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                "Resource": _s3(team, purpose + "-"),
            }
            if rng.random() < 0.4:
                stmt["Condition"] = tls
            return _doc(stmt)
        if kind == "dynamodb-all":
            return _doc(
                {"Sid": "TeamTables", "Effect": "Allow", "Action": "dynamodb:*", "Resource": _ddb(team)}
            )
        if kind == "dynamodb-read":
            stmt = {
                "Sid": "ReadTeamTables",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:Query",
                    "dynamodb:Scan",
                    "dynamodb:DescribeTable",
                ],
                "Resource": _ddb(team, rng.choice([*DDB_TABLES, "", ""]) + "-" if rng.random() < 0.5 else ""),
            }
            if rng.random() < 0.3:
                stmt["Condition"] = {"IpAddress": {"aws:SourceIp": OFFICE_CIDRS}}
            return _doc(stmt)
        if kind == "secrets-read":
            return _doc(
                {
                    "Sid": "ReadTeamSecrets",
                    "Effect": "Allow",
                    "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                    "Resource": _secrets(team, rng.choice(["*", "prod", "staging"])),
                }
            )
        if kind == "ssm-read":
            return _doc(
                {
                    "Sid": "ReadTeamParameters",
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                    "Resource": _ssm(team),
                },
                {
                    "Sid": "DecryptTeamParameters",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": f"arn:aws:kms:*:{ACCOUNT}:key/*",
                    "Condition": {"ForAnyValue:StringLike": {"kms:ResourceAliases": f"alias/{team}-*"}},
                },
            )
        if kind == "abac":
            return _doc(
                {
                    "Sid": "TagBasedAccess",
                    "Effect": "Allow",
                    "Action": ["dynamodb:GetItem", "dynamodb:Query", "secretsmanager:GetSecretValue"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/team": "${aws:PrincipalTag/team}"}},
                }
            )
        if kind == "team-admin":
            return _doc(
                {
                    "Sid": "EverythingOnTeamResources",
                    "Effect": "Allow",
                    "NotAction": ["iam:*", "organizations:*", "kms:ScheduleKeyDeletion"],
                    "Resource": [*_s3(team), *_ddb(team), _secrets(team), _ssm(team)],
                },
                {
                    "Sid": "NoDeletesInProd",
                    "Effect": "Deny",
                    "Action": ["s3:DeleteBucket", "dynamodb:DeleteTable", "secretsmanager:DeleteSecret"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}},
                },
            )
        if kind == "cross-read":
            other = self.other_team(team)
            return _doc(
                {
                    "Sid": "ReadPartnerTeamExports",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": _s3(other, "exports-"),
                    "Condition": tls,
                }
            )
        if kind == "kms-use":
            return _doc(
                {
                    "Sid": "UseTeamKeys",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"],
                    "Resource": f"arn:aws:kms:*:{ACCOUNT}:key/*",
                    "Condition": {"StringEquals": {"aws:ResourceTag/team": team}},
                }
            )
        # "compute": no data access, realistic noise.
        return _doc(
            {
                "Sid": "RunTeamCompute",
                "Effect": "Allow",
                "Action": [
                    "lambda:InvokeFunction",
                    "lambda:GetFunction",
                    "logs:*",
                    "cloudwatch:PutMetricData",
                ],
                "Resource": [f"arn:aws:lambda:*:{ACCOUNT}:function:{team}-*", "*"],
            },
            {
                "Sid": "NoDataPlaneWrites",
                "Effect": "Deny",
                "Action": ["s3:Put*", "dynamodb:Put*"],
                "Resource": "*",
            },
        )

    def make_managed_policies(self) -> list[tuple[str, str, JsonDoc, str, str]]:
        rng = self.rng
        out: list[tuple[str, str, JsonDoc, str, str]] = []
        baseline = _baseline_policies()
        n_base = min(len(baseline), max(2, self.n_policies // 4))
        self.baseline_by_role: dict[str, list[str]] = {}
        for name, doc, role in baseline[:n_base]:
            arn = _policy_arn(name)
            self.baseline_by_role.setdefault(role, []).append(arn)
            out.append((arn, name, doc, self.uid("ANPA"), f"v{rng.randint(1, 5)}"))
        kinds = [
            "s3-read", "s3-rw", "dynamodb-read", "dynamodb-all", "secrets-read", "ssm-read", "abac",
            "team-admin", "cross-read", "kms-use", "compute",
        ]  # fmt: skip
        kind_weights = [14, 14, 12, 8, 10, 10, 5, 6, 6, 5, 10]
        self.team_policies: dict[str, list[tuple[str, str]]] = {
            t: [] for t in self.teams
        }  # team -> (kind, arn)
        for j in range(self.n_policies - n_base):
            team = self.team_zipf.draw(rng)
            kind = rng.choices(kinds, weights=kind_weights)[0]
            name = f"{team}-{kind}-{j:05d}"
            arn = _policy_arn(name)
            self.team_policies[team].append((kind, arn))
            out.append((arn, name, self.team_policy(team, kind), self.uid("ANPA"), f"v{rng.randint(1, 5)}"))
        self.team_policy_zipf = {t: _Zipf(ps, 1.2) for t, ps in self.team_policies.items() if ps}
        for name, doc in AWS_MANAGED.items():
            out.append((_aws_policy_arn(name), name, doc, self.uid("ANPA"), "v1"))
        return out

    def pick_team_policies(self, team: str, k: int, *, data_only: bool = False) -> list[str]:
        zipf = self.team_policy_zipf.get(team)
        if zipf is None:
            return []
        chosen: list[str] = []
        for _ in range(k * 2):
            kind, arn = zipf.draw(self.rng)
            if arn not in chosen and not (data_only and kind == "compute"):
                chosen.append(arn)
            if len(chosen) == k:
                break
        return chosen

    def baseline_arns(self, role: str) -> list[str]:
        return self.baseline_by_role.get(role, [])

    # -- groups -------------------------------------------------------------------------------------------
    def make_groups(self) -> list[Group]:
        groups: list[Group] = []
        base = self.baseline_arns("everywhere")
        groups.append(
            Group(
                arn=f"arn:aws:iam::{ACCOUNT}:group/all-engineers",
                name="all-engineers",
                group_id=self.uid("AGPA"),
                managed_policy_arns=tuple(a for a in base if "DenyPayments" in a or "SharedConfig" in a),
            )
        )
        big = self.teams[:2]
        groups.append(
            Group(
                arn=f"arn:aws:iam::{ACCOUNT}:group/data-engineers",
                name="data-engineers",
                group_id=self.uid("AGPA"),
                inline_policies=(
                    PolicyDocument(
                        name="cross-team-analytics-read",
                        document=_doc(
                            {
                                "Sid": "ReadCuratedData",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:ListBucket"],
                                "Resource": [
                                    "arn:aws:s3:::*-curated-prod-*",
                                    "arn:aws:s3:::*-curated-prod-*/*",
                                ],
                            },
                            {
                                "Sid": "ReadOrderTables",
                                "Effect": "Allow",
                                "Action": ["dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem"],
                                "Resource": [f"arn:aws:dynamodb:*:{ACCOUNT}:table/{t}-orders-*" for t in big],
                            },
                            {
                                "Sid": "AssumeAnalyticsRoles",
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Resource": f"arn:aws:iam::{ACCOUNT}:role/{self.teams[3]}-analytics-*",
                                "Condition": {"StringEquals": {"aws:PrincipalTag/department": "data"}},
                            },
                        ),
                    ),
                ),
            )
        )
        groups.append(
            Group(
                arn=f"arn:aws:iam::{ACCOUNT}:group/contractors",
                name="contractors",
                group_id=self.uid("AGPA"),
                inline_policies=(
                    PolicyDocument(
                        name="office-only",
                        document=_doc(
                            {
                                "Sid": "DenyOutsideOffice",
                                "Effect": "Deny",
                                "Action": "*",
                                "Resource": "*",
                                "Condition": {
                                    "NotIpAddress": {"aws:SourceIp": OFFICE_CIDRS},
                                    "Bool": {"aws:ViaAWSService": "false"},
                                },
                            }
                        ),
                    ),
                ),
            )
        )
        for team in self.teams:
            hubs = [f"arn:aws:iam::{ACCOUNT}:role/{team}-{f}-*" for f in ("deploy", "ci", "readonly")]
            groups.append(
                Group(
                    arn=f"arn:aws:iam::{ACCOUNT}:group/{team}-developers",
                    name=f"{team}-developers",
                    group_id=self.uid("AGPA"),
                    managed_policy_arns=tuple(self.pick_team_policies(team, 2, data_only=True)),
                    inline_policies=(PolicyDocument(name="assume-team-roles", document=_doc(_assume(hubs))),),
                )
            )
            groups.append(
                Group(
                    arn=f"arn:aws:iam::{ACCOUNT}:group/{team}-readonly",
                    name=f"{team}-readonly",
                    group_id=self.uid("AGPA"),
                    inline_policies=(
                        PolicyDocument(
                            name="read-team-data",
                            document=_doc(
                                {
                                    "Sid": "ReadTeamBuckets",
                                    "Effect": "Allow",
                                    "Action": ["s3:Get*", "s3:List*"],
                                    "Resource": _s3(team),
                                    "Condition": {"IpAddress": {"aws:SourceIp": OFFICE_CIDRS}},
                                }
                            ),
                        ),
                    ),
                )
            )
        return groups

    # -- roles --------------------------------------------------------------------------------------------
    def trust_policy(self, role: _Principal) -> JsonDoc:
        rng = self.rng
        func, team = role.kind, role.team
        assume = "sts:AssumeRole"
        if func == "sso":
            return _doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": SAML_PROVIDER},
                    "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"],
                    "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
                }
            )
        if func == "partner":
            return _doc(
                {
                    "Effect": "Allow",
                    "Principal": {
                        "AWS": f"arn:aws:iam::{rng.choice([PARTNER_ACCOUNT, SECURITY_ACCOUNT])}:root"
                    },
                    "Action": assume,
                    "Condition": {"StringEquals": {"sts:ExternalId": f"ext-{rng.getrandbits(32):08x}"}},
                }
            )
        if func in SERVICE_PRINCIPALS and rng.random() < {"app": 0.7, "lambda": 1.0, "etl": 0.5}[func]:
            return _doc(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": rng.choice(SERVICE_PRINCIPALS[func])},
                    "Action": assume,
                }
            )
        hubs = [h for h in self.hubs_by_team[team] if h is not role]
        r = rng.random()
        if func == "ci" and self.users_by_team[team] and r < 0.5:
            ci_users = [u for u in self.users_by_team[team] if u.kind == "ci"] or self.users_by_team[team]
            return _doc({"Effect": "Allow", "Principal": {"AWS": rng.choice(ci_users).arn}, "Action": assume})
        if func == "admin":
            if self.users_by_team[team] and r < 0.3:
                devs = rng.sample(self.users_by_team[team], min(2, len(self.users_by_team[team])))
                return _doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": [u.arn for u in devs]},
                        "Action": assume,
                        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                    }
                )
            if hubs:
                return _doc(
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": [h.arn for h in rng.sample(hubs, min(2, len(hubs)))]},
                        "Action": assume,
                    }
                )
        if func in ("readonly", "analytics", "deploy", "app", "etl") and hubs and r < 0.4:
            source_team = team if rng.random() < 0.9 else self.other_team(team)
            pool = [h for h in self.hubs_by_team[source_team] if h is not role] or hubs
            return _doc({"Effect": "Allow", "Principal": {"AWS": rng.choice(pool).arn}, "Action": assume})
        stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": assume}
        if rng.random() < 0.25:
            stmt["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": team}}
        return _doc(stmt)

    def make_roles(self) -> list[Role]:
        rng = self.rng
        roles: list[Role] = []
        everywhere = self.baseline_arns("everywhere")
        common = self.baseline_arns("common")
        boundaries = self.baseline_arns("boundary")
        sso = self.baseline_arns("sso")
        lambda_basic = _aws_policy_arn("AWSLambdaBasicExecutionRole")
        ssm_core = _aws_policy_arn("AmazonSSMManagedInstanceCore")
        s3_ro = _aws_policy_arn("AmazonS3ReadOnlyAccess")
        for role in self.roles:
            func, team = role.kind, role.team
            trust = self.trust_policy(role)
            managed: list[str] = []
            if team != "payments":
                managed += [a for a in everywhere if rng.random() < 0.85]
            managed += [a for a in common if rng.random() < 0.5]
            inline: list[PolicyDocument] = []
            boundary = None
            if func == "sso":
                managed += sso if rng.random() < 0.5 else [s3_ro]
            elif func == "partner":
                managed += [s3_ro] if rng.random() < 0.3 else self.pick_team_policies(team, 1)
            else:
                if func == "lambda":
                    managed.append(lambda_basic)
                elif (
                    trust["Statement"][0]["Principal"].get("Service") == "ec2.amazonaws.com"
                    and rng.random() < 0.5
                ):
                    managed.append(ssm_core)  # instance profile roles (grants ssm:GetParameter on "*")
                managed += self.pick_team_policies(team, rng.randint(1, 3))
                if func in HUB_FUNCS:
                    inline.append(
                        PolicyDocument(
                            name="assume-team-roles",
                            document=_doc(_assume(f"arn:aws:iam::{ACCOUNT}:role/{team}-*")),
                        )
                    )
                if func == "analytics":
                    other = self.other_team(team)
                    inline.append(
                        PolicyDocument(
                            name="analytics-read",
                            document=_doc(
                                {
                                    "Sid": "ReadCurated",
                                    "Effect": "Allow",
                                    "Action": ["s3:GetObject", "s3:ListBucket"],
                                    "Resource": [*_s3(team, "curated-"), *_s3(other, "curated-")],
                                }
                            ),
                        )
                    )
                if rng.random() < 0.2:
                    inline.append(
                        PolicyDocument(
                            name=f"{func}-extra",
                            document=self.team_policy(
                                team, rng.choice(["s3-rw", "ssm-read", "secrets-read"])
                            ),
                        )
                    )
                if boundaries and rng.random() < 0.3:
                    boundary = (
                        boundaries[0] if func != "analytics" or len(boundaries) == 1 else boundaries[-1]
                    )
            roles.append(
                Role(
                    arn=role.arn,
                    name=role.name,
                    trust_policy=trust,
                    role_id=self.uid("AROA"),
                    path="/aws-reserved/sso.amazonaws.com/" if func == "sso" else "/",
                    created=_date(rng),
                    inline_policies=tuple(inline),
                    managed_policy_arns=tuple(dict.fromkeys(managed)),
                    permissions_boundary_arn=boundary,
                    tags={"team": team, "function": func},
                    max_session_duration=3600 if rng.random() < 0.8 else 43200,
                    last_used_date=_date(rng, 2025, 2025) if rng.random() < 0.8 else None,
                    last_used_region=rng.choice(REGIONS),
                )
            )
        return roles

    # -- users --------------------------------------------------------------------------------------------
    def make_users(self) -> tuple[list[User], list[str], list[str]]:
        rng = self.rng
        users: list[User] = []
        broad: list[str] = []
        narrow: list[str] = []
        common = self.baseline_arns("common")
        boundaries = self.baseline_arns("boundary")
        for u in self.users:
            team, kind = u.team, u.kind
            groups: list[str] = []
            managed: list[str] = []
            inline: list[PolicyDocument] = []
            tags = {"team": team}
            boundary = None
            if kind == "broad":
                groups = ["all-engineers", "data-engineers", f"{team}-developers"]
                tags["department"] = "data"
                inline.append(
                    PolicyDocument(
                        name="legacy-exports-read",
                        document=_doc(
                            {
                                "Sid": "ReadAllExports",
                                "Effect": "Allow",
                                "Action": ["s3:Get*", "s3:ListBucket"],
                                "Resource": [
                                    "arn:aws:s3:::*-exports-prod-*",
                                    "arn:aws:s3:::*-exports-prod-*/*",
                                ],
                            },
                            {
                                "Sid": "DecryptForExports",
                                "Effect": "Allow",
                                "Action": "kms:Decrypt",
                                "Resource": "*",
                                "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}},
                            },
                        ),
                    )
                )
            elif kind == "narrow":
                bucket = self.uploads_buckets[(len(narrow) * 7919) % len(self.uploads_buckets)]
                inline.append(
                    PolicyDocument(
                        name="upload-only",
                        document=_doc(
                            {
                                "Sid": "PutUploads",
                                "Effect": "Allow",
                                "Action": ["s3:PutObject", "s3:GetObject"],
                                "Resource": f"{bucket}/incoming/*",
                            }
                        ),
                    )
                )
            else:
                if kind in ("dev", "analyst", "contractor"):
                    groups.append("all-engineers")
                if kind == "dev":
                    groups.append(f"{team}-developers")
                    if rng.random() < 0.3:
                        managed += self.pick_team_policies(team, 1, data_only=True)
                elif kind == "analyst":
                    groups.append(f"{team}-readonly")
                    if rng.random() < 0.3:
                        groups.append("data-engineers")
                        tags["department"] = "data"
                elif kind == "contractor":
                    groups += ["contractors", f"{team}-readonly"]
                elif kind == "ci":
                    inline.append(
                        PolicyDocument(
                            name="assume-deploy",
                            document=_doc(
                                _assume(f"arn:aws:iam::{ACCOUNT}:role/{team}-ci-*", "AssumeCiRoles")
                            ),
                        )
                    )
                else:  # svc: long-lived application key with direct data access
                    managed += self.pick_team_policies(team, rng.randint(1, 2), data_only=True)
                    if rng.random() < 0.4:
                        stmt = self.team_policy(team, rng.choice(["dynamodb-read", "secrets-read", "s3-rw"]))
                        for s in stmt["Statement"]:
                            s.setdefault(
                                "Condition", {"IpAddress": {"aws:SourceIp": rng.sample(OFFICE_CIDRS, 1)}}
                            )
                        inline.append(PolicyDocument(name="app-data", document=stmt))
                managed += [a for a in common if rng.random() < 0.3]
                if boundaries and kind in ("dev", "contractor") and rng.random() < 0.2:
                    boundary = boundaries[0]
            keys: list[AccessKey] = []
            n_keys = 1 if kind in ("broad", "narrow") or rng.random() < 0.7 else 2
            for k in range(n_keys):
                active = kind in ("broad", "narrow") or (k == 0 and rng.random() < 0.9) or rng.random() < 0.3
                key_id = self.key_id()
                keys.append(
                    AccessKey(
                        access_key_id=key_id,
                        user_name=u.name,
                        status="Active" if active else "Inactive",
                        created=_date(rng),
                        last_used_date=_date(rng, 2025, 2025) if rng.random() < 0.8 else None,
                        last_used_service=rng.choice(["s3", "dynamodb", "sts", "secretsmanager", "ssm"]),
                        last_used_region=rng.choice(REGIONS),
                    )
                )
                if kind == "broad":
                    broad.append(key_id)
                elif kind == "narrow":
                    narrow.append(key_id)
            users.append(
                User(
                    arn=u.arn,
                    name=u.name,
                    user_id=self.uid("AIDA"),
                    created=_date(rng),
                    inline_policies=tuple(inline),
                    managed_policy_arns=tuple(dict.fromkeys(managed)),
                    group_names=tuple(dict.fromkeys(groups)),
                    permissions_boundary_arn=boundary,
                    tags=tags,
                    access_keys=tuple(keys),
                    has_login_profile=kind in ("dev", "analyst", "contractor"),
                )
            )
        return users, broad, narrow


# ---------------------------------------------------------------------------------------------------------
# The organisation (``--org``): the account under root → ou-workloads → ou-prod, with the guardrails AWS
# documents ("SCP examples" and "Resource control policy examples", AWS Organizations User Guide; the RCP is
# the identity perimeter of aws-samples/data-perimeter-policy-examples).

ORG_ID = "o-a1b2c3d4e5"
MANAGEMENT_ACCOUNT = "333333333333"
ORG_ROOT = "r-a1b2"
OU_WORKLOADS = "ou-a1b2-wkld0001"
OU_PROD = "ou-a1b2-prod0001"
ORG_PATH = (ORG_ROOT, OU_WORKLOADS, OU_PROD, ACCOUNT)
# Roles the OU's IAM guardrail exempts (ArnNotLike on aws:PrincipalArn): the role Organizations creates for
# the management account's administrators, and the identity team's admin roles.
IAM_ADMIN_ROLES = [
    "arn:aws:iam::*:role/OrganizationAccountAccessRole",
    "arn:aws:iam::*:role/identity-admin-*",
]
# Global services exempted from the region guardrail (their endpoints are in us-east-1); abridged from the
# Organizations "Deny access to AWS based on the requested AWS Region" example.
GLOBAL_SERVICE_ACTIONS = [
    "a4b:*", "acm:*", "aws-marketplace-management:*", "aws-marketplace:*", "aws-portal:*", "budgets:*",
    "ce:*", "chime:*", "cloudfront:*", "config:*", "cur:*", "directconnect:*", "ec2:DescribeRegions",
    "ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways", "fms:*", "globalaccelerator:*", "health:*",
    "iam:*", "importexport:*", "kms:*", "mobileanalytics:*", "networkmanager:*", "organizations:*",
    "pricing:*", "route53:*", "route53domains:*", "s3:GetAccountPublic*", "s3:ListAllMyBuckets",
    "s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*", "shield:*", "sts:*", "support:*",
    "trustedadvisor:*", "waf-regional:*", "waf:*", "wafv2:*", "wellarchitected:*",
]  # fmt: skip
# Services the data-perimeter RCP covers (the ones RCPs support that the snapshot holds data of).
PERIMETER_ACTIONS = ["s3:*", "sts:AssumeRole", "kms:*", "secretsmanager:*"]


def _org_policy(pid: str, name: str, kind: str, document: JsonDoc, *targets: str) -> OrgPolicy:
    aws_managed = pid in ("p-FullAWSAccess", "p-RCPFullAWSAccess")
    folder = "service_control_policy" if kind == SCP else "resource_control_policy"
    arn = (
        f"arn:aws:organizations::aws:policy/{folder}/{pid}"
        if aws_managed
        else f"arn:aws:organizations::{MANAGEMENT_ACCOUNT}:policy/{ORG_ID}/{folder}/{pid}"
    )
    return OrgPolicy(
        policy_id=pid,
        arn=arn,
        name=name,
        type=kind,
        document=document,
        targets=targets,
        aws_managed=aws_managed,
    )


def organization() -> Organization:
    """The organisation ``--org`` adds (fixed: it needs no randomness, so it is the same for every seed)."""
    full_scp = _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    guardrails = _doc(
        {
            "Sid": "DenyLeavingTheOrganization",
            "Effect": "Deny",
            "Action": "organizations:LeaveOrganization",
            "Resource": "*",
        },
        {
            "Sid": "ProtectCloudTrail",
            "Effect": "Deny",
            "Action": ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail"],
            "Resource": "*",
        },
        {
            "Sid": "ProtectGuardDuty",
            "Effect": "Deny",
            "Action": [
                "guardduty:AcceptInvitation",
                "guardduty:ArchiveFindings",
                "guardduty:CreateIPSet",
                "guardduty:CreateThreatIntelSet",
                "guardduty:DeleteDetector",
                "guardduty:DeleteIPSet",
                "guardduty:DeleteMembers",
                "guardduty:DeleteThreatIntelSet",
                "guardduty:DisassociateFromMasterAccount",
                "guardduty:DisassociateMembers",
                "guardduty:StopMonitoringMembers",
                "guardduty:UpdateDetector",
            ],
            "Resource": "*",
        },
        {
            "Sid": "DenyOutsideApprovedRegions",
            "Effect": "Deny",
            "NotAction": GLOBAL_SERVICE_ACTIONS,
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(REGIONS)}},
        },
    )
    iam_guardrail = _doc(
        {
            "Sid": "DenyIamUsersAndKeysExceptAdmins",
            "Effect": "Deny",
            "Action": ["iam:CreateUser", "iam:CreateAccessKey"],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": IAM_ADMIN_ROLES}},
        }
    )
    full_rcp = _doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})
    perimeter = _doc(
        {
            "Sid": "EnforceOrgIdentities",
            "Effect": "Deny",
            "Principal": "*",
            "Action": PERIMETER_ACTIONS,
            "Resource": "*",
            "Condition": {
                "StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG_ID},
                "BoolIfExists": {"aws:PrincipalIsAWSService": "false"},
            },
        }
    )
    policies = (
        _org_policy("p-FullAWSAccess", "FullAWSAccess", SCP, full_scp, *ORG_PATH),
        _org_policy("p-g1rdr4il", "baseline-guardrails", SCP, guardrails, ORG_ROOT),
        _org_policy("p-1amw0rk1", "workloads-iam-guardrail", SCP, iam_guardrail, OU_WORKLOADS),
        _org_policy("p-RCPFullAWSAccess", "RCPFullAWSAccess", RCP, full_rcp, *ORG_PATH),
        _org_policy("p-per1m3t3", "data-perimeter-identities", RCP, perimeter, ORG_ROOT),
    )
    return Organization(
        org_id=ORG_ID,
        management_account_id=MANAGEMENT_ACCOUNT,
        arn=f"arn:aws:organizations::{MANAGEMENT_ACCOUNT}:organization/{ORG_ID}",
        account_paths={ACCOUNT: ORG_PATH},
        policies=policies,
        enabled_policy_types=(SCP, RCP),
    )


def generate(principals: int, datasets: int, policies: int, seed: int = 1, *, org: bool = False) -> Result:
    """Build (in memory) a synthetic snapshot and its benchmark subjects; deterministic for ``seed``.

    ``org`` adds ``organization()`` and nothing else: the principals, policies and datasets are the same
    as without it (the organisation draws nothing from the seeded generator).
    """
    result = _Generator(principals, datasets, policies, seed).build()
    if org:
        snapshot = dataclasses.replace(
            result.snapshot,
            organization=organization(),
            services={**result.snapshot.services, "organizations": "ok"},
        )
        result = dataclasses.replace(result, snapshot=snapshot)
    return result


def write(
    principals: int, datasets: int, policies: int, out: Path, seed: int = 1, *, org: bool = False
) -> dict[str, Any]:
    """Generate and write the snapshot to ``out`` (mode 0600); return the stdout summary."""
    result = generate(principals, datasets, policies, seed, org=org)
    out.parent.mkdir(parents=True, exist_ok=True)
    dump_snapshot(result.snapshot, out)
    snap = result.snapshot
    return {
        "snapshot": str(out),
        "broad_keys": result.broad_keys,
        "narrow_keys": result.narrow_keys,
        "principals": len(snap.users) + len(snap.roles),
        "datasets": len(snap.datasets),
        "policies": sum(1 for p in snap.managed_policies if not p.aws_managed),
        "seed": seed,
        # Only with --org, so that the summary (and bench.py's cached metadata) is unchanged without it.
        **({"organization": snap.organization.org_id} if snap.organization is not None else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--principals", type=int, required=True, help="users + roles (about 30%% users)")
    parser.add_argument("--datasets", type=int, required=True, help="S3/DynamoDB/secrets/SSM/KMS datasets")
    parser.add_argument("--policies", type=int, required=True, help="customer managed policies")
    parser.add_argument("--out", type=Path, required=True, help="snapshot file to write (mode 0600)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--org",
        action="store_true",
        help="also add an AWS Organization with SCP and RCP guardrails (off by default)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        summary = write(args.principals, args.datasets, args.policies, args.out, args.seed, org=args.org)
    except ValueError as e:
        parser.error(str(e))
    print(f"synth: wrote {args.out} in {time.perf_counter() - start:.2f}s", file=sys.stderr)
    json.dump(summary, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
