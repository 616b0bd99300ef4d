"""Product models in the database: one immutable row per (product, version).

A version stores the model's `source` (the whole model as plain data, table files inlined by
the loader), so it can be rebuilt without the original file. Versions never change once
loaded, which is what makes it safe to cache built models, and the engines compiled from
them, by content digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, select

from catalog.loader import PRODUCT_RE, load_model_dict, load_model_file
from catalog.model import ProductModel
from catalog.pricebook import KIND as PRICE_BOOK
from catalog.pricebook import PriceBook, load_price_book_dict, load_price_book_file
from core.db import Table, forbid_updates, utcnow
from core.errors import NotFound, VersionConflict
from core.settings import DEFAULT_DEMO_DIR
from core.validation import MAX_INTEGER
from core.cache import LruCache
from core.versioned import DocumentVersion, built, is_newest, save_document




class ProductRecord(Table, table=True):
    """A product code; name and description follow its latest loaded version."""

    __tablename__ = "product"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=100, unique=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class ModelVersion(Table, table=True):
    """One loaded model version; written once, never updated."""

    __tablename__ = "model_version"
    __table_args__ = (sa.UniqueConstraint("product", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    product: str = Field(max_length=100, foreign_key="product.code")
    version: int
    digest: str = Field(max_length=64)
    source: dict = Field(sa_type=JSON)
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


forbid_updates(ModelVersion)


@dataclass(frozen=True)
class ProductSummary:
    product: str
    name: str
    description: str
    versions: tuple[int, ...]

    @property
    def latest_version(self) -> int | None:
        return self.versions[-1] if self.versions else None


def save_model(session: Session, model: ProductModel) -> ModelVersion:
    """Store a model version. Loading the same content again is a no-op (returns the row);
    the same version with other content raises VersionConflict."""
    existing = find_version(session, model.product, model.version)
    if existing is not None:
        if existing.digest == model.digest:
            return existing
        raise VersionConflict(
            f"{model.product} version {model.version} is already loaded with different content;"
            " give the changed model a new version number")
    record = session.exec(select(ProductRecord).where(ProductRecord.code == model.product)).first()
    if record is None:
        session.add(ProductRecord(code=model.product, name=model.name, description=model.description))
        session.flush()  # the version row references the product code
    elif model.version > max(_versions(session, model.product), default=0):
        record.name, record.description = model.name, model.description
    row = ModelVersion(product=model.product, version=model.version, digest=model.digest,
                       source=_plain(model.source))
    session.add(row)
    session.flush()
    return row


def get_model(session: Session, product: str, version: int | None = None) -> ProductModel:
    """The model of a stored version (the latest when `version` is None); raises NotFound."""
    if not PRODUCT_RE.match(product):  # also keeps NUL bytes and the like away from the database
        raise NotFound(f"unknown product {product!r}")
    if version is not None and not 1 <= version <= MAX_INTEGER:
        raise NotFound(f"product {product!r} has no version {version}")
    # The digest names the built model in the cache; the source (large JSON) is read only to build it.
    # A configure request is little more than this read: built once, run on the session's connection
    # (versions are flushed as they are saved, so nothing waits for an autoflush).
    if version is None:
        found = session.connection().execute(_LATEST, {"product": product}).first()
    else:
        found = session.connection().execute(_VERSION, {"product": product, "version": version}).first()
    if found is None:
        if version is None or not _product_exists(session, product):
            raise NotFound(f"unknown product {product!r}")
        raise NotFound(f"product {product!r} has no version {version}")
    number, digest = found
    return _BUILT.get((product, number, digest), lambda: load_model_dict(
        find_version(session, product, number).source, file=f"{product} version {number}"))


_VERSIONS = select(ModelVersion.version, ModelVersion.digest).where(ModelVersion.product == sa.bindparam("product"))
_LATEST = _VERSIONS.order_by(ModelVersion.version.desc()).limit(1)
_VERSION = _VERSIONS.where(ModelVersion.version == sa.bindparam("version"))


def find_version(session: Session, product: str, version: int) -> ModelVersion | None:
    """The stored row of one version, or None."""
    return session.exec(select(ModelVersion).where(ModelVersion.product == product,
                                                   ModelVersion.version == version)).first()


def list_products(session: Session) -> list[ProductSummary]:
    versions: dict[str, list[int]] = {}
    for code, number in session.exec(select(ModelVersion.product, ModelVersion.version)
                                     .order_by(ModelVersion.version)):
        versions.setdefault(code, []).append(number)
    return [ProductSummary(r.code, r.name, r.description, tuple(versions.get(r.code, ())))
            for r in session.exec(select(ProductRecord).order_by(ProductRecord.code))]


def load_demo_catalog(session: Session, directory: str | Path = DEFAULT_DEMO_DIR) -> list[ModelVersion]:
    """Load every `*.yaml` model in `directory` (idempotent, like `save_model`)."""
    paths = sorted(Path(directory).glob("*.yaml"))
    if not paths:
        raise NotFound(f"no *.yaml model files in {directory}")
    return [save_model(session, load_model_file(path)) for path in paths]


def _versions(session: Session, product: str) -> list[int]:
    return list(session.exec(select(ModelVersion.version).where(ModelVersion.product == product)))


def _product_exists(session: Session, product: str) -> bool:
    return session.exec(select(ProductRecord.id).where(ProductRecord.code == product)).first() is not None


def _plain(source) -> dict:
    """JSON-safe copy of a model source, converted exactly as the digest was computed."""
    return json.loads(json.dumps(source, default=str))


# Built models are immutable and versions never change, so a process keeps the last few.
_BUILT: LruCache[ProductModel] = LruCache()


# price books ---------------------------------------------------------------------------------
_BOOKS: LruCache[PriceBook] = LruCache()


def save_price_book(session: Session, book: PriceBook, activate: bool = False) -> DocumentVersion:
    return save_document(session, PRICE_BOOK, book.name, book.version, book.digest, book.source, activate)


def get_price_book(session: Session, name: str, version: int | None = None) -> PriceBook:
    """A stored price book (the active version when `version` is None); raises NotFound."""
    return built(session, _BOOKS, PRICE_BOOK, name, version, load_price_book_dict)


def load_demo_price_books(session: Session, directory: str | Path = DEFAULT_DEMO_DIR) -> list[DocumentVersion]:
    books = [load_price_book_file(path) for path in sorted(Path(directory, "pricebooks").glob("*.yaml"))]
    return [save_price_book(session, book, activate=is_newest(session, PRICE_BOOK, book.name, book.version))
            for book in books]
