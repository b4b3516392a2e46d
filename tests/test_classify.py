"""Sensitivity: named like the datasets a responder meets, checked against the shipped sensitivity.toml."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from blastradius.classify import Classification, classifier_for, classify, tokens
from blastradius.model import Dataset
from blastradius.rules import SENSITIVITY_PACK, load_rules

RULES = load_rules()


def dataset(
    name: str,
    type: str = "dynamodb-table",
    *,
    fields: tuple[str, ...] = (),
    keys: tuple[str, ...] = (),
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    details: Mapping[str, str] | None = None,
) -> Dataset:
    return Dataset(
        arn=f"arn:aws:test:::{name}",
        type=type,
        name=name,
        account_id="123456789012",
        region="us-east-1",
        field_names=fields,
        object_keys_sample=keys,
        tags=tags or {},
        description=description,
        details=details or {},
    )


def test_customers_table_with_email_is_high() -> None:
    c = classify(dataset("tconnect-customers", fields=("customer_number", "email", "created_at")), RULES)
    assert c.sensitivity == "high"
    assert {"attribute email", "attribute customer_number"} <= set(c.reasons)
    assert c.sensitive_fields == ("customer_number", "email")
    assert c.personal_data and not c.credential_pivot


@pytest.mark.parametrize(
    ("case", "ds", "level", "reason"),
    [
        ("card_does_not_match_discard", dataset("discard-queue", fields=("discarded_at",)), "none", None),
        ("cardinal_is_not_a_card", dataset("cardinality-stats", fields=("cardinality",)), "none", None),
        ("cards_plural_is_a_card", dataset("inventory", fields=("cards",)), "high", "attribute cards"),
        (
            "credit_card_attribute",
            dataset("inventory", fields=("creditCardNumber",)),
            "high",
            "attribute creditCardNumber",
        ),
        (
            "camel_case_customer_number",
            dataset("t", fields=("customerNumber",)),
            "high",
            "attribute customerNumber",
        ),
        (
            "pascal_case_customer_number",
            dataset("t", fields=("CustomerNumber",)),
            "high",
            "attribute CustomerNumber",
        ),
        (
            "kebab_case_customer_number",
            dataset("t", fields=("customer-number",)),
            "high",
            "attribute customer-number",
        ),
        ("e_mail_with_underscore", dataset("t", fields=("e_mail",)), "high", "attribute e_mail"),
        ("upper_case_ssn", dataset("t", fields=("SSN",)), "high", "attribute SSN"),
        ("address_plural", dataset("t", fields=("addresses",)), "high", "attribute addresses"),
        (
            "product_catalog_is_nothing",
            dataset("product-catalog", fields=("sku", "price", "title")),
            "none",
            None,
        ),
        (
            "tag_pii_is_high",
            dataset("exports", "s3-bucket", tags={"data-classification": "pii"}),
            "high",
            "tag data-classification=pii",
        ),
        (
            "tag_key_spelled_camel_case",
            dataset("x", "s3-bucket", tags={"DataClassification": "Confidential"}),
            "high",
            "tag DataClassification=Confidential",
        ),
        (
            "tag_internal_is_low",
            dataset("x", "s3-bucket", tags={"data-classification": "internal"}),
            "low",
            "tag data-classification=internal",
        ),
        (
            "tag_public_is_none_but_says_why",
            dataset("x", "s3-bucket", tags={"data-classification": "public"}),
            "none",
            "tag data-classification=public",
        ),
        ("payments_table_by_name", dataset("payments"), "high", "name contains 'payment'"),
        ("users_bucket_by_name", dataset("acme-users", "s3-bucket"), "high", "name contains 'user'"),
        (
            "customer_export_csv_in_sample",
            dataset("misc", "s3-bucket", keys=("readme.md", "exports/customers-2022.csv")),
            "high",
            "object exports/customers-2022.csv",
        ),
        (
            "sql_dump_in_sample",
            dataset("misc", "s3-bucket", keys=("backup/db-2022-09-14.sql.gz",)),
            "high",
            "object backup/db-2022-09-14.sql.gz looks like a database dump",
        ),
        (
            "backup_folder_is_medium",
            dataset("misc", "s3-bucket", keys=("backup/app.tar",)),
            "medium",
            "object backup/app.tar",
        ),
        (
            "securestring_parameter",
            dataset("/app/flag", "ssm-parameter", details={"type": "SecureString"}),
            "medium",
            "SecureString parameter",
        ),
        ("kms_key_is_low", dataset("alias/data", "kms-key"), "low", "KMS key: decrypts the data it protects"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_sensitivity_table(case: str, ds: Dataset, level: str, reason: str | None) -> None:
    c = classify(ds, RULES)
    assert c.sensitivity == level, c
    if reason is None:
        assert c.reasons == ()
    else:
        assert reason in c.reasons


@pytest.mark.parametrize(
    ("case", "ds"),
    [
        ("db_password_secret", dataset("prod/db-password", "secretsmanager-secret")),
        ("api_key_parameter", dataset("/payments/stripe/apiKey", "ssm-parameter")),
        ("token_in_description", dataset("misc", "secretsmanager-secret", description="GitHub token for CI")),
        ("tagged_as_credential", dataset("x", "ssm-parameter", tags={"purpose": "database credentials"})),
        ("access_key_parameter", dataset("/ci/AWS_ACCESS_KEY_ID", "ssm-parameter")),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_credentials_are_at_least_medium_and_a_pivot(case: str, ds: Dataset) -> None:
    c = classify(ds, RULES)
    assert c.sensitivity in ("medium", "high")
    assert c.credential_pivot


def test_plain_secret_is_medium_without_pivot() -> None:
    c = classify(dataset("feature-x", "secretsmanager-secret"), RULES)
    assert (c.sensitivity, c.credential_pivot, c.reasons) == ("medium", False, ("Secrets Manager secret",))


def test_terraform_state_in_a_bucket_is_a_credential_pivot() -> None:
    c = classify(dataset("infra", "s3-bucket", keys=("envs/prod/terraform.tfstate",)), RULES)
    assert c.sensitivity == "high" and c.credential_pivot


def test_name_rules_respect_dataset_types() -> None:
    # "customer" in a secret's name does not make the secret hold customer data.
    c = classify(dataset("customer-portal/feature-flags", "secretsmanager-secret"), RULES)
    assert "name contains 'customer'" not in c.reasons


def test_reasons_strongest_first_then_alphabetical_and_unique() -> None:
    c = classify(
        dataset("prod-orders", fields=("email", "email", "order_id", "phone"), tags={"env": "prod"}), RULES
    )
    assert c.reasons == (
        "attribute email",
        "attribute phone",
        "name contains 'order'",
        "name contains 'prod'",
    )
    assert c.sensitive_fields == ("email", "phone")


def test_tokens_split_case_separators_and_digits() -> None:
    assert tokens("APIKey") == ("api", "key")
    assert tokens("prod/db-password") == ("prod", "db", "password")
    assert tokens("customerID2") == ("customer", "id", "2")


def test_override_pack_is_used_for_classification(tmp_path: Path) -> None:
    (tmp_path / SENSITIVITY_PACK).write_text(
        '[[rule]]\nid = "crown"\non = "name"\nterms = ["crown jewels"]\nlevel = "high"\n'
        'reason = "name says {term}"\npersonal_data = true\n',
        encoding="utf-8",
    )
    rules = load_rules(tmp_path)
    assert classify(dataset("CrownJewels"), rules) == Classification(
        sensitivity="high",
        reasons=("name says crown jewels",),
        credential_pivot=False,
        sensitive_fields=(),
        personal_data=True,
    )
    assert classify(dataset("customers"), rules).sensitivity == "none"


def test_rules_compile_once_per_rule_set() -> None:
    assert classifier_for(RULES) is classifier_for(RULES)


def test_twenty_thousand_datasets_classify_quickly() -> None:
    # The benchmark runs 100,000; this keeps the unit suite fast while catching an accidental O(rules)
    # scan per token. The bound is generous for loaded CI machines.
    fields = ("id", "email", "created_at", "customerId", "status", "payload")
    data = [
        dataset(
            f"svc-{i}-orders-events",
            "dynamodb-table" if i % 2 else "s3-bucket",
            fields=fields if i % 2 else (),
            tags={"env": "prod", "team": "core", "data-classification": "internal"},
        )
        for i in range(20_000)
    ]
    classifier = classifier_for(RULES)
    start = time.process_time()
    results = [classifier.classify(d) for d in data]
    elapsed = time.process_time() - start
    assert {r.sensitivity for r in results} == {"high", "medium"}
    assert elapsed < 2.0, f"{elapsed:.2f}s for 20,000 datasets"
