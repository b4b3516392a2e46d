"""The test moto HTTP server (conftest ``_moto_server``) answers an operation moto lacks with a final error.

botocore retries HTTP 500 as a transient error, with exponential backoff, up to the configured attempts
("Retry behavior", AWS SDKs and Tools Reference Guide: transient errors are 500, 502, 503 and 504); 501 is
not among them. moto's server answers a missing operation with a 500, which cost every end-to-end test about
16 s of backoff for CloudTrail LookupEvents alone; the fixture answers it with ``501 NotImplemented`` instead.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from blastradius.aws import client_config


def _not_implemented(moto_server: str, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
    client = boto3.client(
        service, endpoint_url=moto_server, region_name="us-east-1", config=client_config(service, moto_server)
    )
    with pytest.raises(ClientError) as caught:
        getattr(client, operation)(**kwargs)
    return caught.value.response


@pytest.mark.parametrize(
    ("service", "operation", "kwargs"),
    [
        ("cloudtrail", "lookup_events", {}),  # JSON protocol
        ("sts", "decode_authorization_message", {"EncodedMessage": "x"}),  # query protocol, XML errors
    ],
)
def test_operation_moto_lacks_is_a_final_not_implemented_error_not_a_retried_500(
    moto_server: str, service: str, operation: str, kwargs: dict[str, Any]
) -> None:
    response = _not_implemented(moto_server, service, operation, **kwargs)
    assert response["Error"]["Code"] == "NotImplemented"
    assert "has not been implemented" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    # blastradius's own retry configuration (adaptive, 10 attempts) does not retry it.
    assert response["ResponseMetadata"]["RetryAttempts"] == 0


def test_implemented_operations_are_answered_as_before(moto_server: str) -> None:
    sts = boto3.client("sts", endpoint_url=moto_server, region_name="us-east-1")
    assert sts.get_caller_identity()["Account"] == "123456789012"
