"""Payment terms codes: when an invoice is due and what paying early is worth.

Accounts and quotes carry terms as short codes (`net30`, `2/10net30`, `due_on_receipt`) so
that what the rep agreed is what the invoice says. The code is parsed when an invoice is
issued, never stored parsed, so a terms code can only mean one thing.

- `net<N>`: due N days after the issue date (0 to 365).
- `<p>/<d>net<N>`: as net<N>, and p % off when paid within d days (d < N; p a percentage
  above 0 and below 100, e.g. `2/10net30`, `1.5/15net45`); `_` or `-` may separate the parts.
- `due_on_receipt`: due on the issue date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from core.errors import InvalidInput
from core.money import HUNDRED, ZERO, Currency

MAX_DAYS = 365
_CODE = re.compile(r"^(?:(?P<percent>\d{1,2}(?:\.\d{1,2})?)/(?P<days>\d{1,3})[_-]?)?net[_-]?(?P<net>\d{1,3})$")
DUE_ON_RECEIPT = "due_on_receipt"


@dataclass(frozen=True)
class PaymentTerms:
    code: str
    net_days: int
    discount_percent: Decimal | None = None
    discount_days: int | None = None

    def due_date(self, issued: date) -> date:
        return issued + timedelta(days=self.net_days)

    def discount_date(self, issued: date) -> date | None:
        """The last day the early-payment discount may be taken (None: no discount)."""
        return None if self.discount_days is None else issued + timedelta(days=self.discount_days)

    def discount_amount(self, gross: Decimal, cur: Currency) -> Decimal:
        """What paying by the discount date takes off `gross`, rounded once to the currency."""
        return cur.round(gross * self.discount_percent / HUNDRED) if self.discount_percent else ZERO

    def label(self, gettext=str) -> str:
        """How the invoice states the terms: 'Net 30 days', '2% within 10 days, net 30 days',
        in the language of `gettext` (a catalog's, core.locales)."""
        if self.net_days == 0:
            return gettext("Due on receipt")
        if self.discount_percent is None:
            return gettext("Net %(days)s days") % {"days": self.net_days}
        return gettext("%(percent)s%% within %(discount_days)s days, net %(days)s days") % {
            "percent": f"{self.discount_percent.normalize():f}", "discount_days": self.discount_days,
            "days": self.net_days}


def parse_terms(code: str, field_name: str = "payment_terms") -> PaymentTerms:
    """The terms a code stands for; an unknown or inconsistent code is InvalidInput naming
    `field_name`."""
    if not isinstance(code, str):
        raise InvalidInput(field_name, "expected a payment terms code such as net30")
    text = code.strip().lower()
    if text == DUE_ON_RECEIPT:
        return PaymentTerms(text, 0)
    m = _CODE.match(text)
    if m is None:
        raise InvalidInput(field_name, f"unknown payment terms {code!r}; expected net<days>, "
                                       f"<percent>/<days>net<days> (e.g. 2/10net30) or {DUE_ON_RECEIPT}")
    net = int(m["net"])
    if net > MAX_DAYS:
        raise InvalidInput(field_name, f"{code!r}: payment within at most {MAX_DAYS} days")
    if m["percent"] is None:
        return PaymentTerms(text, net)
    percent, days = Decimal(m["percent"]), int(m["days"])
    if not ZERO < percent < HUNDRED:
        raise InvalidInput(field_name, f"{code!r}: the discount must be more than 0 % and less than 100 %")
    if days >= net:
        raise InvalidInput(field_name, f"{code!r}: the discount period must end before the net period")
    return PaymentTerms(text, net, percent, days)
