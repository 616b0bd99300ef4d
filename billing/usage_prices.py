"""Which metered price an account's usage of a meter is billed at.

Until subscriptions say which product an account subscribed to, the price of a meter is the
one in the price book the account would be quoted on: an active book in the account's
currency, valid on the period's last day, that the account is entitled to
(sales.accounts.entitled) and that prices the meter. When several do, a book named in the
account's `price_books` wins, then a book for its channel, then a book for every account;
ties go to the first name. The books are read once per `UsagePrices`, so an ingestion batch
or a rating run asks the database for them once, whatever the number of accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from catalog.pricebook import KIND as PRICE_BOOK
from catalog.pricebook import MeteredProduct, PriceBook
from catalog.store import get_price_book
from core.versioned import list_documents
from billing.usage_models import period_end
from sales.accounts import Account, entitled


@dataclass(frozen=True)
class UsagePrice:
    book: PriceBook
    product: str
    metered: MeteredProduct


class UsagePrices:
    """The active price books, read once, and the price of each account's meters."""

    def __init__(self, session: Session):
        self.books = [get_price_book(session, doc.name) for doc in list_documents(session, PRICE_BOOK)
                      if doc.active is not None]
        self._by_account: dict[tuple, UsagePrice | None] = {}
        self._found: dict[tuple, UsagePrice | None] = {}

    def find(self, account: Account, meter: str, period: date) -> UsagePrice | None:
        """`account` is an Account or a row with its id, currency, channel and price_books."""
        key = (account.id, meter, period)
        if key not in self._by_account:
            terms = (account.currency, account.channel, tuple(account.price_books or ()), meter, period)
            if terms not in self._found:
                self._found[terms] = self._search(account, meter, period_end(period))
            self._by_account[key] = self._found[terms]
        return self._by_account[key]

    def _search(self, account: Account, meter: str, day: date) -> UsagePrice | None:
        candidates = []
        for book in self.books:
            if (meter in book.meters and book.currency.code == account.currency and book.valid_on(day)
                    and entitled(account, book)):
                rank = 0 if book.name in (account.price_books or ()) else 1 if book.channels else 2
                candidates.append((rank, book.name, book))
        if not candidates:
            return None
        book = min(candidates, key=lambda c: c[:2])[2]
        product, metered = book.meters[meter]
        return UsagePrice(book, product, metered)
