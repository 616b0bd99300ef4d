"""Versioned documents (price books, rule sets): immutable versions, one active per name.

A document version stores its whole `source` as plain data and is never changed, so what a
quote was priced with can always be read back. Activation is a separate row per (kind, name)
that points at one version: loading a new version changes nothing until it is activated
(the first version of a name is activated when it is loaded), and pricing picks the new
active version on its next request, without a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, TypeVar

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, select

from core.cache import LruCache
from core.db import Table, find_row, forbid_updates, utcnow
from core.errors import NotFound, VersionConflict
from core.validation import MAX_INTEGER

T = TypeVar("T")


class DocumentVersion(Table, table=True):
    __tablename__ = "document_version"
    __table_args__ = (sa.UniqueConstraint("kind", "name", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    name: str = Field(max_length=100)
    version: int
    digest: str = Field(max_length=64)
    source: dict = Field(sa_type=JSON)
    loaded_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


forbid_updates(DocumentVersion)


class ActiveDocument(Table, table=True):
    __tablename__ = "active_document"

    kind: str = Field(max_length=32, primary_key=True)
    name: str = Field(max_length=100, primary_key=True)
    version: int
    activated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


@dataclass(frozen=True)
class DocumentSummary:
    name: str
    versions: tuple[int, ...]
    active: int | None


def save_document(session: Session, kind: str, name: str, version: int, digest: str,
                  source: dict, activate: bool = False) -> DocumentVersion:
    """Store a version. The same content again is a no-op; the same version with other
    content raises VersionConflict. The first version of a name becomes active."""
    existing = find_document(session, kind, name, version)
    if existing is not None:
        if existing.digest != digest:
            raise VersionConflict(f"{kind.replace('_', ' ')} {name} version {version} is already loaded "
                                  "with different content; give the changed file a new version number")
        row = existing
    else:
        row = DocumentVersion(kind=kind, name=name, version=version, digest=digest,
                              source=json.loads(json.dumps(source, default=str)))
        session.add(row)
        session.flush()
    if activate or session.get(ActiveDocument, (kind, name)) is None:
        activate_document(session, kind, name, version)
    return row


def activate_document(session: Session, kind: str, name: str, version: int) -> None:
    session.info.pop(_KNOWN, None)
    if find_document(session, kind, name, version) is None:
        raise NotFound(f"{kind.replace('_', ' ')} {name!r} has no version {version}")
    active = find_row(session, ActiveDocument, ActiveDocument.kind == kind, ActiveDocument.name == name, lock=True)
    if active is None:
        session.add(ActiveDocument(kind=kind, name=name, version=version))
    else:
        active.version, active.activated_at = version, utcnow()
    session.flush()


def get_document(session: Session, kind: str, name: str, version: int | None = None) -> DocumentVersion:
    """A stored version; the active one when `version` is None. Raises NotFound."""
    number, _ = _version_digest(session, kind, name, version)
    return find_document(session, kind, name, number)


def _version_digest(session: Session, kind: str, name: str, version: int | None) -> tuple[int, str]:
    """The number and digest of a stored version (the active one when `version` is None), in
    one statement and without its source, once per transaction. Raises NotFound."""
    known = session.info.setdefault(_KNOWN, {})
    found = known.get((kind, name, version))
    if found is None:
        found = known[kind, name, version] = _find_version_digest(session, kind, name, version)
    return found


_KNOWN = "cpq_document_versions"       # session.info: what _version_digest found in this transaction


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_versions(session: Session, transaction) -> None:
    if transaction.parent is None:          # the transaction itself, not a flush or savepoint in it
        session.info.pop(_KNOWN, None)


_NAMED = select(DocumentVersion.version, DocumentVersion.digest).where(
    DocumentVersion.kind == sa.bindparam("of_kind"), DocumentVersion.name == sa.bindparam("of_name"))
#: _find_version_digest's statements (the active version, a given one), built once
_ACTIVE_DIGEST = _NAMED.join(ActiveDocument, sa.and_(
    ActiveDocument.kind == DocumentVersion.kind, ActiveDocument.name == DocumentVersion.name,
    ActiveDocument.version == DocumentVersion.version))
_DIGEST = _NAMED.where(DocumentVersion.version == sa.bindparam("of_version"))


def _find_version_digest(session: Session, kind: str, name: str, version: int | None) -> tuple[int, str]:
    label = kind.replace("_", " ")
    if not isinstance(name, str) or len(name) > 100 or "\x00" in name:
        raise NotFound(f"unknown {label} {name!r}")
    params = {"of_kind": kind, "of_name": name}
    if version is None:
        found = session.exec(_ACTIVE_DIGEST, params=params).first()
        if found is None:
            raise NotFound(f"unknown {label} {name!r}")
        return tuple(found)
    found = session.exec(_DIGEST, params=params | {"of_version": version}).first() if 1 <= version <= MAX_INTEGER else None
    if found is None:
        raise NotFound(f"{label} {name!r} has no version {version}")
    return tuple(found)


def active_version(session: Session, kind: str, name: str) -> int | None:
    active = session.get(ActiveDocument, (kind, name))
    return active.version if active else None


def latest_version(session: Session, kind: str, name: str) -> int | None:
    """The highest version number of a name, active or not (None: no version)."""
    return session.exec(select(sa.func.max(DocumentVersion.version)).where(
        DocumentVersion.kind == kind, DocumentVersion.name == name)).one()


def is_newest(session: Session, kind: str, name: str, version: int) -> bool:
    """Whether `version` is above every stored version of the name: shipped files (the demo
    catalog) activate their new versions on load, so an upgraded installation prices with them."""
    return version > (latest_version(session, kind, name) or 0)


def list_documents(session: Session, kind: str) -> list[DocumentSummary]:
    versions: dict[str, list[int]] = {}
    for name, number in session.exec(select(DocumentVersion.name, DocumentVersion.version)
                                     .where(DocumentVersion.kind == kind)
                                     .order_by(DocumentVersion.name, DocumentVersion.version)):
        versions.setdefault(name, []).append(number)
    active = {a.name: a.version for a in session.exec(select(ActiveDocument).where(ActiveDocument.kind == kind))}
    return [DocumentSummary(name, tuple(vs), active.get(name)) for name, vs in versions.items()]


def find_document(session: Session, kind: str, name: str, version: int) -> DocumentVersion | None:
    return session.exec(select(DocumentVersion).where(
        DocumentVersion.kind == kind, DocumentVersion.name == name,
        DocumentVersion.version == version)).first()


def built(session: Session, cache: LruCache, kind: str, name: str, version: int | None,
          build: Callable[[Any, str], T]) -> T:
    """The object `build(source, file)` makes of a stored version (the active one when
    `version` is None), cached by its digest: a request reads the version's number and digest
    only, and the source (large JSON) only to build what is not cached. Raises NotFound."""
    number, digest = _version_digest(session, kind, name, version)
    return cache.get((kind, name, number, digest), lambda: build(
        find_document(session, kind, name, number).source, f"{kind.replace('_', ' ')} {name} version {number}"))
