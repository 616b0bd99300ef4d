"""The ECB's euro foreign exchange reference rates, as the ECB publishes them in CSV.

Two files, one reader:
- the day's rates, `eurofxref.csv`: fields separated by ", ", a date like "05 December 2026",
  and a trailing ", " ending both lines:
      Date, USD, JPY, ..., ZAR, \n05 December 2026, 1.0550, 161.85, ..., 19.0095, \n
- the history, `eurofxref-hist.csv`: plain commas, ISO dates, newest day first, "N/A" where a
  currency had no rate that day (or had stopped or not yet started), and a trailing comma:
      Date,USD,JPY,BGN,CYP,...,ZAR,\n2026-12-05,1.0550,161.85,N/A,N/A,...,19.0095,\n
Each rate is 1 EUR in that currency. A column whose code is no current ISO 4217 currency (the
history keeps CYP, DEM's successors and the like) is skipped and reported, not an error; any
other problem is, naming the line and column (`line 3, column 5 (GBP)`), and nothing of a file
with one is stored.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlmodel import Session

from core.errors import InvalidInput
from core.fxrates import RATE_DECIMALS, NewRate, Recorded, record_rates
from core.money import CurrencyError, currency
from core.validation import DECIMAL, DocumentError, DocumentValidationError, Reader

BASE, SOURCE = "EUR", "ECB"
KIND = "exchange_rates"
MISSING = "N/A"
MAX_ERRORS = 50             # a wrong file reports this many problems, not one per cell
_CODE = re.compile(r"^[A-Z]{3}$")
_RATE = re.compile(f"^{DECIMAL}$")
_MONTHS = {name: n for n, name in enumerate(("January", "February", "March", "April", "May", "June", "July",
                                             "August", "September", "October", "November", "December"), 1)}


@dataclass(frozen=True)
class EcbRates:
    rates: tuple[NewRate, ...]
    skipped: tuple[str, ...]        # columns that are no current currency


@dataclass(frozen=True)
class EcbImport:
    created: int
    unchanged: int
    first: date | None
    last: date | None
    skipped: tuple[str, ...]


def parse(text: str, file: str = "eurofxref.csv") -> EcbRates:
    """The rates of an ECB CSV file (either format); DocumentValidationError naming every
    problem's line and column."""
    reader = _Reader(file)
    try:
        rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), skipinitialspace=True))
    except csv.Error as exc:
        raise DocumentValidationError([DocumentError(file, "", f"not CSV: {exc}")], KIND) from None
    return reader.read(rows)


def import_rates(session: Session, text: str, file: str = "eurofxref.csv") -> EcbImport:
    """Parse and record an ECB file; importing it again changes nothing."""
    parsed = parse(text, file)
    try:
        done: Recorded = record_rates(session, parsed.rates)
    except InvalidInput as exc:          # a stored rate the file contradicts
        raise DocumentValidationError([DocumentError(file, exc.field, exc.reason)], KIND) from None
    return EcbImport(done.created, done.unchanged, done.first, done.last, parsed.skipped)


class _Reader(Reader):
    kind = KIND

    def error(self, where: str, reason: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            super().error(where, reason)

    def read(self, rows: list[list[str]]) -> EcbRates:
        numbered = [(n, [cell.strip() for cell in row]) for n, row in enumerate(rows, 1) if any(c.strip() for c in row)]
        if not numbered:
            self.error("", "is empty; expected the ECB's header line (Date, USD, JPY, ...) and rates")
            self.check()
        line, header = numbered[0]
        columns, skipped = self.header(line, header)
        rates: list[NewRate] = []
        seen: dict[date, int] = {}
        for line, row in numbered[1:]:
            day = self.day(line, row[0])
            if day is not None:
                if day in seen:
                    self.error(f"line {line}, column 1 (Date)", f"{day} is also on line {seen[day]}")
                seen.setdefault(day, line)
            if len(row) < len(header):
                self.error(f"line {line}", f"has {len(row)} columns; the header (line {numbered[0][0]}) "
                                           f"has {len(header)}")
                continue
            for index in range(len(header), len(row)):
                if row[index]:
                    self.error(f"line {line}, column {index + 1}", f"{row[index]!r} is past the last column")
            for index, code in columns:
                value = self.value(f"line {line}, column {index + 1} ({code})", row[index])
                if value is not None and day is not None:
                    rates.append(NewRate(BASE, code, day, value, SOURCE, f"line {line}, column {index + 1} ({code})"))
        if len(numbered) == 1:
            self.error(f"line {line}", "the header has no rates after it")
        self.check()
        return EcbRates(tuple(rates), tuple(skipped))

    def header(self, line: int, cells: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
        """(index, code) of each currency column, and the codes skipped; a trailing empty
        cell (the ECB's trailing comma) is no column."""
        while cells and not cells[-1]:
            cells.pop()
        if not cells or cells[0] != "Date":
            self.error(f"line {line}, column 1", f"expected the header 'Date', not {cells[0] if cells else ''!r}")
        columns, skipped, seen = [], [], set()
        for index, code in enumerate(cells[1:], 1):
            where = f"line {line}, column {index + 1}"
            if not _CODE.match(code):
                self.error(where, f"expected a currency code such as USD, not {code!r}")
            elif code in seen:
                self.error(where, f"{code} is a column already")
            elif code == BASE:
                self.error(where, f"the ECB's rates are in {BASE}; {BASE} cannot be a column")
            else:
                seen.add(code)
                try:
                    currency(code)
                    columns.append((index, code))
                except CurrencyError:
                    skipped.append(code)
        return columns, skipped

    def day(self, line: int, text: str) -> date | None:
        """2026-12-05 (the history) or 05 December 2026 (the day's file)."""
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                return date.fromisoformat(text)
            match = re.fullmatch(r"(\d{1,2}) ([A-Z][a-z]+) (\d{4})", text)
            if match and match[2] in _MONTHS:
                return date(int(match[3]), _MONTHS[match[2]], int(match[1]))
        except ValueError:
            pass
        self.error(f"line {line}, column 1 (Date)",
                   f"expected a date such as 2026-12-05 or 05 December 2026, not {text!r}")
        return None

    def value(self, where: str, text: str):
        if text == MISSING:
            return None
        if not text:
            self.error(where, f"is empty (the ECB writes {MISSING} where there is no rate)")
            return None
        if not _RATE.match(text):
            self.error(where, f"expected a rate such as 1.0550 or N/A, not {text!r}")
            return None
        rate = Decimal(text)
        if rate <= 0:
            self.error(where, "a rate must be more than 0")
        elif -rate.as_tuple().exponent > RATE_DECIMALS:
            self.error(where, f"{text} has more than {RATE_DECIMALS} decimals")
        else:
            return rate
        return None
