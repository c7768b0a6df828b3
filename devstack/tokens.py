"""Dev bearer tokens: an RS256 key the stack generates and keeps, and the JWT checks the HTTP API's authorizer makes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# The issuer and audience of tokens made without a stack (the local stack's are its program's authorizer's).
ISSUER = "https://devstack.session-uploads.local/"
AUDIENCE = "session-uploads"
DEFAULT_TTL_SECONDS = 12 * 3600
KEY_FILE = "jwt-signing-key.pem"
DEFAULT_STATE_DIR = Path(".devstack")  # the key and the endpoints of the running stack
ENDPOINTS_FILE = "endpoints.json"  # in the state directory: what a running stack serves where
DEV_USER = "dev-user"


class DevKey:
    """The stack's signing key, created once per state directory and reused, so tokens outlive a restart."""

    def __init__(self, private_key: rsa.RSAPrivateKey):
        self._private = private_key
        self._public = private_key.public_key()

    @classmethod
    def load_or_create(cls, state_dir: Path) -> DevKey:
        path = Path(state_dir) / KEY_FILE
        if path.exists():
            return cls.load(state_dir)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # a signing key is nobody else's to read
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return cls(key)

    @classmethod
    def load(cls, state_dir: Path) -> DevKey:
        path = Path(state_dir) / KEY_FILE
        if not path.exists():
            raise FileNotFoundError(f"no dev signing key at {path}: start the stack first (make dev)")
        return cls(serialization.load_pem_private_key(path.read_bytes(), password=None))

    def token(self, user: str, ttl_seconds: int = DEFAULT_TTL_SECONDS, issuer: str = ISSUER,
              audience: str = AUDIENCE, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": issuer, "aud": audience, "sub": user, "iat": now, "exp": now + ttl_seconds} | claims
        return jwt.encode(payload, self._private, algorithm="RS256")

    def verify(self, authorization: str | None, issuer: str = ISSUER,
               audiences: tuple[str, ...] = (AUDIENCE,)) -> dict[str, Any] | None:
        """The claims of a valid `Bearer <JWT>` header, as a JWT authorizer of `issuer` and `audiences` passes them on;
        None when not valid."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        try:
            claims = jwt.decode(
                token.strip(),
                self._public,
                algorithms=["RS256"],
                audience=list(audiences),
                issuer=issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError:
            return None
        return {name: _as_claim(value) for name, value in claims.items()}


def _as_claim(value: Any) -> str:
    """API Gateway hands every claim to the Lambda as a string; arrays as `[a b]`."""
    if isinstance(value, list):
        return "[" + " ".join(str(item) for item in value) + "]"
    return value if isinstance(value, str) else str(value)
