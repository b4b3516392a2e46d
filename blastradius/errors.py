"""One exception hierarchy for the whole tool; the CLI catches ``BlastRadiusError`` once.

Every error carries a one-paragraph diagnosis (what happened, where, what to do next). Library
errors (botocore, json, tomllib) are translated at the edge with ``raise ... from e``. No message
ever contains a secret access key: credentials are never passed to an exception constructor.
"""

from __future__ import annotations


class BlastRadiusError(Exception):
    """Base error: ``str(e)`` is the short message, ``diagnostics()`` the paragraph for humans."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def diagnostics(self) -> str:
        """The message followed by what to do about it."""
        text = str(self)
        return f"{text}\n{self.hint}" if self.hint else text


class UsageError(BlastRadiusError):
    """Bad command-line input (e.g. a malformed key id)."""


class KeyFormatError(UsageError):
    """An access key id that is neither an AKIA (long-term) nor an ASIA (session) key."""


class IdentifyError(BlastRadiusError):
    """The key's owner could not be established (another account, unknown key, ...)."""


class CollectionError(BlastRadiusError):
    """Collection cannot produce anything useful (no credentials, expired credentials, ...)."""


class SnapshotError(BlastRadiusError):
    """A snapshot file is not JSON, truncated, of an unknown/newer schema, or has a malformed field."""


class PolicyError(BlastRadiusError):
    """A policy document (IAM JSON or a rule pack) is malformed; the message names policy and statement."""


class RulePackError(PolicyError):
    """A TOML rule pack in ``policies/`` is malformed; the message names file, line and field."""


class RemediationError(BlastRadiusError):
    """A remediation step failed; the message says what was and was not done."""
