"""Moving master data between installations: product models, price books, rule sets and
accounts as one bundle (YAML or JSON).

An export holds every stored version of each model and document (quotes name the versions
they were priced with) and which version of each price book and rule set is active, so an
import rebuilds the same state. An import is one transaction: every document is validated
first and all problems are reported together; nothing is written unless all are valid, and
a version that exists with other content (VersionConflict) rolls the whole import back.
Loading the same bundle twice changes nothing. It lives in sales/ as the highest domain
layer that knows all four kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from sqlmodel import Session, select

from catalog.loader import load_model_dict
from catalog.pricebook import KIND as PRICE_BOOK
from catalog.pricebook import load_price_book_dict
from catalog.store import ModelVersion, find_version, save_model
from core import versioned
from core.db import utcnow
from core.money import currency
from core.validation import DocumentError, DocumentValidationError
from rules.loader import load_rule_set_dict
from rules.model import KIND as RULE_SET
from sales import accounts

BUNDLE_KIND = "cpq-bundle"
SECTIONS = ("models", "price_books", "rule_sets", "accounts")
_DOCUMENTS = {"price_books": (PRICE_BOOK, load_price_book_dict), "rule_sets": (RULE_SET, load_rule_set_dict)}


@dataclass
class ImportReport:
    """What an import wrote (or, on a dry run, would write): per section, how many items were
    new, and how many were already there (versions) or updated (accounts)."""
    new: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))
    existing: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))
    activated: list[str] = field(default_factory=list)


def export_bundle(session: Session, sections: tuple[str, ...] = SECTIONS) -> dict[str, Any]:
    bundle: dict[str, Any] = {"kind": BUNDLE_KIND, "exported_at": utcnow().isoformat()}
    if "models" in sections:
        bundle["models"] = [row.source for row in session.exec(
            select(ModelVersion).order_by(ModelVersion.product, ModelVersion.version))]
    active: dict[str, dict[str, int]] = {}
    for section, (kind, _load) in _DOCUMENTS.items():
        if section in sections:
            rows = session.exec(select(versioned.DocumentVersion).where(versioned.DocumentVersion.kind == kind)
                                .order_by(versioned.DocumentVersion.name, versioned.DocumentVersion.version))
            bundle[section] = [row.source for row in rows]
            active[section] = {s.name: s.active for s in versioned.list_documents(session, kind) if s.active}
    if active:
        bundle["active"] = active
    if "accounts" in sections:
        every = accounts.list_accounts(session, limit=None)
        bundle["accounts"] = [_exported(a, data) for a, data in zip(every, accounts.account_dicts(session, every))]
    return json.loads(json.dumps(bundle, default=str))        # plain data: decimals as strings


def _exported(account: accounts.Account, data: dict[str, Any]) -> dict[str, Any]:
    """An account as a bundle holds it: its credit limit in its currency's minor units."""
    if data["credit_limit"] is not None:
        data["credit_limit"] = currency(account.currency).round(data["credit_limit"])
    return data


def count(bundle: Any) -> int:
    """How many items an import of `bundle` handles (for progress bars)."""
    if not isinstance(bundle, Mapping):
        return 0
    return sum(len(bundle[s]) for s in SECTIONS if isinstance(bundle.get(s), list))


def import_bundle(session: Session, bundle: Any, file: str = "bundle",
                  progress: Callable[[int], None] = lambda n: None) -> ImportReport:
    """Load a bundle in the caller's transaction (roll it back to undo, e.g. for a dry run).
    Raises DocumentValidationError listing every problem, before writing anything."""
    models, documents, active, rows = _validated(bundle, file)
    report = ImportReport()
    for model in models:
        _tally(report, "models", find_version(session, model.product, model.version) is not None)
        save_model(session, model)
        progress(1)
    for section, loaded in documents.items():
        kind = _DOCUMENTS[section][0]
        for document in loaded:
            _tally(report, section, versioned.find_document(session, kind, document.name, document.version) is not None)
            versioned.save_document(session, kind, document.name, document.version, document.digest,
                                    document.source)
            progress(1)
        for name, version in active.get(section, {}).items():
            if versioned.active_version(session, kind, name) != version:
                versioned.activate_document(session, kind, name, version)
                report.activated.append(f"{kind.replace('_', ' ')} {name} version {version}")
    if rows:
        result = accounts.import_accounts(session, rows, file)
        report.new["accounts"] += len(result.created)
        report.existing["accounts"] += len(result.updated)
        progress(len(rows))
    return report


def _tally(report: ImportReport, section: str, existed: bool) -> None:
    (report.existing if existed else report.new)[section] += 1


def _validated(bundle: Any, file: str):
    """Every document built (or every error found), before anything is written."""
    errors: list[DocumentError] = []

    def fail(path: str, reason: str) -> None:
        errors.append(DocumentError(file, path, reason))

    if not isinstance(bundle, Mapping):
        raise DocumentValidationError([DocumentError(file, "", "expected a bundle (an object)")], "bundle")
    if bundle.get("kind", BUNDLE_KIND) != BUNDLE_KIND:
        fail("kind", f"must be {BUNDLE_KIND!r}")
    for key in set(bundle) - {*SECTIONS, "kind", "exported_at", "active"}:
        fail(str(key), f"unknown section; sections are {', '.join(SECTIONS)}")
    sections = {}
    for section in SECTIONS:
        items = bundle.get(section)
        items = [] if items is None else items     # `models:` with nothing; `{}` or "" is an error
        if not isinstance(items, list):
            fail(section, "expected a list")
            items = []
        sections[section] = items

    def build(section: str, i: int, load: Callable[[Any, str], Any]):
        try:
            return load(sections[section][i], f"{file} {section}[{i}]")
        except DocumentValidationError as exc:
            errors.extend(DocumentError(file, f"{section}[{i}]" + (f".{e.path}" if e.path else ""), e.reason)
                          for e in exc.errors)
            return None

    models = [build("models", i, load_model_dict) for i in range(len(sections["models"]))]
    documents = {section: [build(section, i, load) for i in range(len(sections[section]))]
                 for section, (_kind, load) in _DOCUMENTS.items()}
    active = bundle.get("active")
    active = {} if active is None else active
    if not isinstance(active, Mapping):
        fail("active", "expected an object of sections")
        active = {}
    for section, names in active.items():
        present = {(d.name, d.version) for d in documents.get(section, []) if d is not None}
        if section not in _DOCUMENTS or not isinstance(names, Mapping):
            fail(f"active.{section}", "expected price_books or rule_sets, each naming versions")
            continue
        for name, version in names.items():
            if (name, version) not in present:
                fail(f"active.{section}.{name}", f"version {version} is not in the bundle's {section}")
    rows = sections["accounts"]
    try:
        accounts.check_rows(rows, file)
    except DocumentValidationError as exc:
        errors.extend(exc.errors)
    if errors:
        raise DocumentValidationError(errors, "bundle")
    return ([m for m in models if m is not None], {s: [d for d in ds if d is not None] for s, ds in documents.items()},
            active, rows)
