"""Shared fixtures: moto's documented fake credentials, in-process moto, and a moto HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any
from xml.sax.saxutils import escape as xml_escape

import pytest

WSGIApp = Callable[[dict[str, Any], Any], Any]

MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class _PathsOnce(list[str]):
    """A loader's search paths where appending a path already there changes nothing (every
    ``boto3.Session`` appends boto3's resource-model folder to its loader)."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


_SHARED_LOADERS: dict[str | None, Any] = {}


def _shared_create_loader(search_path_string: str | None = None) -> Any:
    """``botocore.loaders.create_loader``, one loader per data path for the whole test process."""
    from botocore.loaders import create_loader

    loader = _SHARED_LOADERS.get(search_path_string)
    if loader is None:
        loader = _SHARED_LOADERS[search_path_string] = create_loader(search_path_string)
        loader._search_paths = _PathsOnce(loader.search_paths)
    return loader


@pytest.fixture(scope="session", autouse=True)
def _one_model_loader() -> Iterator[None]:
    """Every botocore session of the test process reads service models through one loader.

    Each ``boto3.Session`` otherwise parses the JSON model of every service it makes a client for again
    (IAM, S3, DynamoDB…: tens of milliseconds each, EC2 far more), and the tests make thousands of
    sessions: the account builders, moto, the demo. This is what blastradius does for its own sessions
    (``aws._share_loader``), which keeps its own loader and is unaffected; the models are read-only data.
    A test of that sharing restores botocore's own ``create_loader`` (``test_multi_account.py``).
    """
    import botocore.session

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(botocore.session, "create_loader", _shared_create_loader)
        yield


@pytest.fixture(scope="session", autouse=True)
def _no_default_amis() -> Iterator[None]:
    """moto's EC2 backend otherwise builds its catalogue of public AMIs (thousands of images) in every
    region it is used in, after every reset: ~20 s of the suite's CPU. No test lists images, and
    run_instances does not check its ImageId unless MOTO_ENABLE_AMI_VALIDATION is set. Session-scoped, so
    that module-scoped accounts (built before any function-scoped fixture) get it too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        yield


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


def answer_not_implemented(app: WSGIApp) -> WSGIApp:
    """``app`` answering moto's ``NotImplementedError`` as a final ``501 NotImplemented`` error.

    The moto server answers an operation it lacks (CloudTrail ``LookupEvents``, which every ``analyze``
    calls) with ``500 Internal Server Error``. botocore's standard and adaptive retry modes treat a 500
    as transient and retry it with exponential backoff ("Retry behavior", AWS SDKs and Tools Reference
    Guide): ten attempts, about 16 s of sleeping per call, in every end-to-end test. A 501 with the
    error code ``NotImplemented`` is not retried, and is the very error blastradius already records for
    the in-process ``NotImplementedError`` (``collect.cloudtrail._not_implemented``): a gap, "could not
    look", exactly as before, only without the backoff.
    """

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        try:
            return app(environ, start_response)
        except NotImplementedError as e:
            message = str(e)
            if "json" in environ.get("CONTENT_TYPE", ""):
                body = json.dumps({"__type": "NotImplemented", "message": message}).encode()
                content_type = "application/x-amz-json-1.1"
            else:
                body = (
                    "<ErrorResponse><Error><Code>NotImplemented</Code>"
                    f"<Message>{xml_escape(message)}</Message></Error></ErrorResponse>"
                ).encode()
                content_type = "text/xml"
            start_response(
                "501 Not Implemented",
                [
                    ("Content-Type", content_type),
                    ("Content-Length", str(len(body))),
                    ("x-amzn-ErrorType", "NotImplemented"),
                ],
            )
            return [body]

    return wrapped


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[str]:
    """One moto HTTP server per test process (xdist worker), on a free port of 127.0.0.1.

    Built like moto's ``ThreadedMotoServer`` (werkzeug ``make_server`` around moto's dispatcher and
    request handler), with :func:`answer_not_implemented` around the application.
    """
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = answer_not_implemented(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        thread.join()


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
