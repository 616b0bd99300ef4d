"""Customer accounts and their contacts, created one by one or imported from a file.

An account is keyed by a short `code` that other systems (CRM, ERP) also know, so an import
creates new accounts and updates existing ones by code. An import is all or nothing: every
row is validated first and the errors of all rows are reported together, then the rows are
written in the caller's transaction.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlmodel import JSON, Field, Session, select

from catalog.pricebook import PriceBook
from core.db import Amount, Table, children, utcnow
from core.errors import Forbidden, InvalidInput, NotFound
from core.locales import DEFAULT as DEFAULT_LANGUAGE, LANGUAGES
from core.money import CurrencyError, currency
from core.users import EMAIL_RE
from core.validation import DocumentError, DocumentValidationError, check_plain, parse_json, parse_yaml, to_decimal

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
RESERVED_CODES = ("import",)                    # a path of its own: /api/v1/accounts/import
TERMS_RE = re.compile(r"^[a-z0-9][a-z0-9_/-]{0,31}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
ADDRESS_FIELDS = ("street", "city", "postal_code", "region", "country")
SEGMENTS = ("enterprise", "mid_market", "smb", "public", "partner", "consumer")
DEFAULT_TERMS = "net30"
CHANNEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: fields that control what the account may be sold at, and the permission that changes each:
#: whoever lacks it may leave the field as it is, never change it
CONTROLLED = {"credit_limit": "accounts:credit", "channel": "accounts:pricing", "price_books": "accounts:pricing"}
#: how an account's invoices are made: one per source document (an order's charges, a usage
#: period), or everything due gathered on one invoice per currency on its billing day
CONSOLIDATION = ("per_document", "per_billing_day")
LAST_BILLING_DAY = 28                           # every month has it


class Account(Table, table=True):
    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=200)
    tax_id: str | None = Field(default=None, max_length=40)
    segment: str | None = Field(default=None, max_length=32)
    tier: str | None = Field(default=None, max_length=32)
    currency: str = Field(max_length=3)
    credit_limit: Decimal | None = Field(default=None, sa_type=Amount)   # in `currency`
    payment_terms: str = Field(default=DEFAULT_TERMS, max_length=32)
    language: str = Field(default=DEFAULT_LANGUAGE, max_length=8)   # of its documents, letters and pages
    channel: str | None = Field(default=None, max_length=32)   # e.g. partner: the price books it is sold on
    price_books: list = Field(default_factory=list, sa_type=JSON)   # books it is entitled to besides those
    billing_address: dict = Field(default_factory=dict, sa_type=JSON)
    shipping_address: dict = Field(default_factory=dict, sa_type=JSON)
    invoice_consolidation: str = Field(default="per_document", max_length=16)
    billing_day: int = 1                            # of the month, for per_billing_day
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class Contact(Table, table=True):
    __tablename__ = "contact"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    title: str | None = Field(default=None, max_length=100)
    primary: bool = False


@dataclass(frozen=True)
class AccountData:
    """A validated account as given by a caller or a file row (contacts included)."""
    code: str
    name: str
    currency: str
    tax_id: str | None = None
    segment: str | None = None
    tier: str | None = None
    credit_limit: Decimal | None = None
    payment_terms: str = DEFAULT_TERMS
    channel: str | None = None
    language: str = DEFAULT_LANGUAGE
    price_books: tuple[str, ...] = ()
    billing_address: Mapping[str, str] | None = None
    shipping_address: Mapping[str, str] | None = None
    contacts: tuple[Mapping[str, Any], ...] = ()
    invoice_consolidation: str = "per_document"
    billing_day: int = 1


FIELDS = ("code", "name", "currency", "tax_id", "segment", "tier", "credit_limit", "payment_terms", "channel",
          "language", "price_books", "billing_address", "shipping_address", "contacts", "invoice_consolidation",
          "billing_day")
CONTACT_FIELDS = ("name", "email", "phone", "title", "primary")


def validate(raw: Mapping[str, Any], where: str = "") -> tuple[AccountData | None, list[tuple[str, str]]]:
    """(account, []) or (None, [(field path, reason), ...]) for one account's plain data."""
    errors: list[tuple[str, str]] = []
    at = (lambda name: f"{where}.{name}" if where else name)
    for key in raw:
        if key not in FIELDS:
            errors.append((at(key), f"unknown field; expected one of {', '.join(FIELDS)}"))

    def text(name, required=False, pattern=None, limit=200):
        value = raw.get(name)
        if value in (None, ""):
            if required:
                errors.append((at(name), "is required"))
            return None
        if not isinstance(value, str) or not value.strip():
            errors.append((at(name), "expected a non-empty text"))
            return None
        value = value.strip()
        if len(value) > limit:
            errors.append((at(name), f"at most {limit} characters"))
        elif pattern is not None and not pattern.match(value):
            errors.append((at(name), f"{value!r} must match {pattern.pattern}"))
        return value

    code = text("code", True, CODE_RE, 40)
    if code in RESERVED_CODES:
        errors.append((at("code"), f"{code!r} is reserved"))
    name = text("name", True)
    code_cur = text("currency", True, limit=3)
    if code_cur is not None:
        try:
            code_cur = currency(code_cur.upper()).code
        except CurrencyError as exc:
            errors.append((at("currency"), str(exc)))
    segment = text("segment", limit=32)
    if segment is not None and segment not in SEGMENTS:
        errors.append((at("segment"), f"must be one of {', '.join(SEGMENTS)}"))
    limit = None
    if raw.get("credit_limit") not in (None, ""):
        limit = to_decimal(raw["credit_limit"])
        if limit is None or limit < 0:
            errors.append((at("credit_limit"), "expected a number of at least 0"))
            limit = None
        elif code_cur is not None and not errors and not currency(code_cur).is_exact(limit):
            errors.append((at("credit_limit"), f"finer than the minor unit of {code_cur}"))
    addresses = {}
    for kind in ("billing_address", "shipping_address"):
        addresses[kind] = _address(raw.get(kind), at(kind), errors)
    tax_id = text("tax_id", limit=40)
    tier = text("tier", limit=32)
    terms = text("payment_terms", pattern=TERMS_RE, limit=32) or DEFAULT_TERMS
    channel = text("channel", pattern=CHANNEL_RE, limit=32)
    language = text("language", limit=8) or DEFAULT_LANGUAGE
    if language not in LANGUAGES:
        errors.append((at("language"), f"must be one of {', '.join(LANGUAGES)}"))
    books = raw.get("price_books") or []
    if not isinstance(books, list) or not all(isinstance(b, str) and 0 < len(b) <= 100 for b in books):
        errors.append((at("price_books"), "expected a list of price book names"))
        books = []
    contacts = []
    raw_contacts = raw.get("contacts") or []
    if not isinstance(raw_contacts, list):
        errors.append((at("contacts"), "expected a list"))
        raw_contacts = []
    for i, c in enumerate(raw_contacts):
        contacts.append(_contact(c, at(f"contacts[{i}]"), errors))
    if sum(1 for c in contacts if c and c.get("primary")) > 1:
        errors.append((at("contacts"), "at most one primary contact"))
    consolidation = raw.get("invoice_consolidation") or "per_document"
    if consolidation not in CONSOLIDATION:
        errors.append((at("invoice_consolidation"), f"must be one of {', '.join(CONSOLIDATION)}"))
    billing_day = raw.get("billing_day", 1)
    if isinstance(billing_day, str) and billing_day.strip().isdigit():      # a CSV cell
        billing_day = int(billing_day)
    if isinstance(billing_day, bool) or not isinstance(billing_day, int) or not 1 <= billing_day <= LAST_BILLING_DAY:
        errors.append((at("billing_day"), f"expected a day of the month from 1 to {LAST_BILLING_DAY}"))
    if errors:
        return None, errors
    if limit is not None:
        limit = currency(code_cur).round(limit)         # exact already: only the scale changes
    return AccountData(code, name, code_cur, tax_id, segment, tier, limit, terms, channel, language,
                       tuple(sorted(set(books))),
                       addresses["billing_address"], addresses["shipping_address"],
                       tuple(c for c in contacts if c), consolidation, billing_day), []


