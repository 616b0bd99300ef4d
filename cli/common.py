"""What every `cpq` command family shares: the database session, and `--json` output."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Iterator

import click
from sqlmodel import Session

from core.db import create_engine, session_scope
from core.settings import Settings


@contextmanager
def database() -> Iterator[Session]:
    engine = create_engine(Settings.from_env().database_url)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (as the API does).")
