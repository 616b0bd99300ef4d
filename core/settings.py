"""Process settings, read once from the environment into an immutable value."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The checkout root. The project is installed editable (``make``), so this is the work tree.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'cpq.db'}"
DEFAULT_DEMO_DIR = PROJECT_ROOT / "catalog" / "demo"

# Only good for local development: it signs sessions/CSRF tokens, so anyone who knows it
# can forge them. Set SECRET_KEY in any shared or deployed environment.
DEV_SECRET_KEY = "cpq-dev-insecure-secret-key"


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a running process.

    Frozen so that one value can be handed to the app, the CLI and tests without anyone
    mutating shared state; use ``dataclasses.replace`` to derive a variant.
    """

    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = DEV_SECRET_KEY
    demo_dir: Path = DEFAULT_DEMO_DIR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``DATABASE_URL``, ``SECRET_KEY`` and ``CPQ_DEMO_DIR``.

        Empty variables count as unset, so ``DATABASE_URL= make run`` means the default.
        """
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            secret_key=env.get("SECRET_KEY") or DEV_SECRET_KEY,
            demo_dir=Path(env.get("CPQ_DEMO_DIR") or DEFAULT_DEMO_DIR).resolve(),
        )