def _address(raw, where: str, errors: list) -> dict:
    if raw in (None, {}):
        return {}
    if not isinstance(raw, Mapping):
        errors.append((where, "expected an object with " + ", ".join(ADDRESS_FIELDS)))
        return {}
    out = {}
    for key, value in raw.items():
        if key not in ADDRESS_FIELDS:
            errors.append((f"{where}.{key}", f"unknown field; expected one of {', '.join(ADDRESS_FIELDS)}"))
        elif value not in (None, ""):
            if not isinstance(value, str) or len(value) > 200:
                errors.append((f"{where}.{key}", "expected a text of at most 200 characters"))
            else:
                out[key] = value.strip()
    if "country" in out:
        out["country"] = out["country"].upper()
        if not COUNTRY_RE.match(out["country"]):
            errors.append((f"{where}.country", "expected an ISO 3166 two-letter country code"))
    return out


def _contact(raw, where: str, errors: list) -> dict | None:
    if not isinstance(raw, Mapping):
        errors.append((where, "expected an object"))
        return None
    n = len(errors)
    for key in raw:
        if key not in CONTACT_FIELDS:
            errors.append((f"{where}.{key}", f"unknown field; expected one of {', '.join(CONTACT_FIELDS)}"))
    name, email = raw.get("name"), raw.get("email")
    if not isinstance(name, str) or not name.strip():
        errors.append((f"{where}.name", "is required"))
    if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
        errors.append((f"{where}.email", "expected an email address"))
    for key, limit in (("name", 200), ("email", 254), ("phone", 40), ("title", 100)):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append((f"{where}.{key}", f"expected a text of at most {limit} characters"))
    primary = raw.get("primary", False)
    if isinstance(primary, str):
        primary = primary.strip().lower() in ("1", "true", "yes")
    if not isinstance(primary, bool):
        errors.append((f"{where}.primary", "expected true or false"))
    if len(errors) > n:
        return None
    return {"name": name.strip(), "email": email.strip().lower(), "phone": raw.get("phone") or None,
            "title": raw.get("title") or None, "primary": primary}


