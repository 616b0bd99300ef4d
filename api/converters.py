"""URL converters of the app's routes."""

from __future__ import annotations

from werkzeug.routing import BaseConverter, IntegerConverter


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: ids and versions up to the database's integer range, so a huge
    number is an unknown thing (404), not an overflow."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):
        super().__init__(url_map, fixed_digits, min, max, signed)


class AccountCodeConverter(BaseConverter):
    """`<account:…>`: an account code, which is never `import` (a reserved code), so that
    /accounts/import answers for its own method alone (a PUT there: 405, Allow: POST)."""

    regex = r"(?!import$)[^/]+"
