"""Encryption at rest for secret environment variable values."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken

from tarmac.errors import SecretUndecryptable

KEY_FILE_NAME = "secret.key"


class SecretBox:
    """Encrypts and decrypts secret values with one installation key (Fernet: AES + HMAC)."""

    def __init__(self, key_material: str) -> None:
        # Any string is accepted as TARMAC_SECRET_KEY; derive a proper Fernet key from it.
        digest = hashlib.sha256(key_material.encode("utf-8")).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretUndecryptable(
                "A stored secret cannot be decrypted: was TARMAC_SECRET_KEY changed?"
            ) from None


class StoredEnvVar(Protocol):
    key: str
    value: str
    is_secret: bool


def decrypted_env(env_vars: Iterable[StoredEnvVar], secrets: SecretBox) -> dict[str, str]:
    """The Deployment's environment variables as the runtime sees them, secrets decrypted.

    Raises ``SecretUndecryptable`` naming the variable whose secret the key no longer opens.
    """
    env = {}
    for var in env_vars:
        try:
            env[var.key] = secrets.decrypt(var.value) if var.is_secret else var.value
        except SecretUndecryptable:
            raise SecretUndecryptable(
                f"The secret environment variable {var.key} cannot be decrypted with this"
                " installation's key (was TARMAC_SECRET_KEY changed?). Restore the key, or set"
                " the variable again.",
                key=var.key,
            ) from None
    return env


def load_secret_box(*, secret_key: str | None, data_dir: Path) -> SecretBox:
    """The key from TARMAC_SECRET_KEY, else one generated once into the data dir (mode 0600)."""
    if secret_key:
        return SecretBox(secret_key)
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fresh = Fernet.generate_key().decode("ascii")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first; use theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(fresh)
                handle.flush()
                os.fsync(handle.fileno())
    return SecretBox(path.read_text().strip())