def _raise(errors: list[tuple[str, str]]):
    if len(errors) == 1:
        raise InvalidInput(*errors[0])
    raise DocumentValidationError([DocumentError("request", f, r) for f, r in errors], "account")


def create_account(session: Session, raw: Mapping[str, Any], *, may_set: frozenset[str] = frozenset(CONTROLLED)) -> Account:
    data, errors = validate(raw)
    if errors:
        _raise(errors)
    if _by_code(session, data.code) is not None:
        raise InvalidInput("code", f"account {data.code} already exists")
    _check_controlled(data, None, may_set)
    return _write(session, data)


def update_account(session: Session, code: str, changes: Mapping[str, Any], *,
                   may_set: frozenset[str] = frozenset(CONTROLLED)) -> Account:
    """Apply `changes` (any account fields; `contacts` replaces the list) to an account."""
    account = get_account(session, code)
    if "code" in changes and changes["code"] != account.code:
        raise InvalidInput("code", "an account's code cannot change")
    merged = {**account_dict(session, account), **changes}
    data, errors = validate(merged)
    if errors:
        _raise(errors)
    _check_controlled(data, account, may_set)
    return _write(session, data, account, replace_contacts="contacts" in changes)


def _check_controlled(data: AccountData, account: Account | None, may_set: frozenset[str]) -> None:
    """The credit limit is finance's control over what the credit check lets through; the
    channel and price books, sales operations' over the prices a rep may quote. `may_set`
    names the controlled fields the caller may change (CONTROLLED says who may)."""
    for name, permission in CONTROLLED.items():
        now = getattr(account, name) if account else getattr(AccountData("", "", ""), name)
        if name not in may_set and getattr(data, name) != (tuple(now) if name == "price_books" else now):
            raise Forbidden(f"{data.code}: changing an account's {name} needs {permission}", field=name)


