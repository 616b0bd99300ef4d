"""Process settings, read once from the environment into an immutable value."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from core.banking import check_bic, check_iban
from core.errors import InvalidInput
from core.money import CurrencyError, currency

#: The checkout root. The project is installed editable (``make``), so this is the work tree.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'cpq.db'}"
DEFAULT_DEMO_DIR = PROJECT_ROOT / "catalog" / "demo"


class MissingSecretKey(RuntimeError):
    """The web app was started from the environment without SECRET_KEY."""

    def __init__(self):
        super().__init__(
            "SECRET_KEY is not set: the web app needs a long random secret of its own. Set it, e.g. "
            "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))'), or start with "
            "`make run`, which keeps one in var/secret_key.")


# The seller on quote documents; CPQ_COMPANY_NAME, CPQ_COMPANY_ADDRESS (lines separated by
# "|"), CPQ_COMPANY_EMAIL, CPQ_COMPANY_WEBSITE and CPQ_COMPANY_COLOUR override it;
# CPQ_COMPANY_IBAN (and CPQ_COMPANY_BIC) put the bank account on invoices, with a SEPA QR code
# on those in euros.
DEFAULT_COMPANY = {"name": "Northwind Systems Inc.", "address": ["100 Main Street", "Springfield, IL 62701", "USA"],
                   "email": "sales@northwind.example", "website": "northwind.example", "colour": "#1f4e79"}


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a running process.

    Frozen so that one value can be handed to the app, the CLI and tests without anyone
    mutating shared state; use ``dataclasses.replace`` to derive a variant.
    """

    database_url: str = DEFAULT_DATABASE_URL
    # Built in code (tests, benchmarks), a process gets a random key of its own; from the
    # environment it is SECRET_KEY or "" (the CLI needs none; the web app refuses to start).
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    demo_dir: Path = DEFAULT_DEMO_DIR
    company: Mapping[str, object] = field(default_factory=lambda: dict(DEFAULT_COMPANY))
    # "contract": orders are made from signed contracts; "quote": straight from accepted quotes
    orders_from: str = "quote"
    # requests per caller in a moving window (an API key's own limit replaces `rate_limit`)
    rate_limit: str = "1200/minute"
    rate_limit_anonymous: str = "600/minute"
    rate_limit_storage: str = "memory://"
    # origins allowed to embed the rep pages in an iframe (a CRM), space-separated
    embed_origins: tuple[str, ...] = ()
    # the price books anonymous visitors of the configurator may price with; the first is the default
    storefront_price_books: tuple[str, ...] = ("list-usd", "list-eur")
    # SameSite of the session cookie: "None" (always Secure, so HTTPS) lets a CRM on another
    # site embed the signed-in pages; state changes still need the session's CSRF token
    cookie_samesite: str = "Lax"
    # Fernet keys that encrypt stored secrets (core/crypto.py), the first encrypting; none: one
    # derived from secret_key
    encryption_keys: tuple[str, ...] = ()
    # hosts, addresses or networks webhooks may be sent to though they are not public
    # (core/egress.py), e.g. "erp.internal 10.1.2.0/24"
    webhook_allow_hosts: tuple[str, ...] = ()
    # how many reverse proxies in front of the app append X-Forwarded-For/-Proto/-Host (0: none;
    # the headers are then ignored, as anyone could send them)
    proxy_hops: int = 0
    # where slow work goes (core/queue.py): redis://… (workers anywhere), filesystem://<folder>
    # (one local worker: make run), or empty: in the process that asks, after its commit
    queue_url: str = ""
    # the currency reports are shown in when a request names none (`?currency=`); empty: each
    # amount in its own currency, never converted
    reporting_currency: str = ""
    # how many days after its end a usage period still takes late records (billing/usage.py)
    usage_grace_days: int = 3
    # the SMTP server e-mail goes through (core/mail_delivery.py): smtp://user:password@host:587
    # (?starttls=true, the default with a user) or smtps://…; empty: messages wait in the outbox
    smtp_url: str = ""
    # the From address of e-mail; empty: the company's e-mail (CPQ_COMPANY_EMAIL)
    mail_from: str = ""

    def require_secret_key(self) -> None:
        if not self.secret_key:
            raise MissingSecretKey()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``DATABASE_URL``, ``SECRET_KEY``, ``CPQ_DEMO_DIR`` and the
        ``CPQ_*`` variables named beside the fields.

        Empty variables count as unset, so ``DATABASE_URL= make run`` means the default.
        """
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            secret_key=env.get("SECRET_KEY") or "",
            demo_dir=Path(env.get("CPQ_DEMO_DIR") or DEFAULT_DEMO_DIR).resolve(),
            company=_company(env),
            orders_from=_orders_from(env.get("CPQ_ORDERS_FROM") or "quote"),
            rate_limit=env.get("CPQ_RATE_LIMIT") or cls.rate_limit,
            rate_limit_anonymous=env.get("CPQ_RATE_LIMIT_ANONYMOUS") or cls.rate_limit_anonymous,
            rate_limit_storage=env.get("CPQ_RATE_LIMIT_STORAGE") or cls.rate_limit_storage,
            embed_origins=tuple((env.get("CPQ_EMBED_ORIGINS") or "").split()),
            storefront_price_books=tuple((env.get("CPQ_STOREFRONT_PRICE_BOOKS") or "").split())
            or cls.storefront_price_books,
            cookie_samesite=_samesite(env.get("CPQ_COOKIE_SAMESITE") or cls.cookie_samesite),
            encryption_keys=_fernet_keys((env.get("CPQ_ENCRYPTION_KEYS") or "").split()),
            webhook_allow_hosts=tuple((env.get("CPQ_WEBHOOK_ALLOW_HOSTS") or "").split()),
            proxy_hops=_count("CPQ_PROXY_HOPS", env.get("CPQ_PROXY_HOPS") or "0"),
            queue_url=env.get("CPQ_QUEUE_URL") or "",
            reporting_currency=_reporting_currency(env.get("CPQ_REPORTING_CURRENCY") or ""),
            usage_grace_days=_count("CPQ_USAGE_GRACE_DAYS", env.get("CPQ_USAGE_GRACE_DAYS") or "3"),
            smtp_url=_smtp_url(env.get("CPQ_SMTP_URL") or ""),
            mail_from=_mail_from(env.get("CPQ_MAIL_FROM") or ""),
        )


def _company(env: Mapping[str, str]) -> dict:
    company = dict(DEFAULT_COMPANY)
    for key in ("name", "email", "website", "colour"):
        if env.get(f"CPQ_COMPANY_{key.upper()}"):
            company[key] = env[f"CPQ_COMPANY_{key.upper()}"]
    if env.get("CPQ_COMPANY_ADDRESS"):
        company["address"] = [line.strip() for line in env["CPQ_COMPANY_ADDRESS"].split("|")]
    for key, check in (("iban", check_iban), ("bic", check_bic)):
        if env.get(f"CPQ_COMPANY_{key.upper()}"):
            try:
                company[key] = check(env[f"CPQ_COMPANY_{key.upper()}"])
            except InvalidInput as exc:
                raise ValueError(f"CPQ_COMPANY_{key.upper()}: {exc.reason}") from None
    return company


def _samesite(value: str) -> str:
    if value.capitalize() not in ("Lax", "Strict", "None"):
        raise ValueError(f"CPQ_COOKIE_SAMESITE must be Lax, Strict or None, not {value!r}")
    return value.capitalize()


def _fernet_keys(keys: list[str]) -> tuple[str, ...]:
    """Refused at start-up rather than at the first secret: each must be 32 url-safe base64 bytes."""
    for n, key in enumerate(keys, 1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (ValueError, binascii.Error):
            valid = False
        if not valid:
            raise ValueError(f"CPQ_ENCRYPTION_KEYS: key {n} is not a Fernet key (32 url-safe base64 bytes); make one "
                             "with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'")
    return tuple(keys)


def _count(name: str, value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number (0 or more), not {value!r}")
    return int(value)


def _orders_from(value: str) -> str:
    if value not in ("quote", "contract"):
        raise ValueError(f"CPQ_ORDERS_FROM must be 'quote' or 'contract', not {value!r}")
    return value


def _reporting_currency(code: str) -> str:
    """Refused at start-up rather than at the first report: an ISO 4217 code, or nothing."""
    if code:
        try:
            return currency(code.upper()).code
        except CurrencyError as exc:
            raise ValueError(f"CPQ_REPORTING_CURRENCY: {exc}") from None
    return ""


@dataclass(frozen=True)
class SmtpServer:
    """Where e-mail goes, read from CPQ_SMTP_URL: `smtp://[user:password@]host[:port]` (port
    25; STARTTLS with `?starttls=true`, the default when a user is given, so credentials never
    cross in clear) or `smtps://…` (TLS from the first byte, port 465)."""
    host: str
    port: int
    tls: bool
    starttls: bool
    user: str = ""
    password: str = field(default="", repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname or (port is not None and port <= 0):
            raise ValueError("CPQ_SMTP_URL must be smtp://[user:password@]host[:port][?starttls=true] or "
                             "smtps://[user:password@]host[:port]")
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        query = parse_qs(parts.query)
        tls = parts.scheme == "smtps"
        starttls = query["starttls"][-1].lower() in ("1", "true", "yes", "on") if "starttls" in query else bool(user)
        return cls(parts.hostname, port or (465 if tls else 25), tls, starttls and not tls, user, password)


def _smtp_url(url: str) -> str:
    """Refused at start-up rather than at the first e-mail."""
    if url:
        SmtpServer.parse(url)
    return url

def _mail_from(address: str) -> str:
    """An address, or a display name and address: 'Northwind Billing <billing@northwind.example>'."""
    if address and "@" not in parseaddr(address)[1]:
        raise ValueError(f"CPQ_MAIL_FROM must be an e-mail address, not {address!r}")
    return address
