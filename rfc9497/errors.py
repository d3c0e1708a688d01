"""Errors raised by the OPRF implementation (RFC 9497 section 5.2 names the failure kinds)."""

from __future__ import annotations


class OprfError(ValueError):
    """Base class of every error this package raises on bad input or a failed check."""


class InvalidElementError(OprfError):
    """An element encoding that is not 32 bytes, not canonical, not on the group, or the
    identity (RFC 9497 section 2.1, DeserializeElement). `index` is its position in a batch,
    when there is one."""

    index: int | None
    reason: str

    def __init__(self, reason: str, index: int | None = None) -> None:
        # Both values go into args so that the exception survives pickling (process pools).
        super().__init__(reason, index)
        self.reason = reason
        self.index = index

    def __str__(self) -> str:
        where = "element" if self.index is None else f"element {self.index}"
        return f"{where}: {self.reason}"


class InvalidScalarError(OprfError):
    """A scalar that is not 32 bytes, not reduced modulo the group order, or zero where the
    protocol needs a non-zero one (RFC 9497 section 2.1, DeserializeScalar)."""


class VerifyError(OprfError):
    """The server's batched DLEQ proof does not verify (RFC 9497 section 3.3.2, VerifyError)."""
