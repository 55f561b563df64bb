"""Distinguished names (certificate issuers) as comparable attribute pairs."""

from __future__ import annotations

__all__ = ["parse_name"]

# rfc4514_string() writes attributes it has no short name for as dotted OIDs;
# OpenSSL and others sometimes spell the short ones out.
_ALIASES = {
    "2.5.4.3": "CN",
    "COMMONNAME": "CN",
    "2.5.4.6": "C",
    "COUNTRYNAME": "C",
    "2.5.4.7": "L",
    "LOCALITYNAME": "L",
    "2.5.4.8": "ST",
    "S": "ST",
    "STATEORPROVINCENAME": "ST",
    "2.5.4.10": "O",
    "ORGANIZATIONNAME": "O",
    "2.5.4.11": "OU",
    "ORGANIZATIONALUNITNAME": "OU",
}


def parse_name(text: str) -> frozenset[tuple[str, str]]:
    """``(ATTRIBUTE, value)`` pairs of a distinguished name, for comparison.

    Reads RFC 4514 (``CN=a\\,b,O=x+OU=y``, as ``cryptography`` writes it), the
    same with spaces (``C = KZ, CN = x``) and OpenSSL's ``/C=KZ/CN=x``.
    Attribute names are upper-cased, values case-folded with runs of
    whitespace collapsed. Text that is not a name gives few or no pairs.
    """
    stripped = text.strip()
    slashed = stripped.startswith("/")
    components = _split(stripped[1:], "/") if slashed else _split(stripped, ",+;")
    pairs: set[tuple[str, str]] = set()
    for component in components:
        key, equals, raw = component.partition("=")
        if not equals:
            continue
        name = key.strip().upper().removeprefix("OID.")
        value = " ".join(_unescape(raw.strip()).split()).casefold()
        if name and value:
            pairs.add((_ALIASES.get(name, name), value))
    return frozenset(pairs)


def _split(text: str, separators: str) -> list[str]:
    """Split at unescaped, unquoted separators; escapes are kept for _unescape."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        if char in separators and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _unescape(raw: str) -> str:
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1]
    # Escapes may be hex bytes of a UTF-8 sequence (\D0\9A), so collect bytes.
    out = bytearray()
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\":
            out += char.encode("utf-8", "surrogatepass")
            index += 1
            continue
        pair = raw[index + 1 : index + 3]
        if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
            out.append(int(pair, 16))
            index += 3
        else:
            out += raw[index + 1 : index + 2].encode("utf-8", "surrogatepass")
            index += 2
    return out.decode("utf-8", "replace")
