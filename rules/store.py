"""Rule sets in the database: immutable versions, one active per name (core/versioned)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from core.settings import DEFAULT_DEMO_DIR
from core.cache import LruCache
from core.versioned import DocumentVersion, built, is_newest, list_documents, save_document
from rules.loader import load_rule_set_dict, load_rule_set_file
from rules.model import KIND, RuleSet

_BUILT: LruCache[RuleSet] = LruCache()


def save_rule_set(session: Session, rule_set: RuleSet, activate: bool = False) -> DocumentVersion:
    return save_document(session, KIND, rule_set.name, rule_set.version, rule_set.digest,
                         rule_set.source, activate)


def get_rule_set(session: Session, name: str, version: int | None = None) -> RuleSet:
    """A stored rule set (the active version when `version` is None); raises NotFound."""
    return built(session, _BUILT, KIND, name, version, load_rule_set_dict)


def load_demo_rule_sets(session: Session, directory: str | Path = DEFAULT_DEMO_DIR) -> list[DocumentVersion]:
    rule_sets = [load_rule_set_file(path) for path in sorted(Path(directory, "rulesets").glob("*.yaml"))]
    return [save_rule_set(session, rules, activate=is_newest(session, KIND, rules.name, rules.version))
            for rules in rule_sets]


def approval_levels(session: Session) -> frozenset[str]:
    """The approval levels the active rule sets define: the only ones a user may hold
    (core.users.check_levels)."""
    return frozenset(level for document in list_documents(session, KIND) if document.active is not None
                     for level in get_rule_set(session, document.name).levels)