def _by_code(session: Session, code: str) -> Account | None:
    return session.exec(select(Account).where(Account.code == code)).first()


def get_account(session: Session, code: str) -> Account:
    account = _by_code(session, code) if isinstance(code, str) else None
    if account is None:
        raise NotFound(f"unknown account {code!r}")
    return account


def list_accounts(session: Session, search: str | None = None, limit: int = 100,
                  offset: int = 0) -> list[Account]:
    query = select(Account).order_by(Account.code)
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"                  # the text is matched literally, not as a pattern
        query = query.where(sa.or_(sa.func.lower(Account.name).like(pattern, escape="\\"),
                                   sa.func.lower(Account.code).like(pattern, escape="\\")))
    return list(session.exec(query.offset(offset).limit(limit)))


def entitled(account: Account, book: PriceBook) -> bool:
    """Whether the account may be quoted on `book`: a book for every account, one for its
    channel, or one it was entitled to by name."""
    return not book.channels or account.channel in book.channels or book.name in account.price_books


_CONTACTS = select(Contact).where(Contact.account_id == sa.bindparam("of_account")).order_by(
    Contact.primary.desc(), Contact.id)


def contacts_of(session: Session, account: Account) -> list[Contact]:
    return list(session.exec(_CONTACTS, params={"of_account": account.id}))


def account_dicts(session: Session, accounts: list[Account]) -> list[dict[str, Any]]:
    """Accounts as the plain data `validate` accepts (for merging updates, exports and
    lists), their contacts read in one statement."""
    contacts = children(session, Contact.account_id, [a.id for a in accounts], Contact.primary.desc(), Contact.id)
    return [{"code": a.code, "name": a.name, "currency": a.currency, "tax_id": a.tax_id, "segment": a.segment,
             "tier": a.tier, "credit_limit": a.credit_limit, "payment_terms": a.payment_terms,
             "channel": a.channel, "language": a.language, "price_books": list(a.price_books),
             "billing_address": dict(a.billing_address), "shipping_address": dict(a.shipping_address),
             "invoice_consolidation": a.invoice_consolidation, "billing_day": a.billing_day,
             "contacts": [{"name": c.name, "email": c.email, "phone": c.phone, "title": c.title,
                           "primary": c.primary} for c in contacts[a.id]]} for a in accounts]


def account_dict(session: Session, account: Account) -> dict[str, Any]:
    return account_dicts(session, [account])[0]


def _write(session: Session, data: AccountData, account: Account | None = None,
           replace_contacts: bool = True) -> Account:
    account = account or Account(code=data.code, name=data.name, currency=data.currency)
    account.name, account.currency, account.tax_id = data.name, data.currency, data.tax_id
    account.segment, account.tier, account.credit_limit = data.segment, data.tier, data.credit_limit
    account.payment_terms, account.channel, account.price_books = data.payment_terms, data.channel, list(data.price_books)
    account.language = data.language
    account.billing_address = dict(data.billing_address or {})
    account.shipping_address = dict(data.shipping_address or data.billing_address or {})
    account.invoice_consolidation, account.billing_day = data.invoice_consolidation, data.billing_day
    account.updated_at = utcnow()
    session.add(account)
    session.flush()
    if replace_contacts:
        for old in contacts_of(session, account):
            session.delete(old)
        session.flush()
        for c in data.contacts:
            session.add(Contact(account_id=account.id, **c))
        session.flush()
    return account


# import ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportResult:
    created: tuple[str, ...]
    updated: tuple[str, ...]


