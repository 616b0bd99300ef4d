"""Saved configurations: validated selections pinned to the model version they were made on.

Rows are written once and never updated, so a saved configuration (and anything later built
from it, such as a quote) always means what it meant when it was saved.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Mapping

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session

from catalog import store as catalog
from catalog.model import ProductModel
from core.db import Table, forbid_updates, utcnow
from configurator.encode import EncodingError
from configurator.engine import MAX_MODELS, InvalidConfiguration, get_configurator
from core.errors import NotFound
from core.tokens import new_id


ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SavedConfiguration(Table, table=True):
    __tablename__ = "configuration"
    __table_args__ = (
        sa.ForeignKeyConstraint(["product", "model_version"],
                                ["model_version.product", "model_version.version"]),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    product: str = Field(max_length=100, index=True)
    model_version: int
    selections: dict = Field(sa_type=JSON)
    assignment: dict | None = Field(default=None, sa_type=JSON)  # every attribute, when complete
    complete: bool
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


forbid_updates(SavedConfiguration)


def save_configuration(session: Session, model: ProductModel,
                       selections: Mapping[str, object]) -> SavedConfiguration:
    """Validate `selections` against a stored model version and save them.

    Raises SelectionError for unknown attributes or values and InvalidConfiguration when the
    selections violate the rules. Incomplete configurations may be saved (`complete` False).
    """
    result = get_configurator(model).configure(selections)
    if not result.valid:
        raise InvalidConfiguration(result.conflicts)
    row = SavedConfiguration(product=model.product, model_version=model.version,
                             selections=dict(result.selections),
                             assignment=result.assignment() if result.complete else None,
                             complete=result.complete)
    session.add(row)
    session.flush()
    return row


def get_configuration(session: Session, configuration_id: str) -> SavedConfiguration:
    row = session.get(SavedConfiguration, configuration_id) if ID_RE.match(configuration_id) else None
    if row is None:
        raise NotFound(f"unknown configuration {configuration_id!r}")
    return row


def compile_latest_models(session: Session) -> list[str]:
    """Compile every product's latest model version into the configurator cache (at most as many
    as it holds) and return the products compiled. A server worker does this before serving, so
    its first configure request is not the slow one and what compiling makes (about 93,000
    clause lists for the demo rack server) is there before the worker freezes its objects out of
    the garbage collector's sight. The cache is keyed by content digest: a version saved later
    is compiled by its first request, as before. A model that cannot be compiled is left to
    its requests, which answer with the error."""
    compiled = []
    for summary in catalog.list_products(session)[:MAX_MODELS]:
        if not summary.versions:
            continue
        try:
            get_configurator(catalog.get_model(session, summary.product))
        except EncodingError:
            continue
        compiled.append(summary.product)
    return compiled
