"""Shared fixtures: moto's documented fake credentials, in-process moto, and a moto HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach real AWS or read the developer's profiles: fake credentials, empty config."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_DEFAULT_PROFILE", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    for k, v in MOTO_CREDENTIALS.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def moto() -> Iterator[None]:
    """In-process moto (``mock_aws``)."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_server(_moto_server: str) -> Iterator[str]:
    """A real moto HTTP server on 127.0.0.1 (reset before each test); yields its endpoint URL."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{_moto_server}/moto-api/reset", method="POST")).close()
    yield _moto_server


def pytest_configure(config: pytest.Config) -> None:
    # Werkzeug's request log of the moto server would drown the test output.
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
