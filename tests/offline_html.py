"""What an HTML page would load from elsewhere: used by the tests of report.html."""
from __future__ import annotations

import re
from html.parser import HTMLParser

# Attributes through which a page makes the browser fetch (or navigate to) another location.
_FETCHING = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background",
             "xlink:href", "manifest", "ping", "content"}
_CSS_URL = re.compile(r"url\(\s*['\"]?(?!data:)[^)]*\)|@import", re.IGNORECASE)


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            value = (value or "").strip()
            if name == "content" and not (tag == "meta" and "url=" in value.lower()):
                continue  # only <meta http-equiv=refresh content="0; url=..."> fetches
            if name in _FETCHING and not value.startswith(("data:", "#")):
                self.found.append(f"<{tag} {name}={value[:80]!r}>")
            if name == "style" and _CSS_URL.search(value):
                self.found.append(f"<{tag} style={value[:80]!r}>")

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [f"<style> {m.group(0)[:80]}" for m in _CSS_URL.finditer(data)]


def external_references(html: str) -> list[str]:
    """Every reference of ``html`` to a location outside the file (empty: self-contained)."""
    parser = _Refs()
    parser.feed(html)
    parser.close()
    # A URL anywhere else (a script's fetch, a stray link in text): data: URIs hold no "://".
    return parser.found + [f"text: {m.group(0)}" for m in re.finditer(r"https?://\S{0,60}", html)]
