"""Terms-and-conditions templates that quotes copy their terms from.

A quote keeps the rendered text, so editing a template later never changes a quote already
written. Templates are written by admins, but still run in Jinja's sandbox: a template can
read the values it is given and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import jinja2.sandbox
from sqlmodel import Session, select

from core.db import utcnow
from core.errors import InvalidInput
from core.validation import DocumentError, DocumentValidationError, parse_yaml
from sales.models import TermsTemplate

if TYPE_CHECKING:
    from sales.accounts import Account
    from sales.models import Quote

_ENV = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def save_template(session: Session, code: str, title: str, body: str) -> TermsTemplate:
    try:
        _ENV.parse(body)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidInput("body", f"template syntax error on line {exc.lineno}: {exc.message}") from exc
    template = session.get(TermsTemplate, code) or TermsTemplate(code=code, title=title, body=body)
    template.title, template.body, template.updated_at = title, body, utcnow()
    session.add(template)
    session.flush()
    return template


def list_templates(session: Session) -> list[TermsTemplate]:
    return list(session.exec(select(TermsTemplate).order_by(TermsTemplate.code)))


def load_templates_file(session: Session, path: Path) -> list[TermsTemplate]:
    """A YAML file of templates: `templates: [{code, title, body}, ...]`."""
    data = parse_yaml(path.read_text(), str(path), "terms")
    items = data.get("templates") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(t, dict) and {"code", "title", "body"} <= set(t)
                                               for t in items):
        raise DocumentValidationError([DocumentError(str(path), "templates",
                                                     "expected a list of {code, title, body}")], "terms")
    return [save_template(session, t["code"], t["title"], t["body"]) for t in items]


def render_terms(session: Session, code: str, account: "Account", quote: "Quote") -> str:
    """The template's text for this quote."""
    template = session.get(TermsTemplate, code) if isinstance(code, str) else None
    if template is None:
        raise InvalidInput("terms_template", f"unknown terms template {code!r}")
    try:
        return _ENV.from_string(template.body).render(
            account=account.name, payment_terms=quote.payment_terms, currency=quote.currency,
            valid_until=quote.expires_on.isoformat())
    except jinja2.TemplateError as exc:
        raise InvalidInput("terms_template", f"template {code} cannot be rendered: {exc}") from exc


def load_demo_templates(session: Session, directory: str | Path) -> list[TermsTemplate]:
    return [t for path in sorted(Path(directory, "terms").glob("*.yaml")) for t in load_templates_file(session, path)]
