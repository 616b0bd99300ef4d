"""URL converters of the app's routes."""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter, IntegerConverter

from core.validation import MAX_INTEGER


class IdConverter(IntegerConverter):
    """`<int:…>` in routes: ids and versions up to the database's integer range, so a huge
    number is an unknown thing (404), not an overflow."""

    def __init__(self, url_map, fixed_digits=0, min=None, max=MAX_INTEGER, signed=False):
        super().__init__(url_map, fixed_digits, min, max, signed)


class KeyConverter(BaseConverter):
    """`<key(word, ...):…>`: a name or code in a path segment that is never one of `words`,
    the literal segments of sibling routes (/accounts/import beside /accounts/<code>), so each
    of those paths answers for its own methods alone (a PUT there: 405, Allow: POST). The
    domain reserves the same words."""

    def __init__(self, url_map, *words: str):
        super().__init__(url_map)
        self.regex = rf"(?!(?:{'|'.join(map(re.escape, words))})$)[^/]+" if words else "[^/]+"