def parse_accounts_file(text: str, file: str) -> list[dict]:
    """Rows of an accounts file: CSV (by extension or a header line) or a YAML/JSON list.

    CSV columns are the account fields, addresses as `billing_street`, `billing_country`...,
    and one contact per row as `contact_name`, `contact_email`, `contact_phone`,
    `contact_title`; rows with the same code add contacts to one account. A file without a
    single account is refused: it is a mistake (a wrong file, a header alone), not a no-op.
    """
    text = text.removeprefix("\ufeff")              # the byte order mark spreadsheets write
    if file.lower().endswith(".csv"):
        data = check_plain(_csv_rows(text, file), file, "accounts", "accounts")
    else:
        data = parse_json(text, file, "accounts") if file.lower().endswith(".json") else parse_yaml(text, file, "accounts")
    if isinstance(data, dict) and "accounts" in data:
        data = data["accounts"]
    if not isinstance(data, list) or not data:
        raise DocumentValidationError([DocumentError(file, "", "expected a list of accounts, at least one")], "accounts")
    return data


def _csv_rows(text: str, file: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _accounts_of(reader)
    except csv.Error as exc:                          # e.g. a field longer than the csv module reads
        raise DocumentValidationError([DocumentError(file, f"line {reader.line_num}", f"invalid CSV: {exc}")],
                                      "accounts") from None


def _accounts_of(reader: csv.DictReader) -> list[dict]:
    accounts: dict[str, dict] = {}
    order = []
    for row in reader:
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        out: dict[str, Any] = {}
        contact = {}
        for key, value in row.items():
            if value == "":
                continue
            prefix, _, rest = key.partition("_")
            if prefix in ("billing", "shipping") and rest in ADDRESS_FIELDS:
                out.setdefault(f"{prefix}_address", {})[rest] = value
            elif prefix == "contact" and rest in CONTACT_FIELDS:
                contact[rest] = value
            else:
                out[key] = value
        code = out.get("code", f"(row {reader.line_num})")
        if code in accounts:
            target = accounts[code]
        else:
            target = accounts[code] = {**out, "contacts": []}
            order.append(code)
        if contact:
            target["contacts"].append(contact)
    return [accounts[c] for c in order]


def check_rows(rows: Iterable[Mapping[str, Any]], file: str = "import") -> list[AccountData]:
    """The rows as account data, or DocumentValidationError naming every bad row and field
    (a code given twice is an error)."""
    errors: list[DocumentError] = []
    valid: list[AccountData] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows):
        where = f"accounts[{i}]"
        if not isinstance(raw, Mapping):
            errors.append(DocumentError(file, where, "expected an object"))
            continue
        data, problems = validate(raw, where)
        errors += [DocumentError(file, f, r) for f, r in problems]
        if data is not None:
            if data.code in seen:
                errors.append(DocumentError(file, f"{where}.code", f"{data.code} is also in accounts[{seen[data.code]}]"))
            seen[data.code] = i
            valid.append(data)
    if errors:
        raise DocumentValidationError(errors, "accounts")
    return valid


def import_accounts(session: Session, rows: Iterable[Mapping[str, Any]], file: str = "import", *,
                    may_set: frozenset[str] = frozenset(CONTROLLED)) -> ImportResult:
    """Create or update (by code) every account in `rows`; nothing is written unless all rows
    are valid."""
    checked = [(data, _by_code(session, data.code)) for data in check_rows(rows, file)]
    for data, existing in checked:
        _check_controlled(data, existing, may_set)
    created, updated = [], []
    for data, existing in checked:
        _write(session, data, existing)
        (updated if existing else created).append(data.code)
    return ImportResult(tuple(created), tuple(updated))


def load_demo_accounts(session: Session, directory: str | Path) -> ImportResult:
    """Import every `accounts/*.yaml` file of the demo directory (idempotent: by code)."""
    rows = []
    for path in sorted(Path(directory, "accounts").glob("*.yaml")):
        rows += parse_accounts_file(path.read_text(), str(path))
    return import_accounts(session, rows, "demo accounts")
