"""The server's token: made once, kept in a file only its owner can read, checked on every call.

Every API call carries it as ``Authorization: Bearer TOKEN``: a header, which a page of another
site cannot make a browser send, so a cross-site page can neither read the API nor trigger a
control. A WebSocket (whose browser API cannot set headers) sends it as its first message.
Rejected requests are counted and logged with their path and address, never with the token.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

TOKEN_FILE = "token"  # noqa: S105 - the file name, not a token


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """Return the token in ``path`` (made, mode 0600, when missing) and whether it was new.

    An existing file that others can read is refused: the token would not be a secret.
    """
    if path.exists():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PermissionError(
                f"{path} can be read by others (mode {stat.filemode(mode)}): chmod 600 it, or "
                "delete it for a new token"
            )
        token = path.read_text().strip()
        if len(token) < 16:
            raise ValueError(f"{path} holds no usable token (delete it for a new one)")
        return token, False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def bearer(header: str | None) -> str:
    """Return the token of an ``Authorization: Bearer ...`` header ("" when there is none)."""
    if not header:
        return ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def token_matches(given: str, token: str) -> bool:
    """Compare in constant time (no timing hint of how much of a guess was right)."""
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())
