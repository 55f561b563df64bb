"""Targets: parsing and normalising URLs, reading target files, the built-in lists."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netprobe.errors import TargetError, TargetListError
from netprobe.measure.targets import (
    builtin_lists,
    builtin_services,
    dedupe,
    load_builtin,
    load_file,
    load_services,
    select,
)
from netprobe.model.targets import Target, parse_target

TARGETS_DIR = Path(__file__).resolve().parents[2] / "targets"
HEADER = ["url", "category_code", "category_description", "date_added", "source", "notes"]

GOOD = [
    # input, url, domain, scheme, port
    ("tcp://149.154.175.50:443", "tcp://149.154.175.50:443", "149.154.175.50", "tcp", 443),
    ("TLS://Chat.Signal.org:443", "tls://chat.signal.org:443", "chat.signal.org", "tls", 443),
    ("tcp://e1.whatsapp.net:5222/", "tcp://e1.whatsapp.net:5222", "e1.whatsapp.net", "tcp", 5222),
    ("tcp://[2001:DB8::1]:80", "tcp://[2001:db8::1]:80", "2001:db8::1", "tcp", 80),
    ("facebook.com", "https://facebook.com/", "facebook.com", "https", 443),
    ("www.facebook.com/path", "https://www.facebook.com/path", "www.facebook.com", "https", 443),
    ("  https://vk.com/  ", "https://vk.com/", "vk.com", "https", 443),
    ("HTTP://Example.COM", "http://example.com/", "example.com", "http", 80),
    ("http://example.com:80/a", "http://example.com/a", "example.com", "http", 80),
    ("https://example.com:443", "https://example.com/", "example.com", "https", 443),
    ("https://example.com:8443/x", "https://example.com:8443/x", "example.com", "https", 8443),
    ("http://example.com:443/", "http://example.com:443/", "example.com", "http", 443),
    ("example.com./news", "https://example.com/news", "example.com", "https", 443),
    ("example.com/a?b=1#frag", "https://example.com/a?b=1", "example.com", "https", 443),
    (
        "example.com/поиск",
        "https://example.com/%D0%BF%D0%BE%D0%B8%D1%81%D0%BA",
        "example.com",
        "https",
        443,
    ),
    ("example.com/a%20b", "https://example.com/a%20b", "example.com", "https", 443),
    (
        "https://www.пример.test/",
        "https://www.xn--e1afmkfd.test/",
        "www.xn--e1afmkfd.test",
        "https",
        443,
    ),
    ("ПРИМЕР.test", "https://xn--e1afmkfd.test/", "xn--e1afmkfd.test", "https", 443),
    ("https://xn--e1afmkfd.test/", "https://xn--e1afmkfd.test/", "xn--e1afmkfd.test", "https", 443),
    ("тест.қаз", "https://xn--e1aybc.xn--80ao21a/", "xn--e1aybc.xn--80ao21a", "https", 443),
    ("1.2.3.4", "https://1.2.3.4/", "1.2.3.4", "https", 443),
    ("http://10.10.34.34:8080/", "http://10.10.34.34:8080/", "10.10.34.34", "http", 8080),
    ("[2001:DB8::1]", "https://[2001:db8::1]/", "2001:db8::1", "https", 443),
    ("http://[::1]:8080", "http://[::1]:8080/", "::1", "http", 8080),
    ("my_blog.example.com", "https://my_blog.example.com/", "my_blog.example.com", "https", 443),
    ("localhost:8000", "https://localhost:8000/", "localhost", "https", 8000),
]

BAD = [
    # input, fragment of the message
    ("", "empty target"),
    ("   ", "empty target"),
    ("ftp://example.com/", "unsupported scheme ftp://"),
    ("tcp://149.154.167.51", "tcp:// needs a port"),
    ("tls://chat.signal.org", "tls:// needs a port"),
    ("tcp://host:0", "port 0 is out of range"),
    ("tcp://host:65536", "port 65536 is out of range"),
    ("tcp://host:http", "invalid port 'http'"),
    ("tls://host:443/path", "without a path"),
    ("tcp://user@host:443", "credentials"),
    ("tcp://:443", "missing host"),
    ("udp://host:53", "unsupported scheme udp://"),
    ("https://", "missing host"),
    ("https:/example.com/", "expected // after the scheme"),
    ("https:///path", "missing host"),
    ("https://exa mple.com/", "spaces are not allowed"),
    ("https://example.com/a b", "spaces are not allowed"),
    ("exa\x07mple.com", "control characters"),
    ("example.com\x7f", "control characters"),
    ("example.com:0", "port 0 is out of range"),
    ("example.com:65536", "port 65536 is out of range"),
    ("example.com:http", "invalid port 'http'"),
    ("example.com:" + "9" * 5000, "out of range"),
    ("example.com:-1", "invalid port '-1'"),
    ("https://user@example.com/", "credentials"),
    ("https://user:pass@example.com/", "credentials"),
    ("-example.com", "starts or ends with a hyphen"),
    ("example-.com", "starts or ends with a hyphen"),
    ("a" * 64 + ".com", "longer than 63 characters"),
    (".".join(["a" * 60] * 5), "longer than 253 characters"),
    ("exa!mple.com", "not allowed in a host name"),
    ("example..com", "empty label"),
    ("https://xn--zz.com/", "not valid punycode"),
    ("127.1", "invalid IPv4 address"),
    ("256.1.1.1", "invalid IPv4 address"),
    ("2001:db8::1", "must be written in brackets"),
    ("https://[2001:db8::zz]/", "invalid IPv6 address"),
    ("https://[fe80::1%25eth0]/", "zone identifiers"),
    ("https://[::1]x/", "after IPv6 address"),
    ("https://a\u200db.com/", "internationalised domain name"),
]


@pytest.mark.parametrize(("text", "url", "domain", "scheme", "port"), GOOD)
def test_parse_good(text: str, url: str, domain: str, scheme: str, port: int) -> None:
    target = parse_target(text)
    assert (target.url, target.domain, target.scheme, target.port) == (url, domain, scheme, port)
    assert target.list_name is None and target.category is None
    assert parse_target(target.url) == target, "normalising twice changes nothing"


@pytest.mark.parametrize(("text", "fragment"), BAD)
def test_parse_bad(text: str, fragment: str) -> None:
    with pytest.raises(TargetError) as info:
        parse_target(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_parse_keeps_list_and_category() -> None:
    target = parse_target("vk.com", list_name="social", category="GRP")
    assert target == Target("https://vk.com/", "vk.com", "https", 443, "social", "GRP")


def test_error_shows_long_input_shortened() -> None:
    with pytest.raises(TargetError) as info:
        parse_target("ftp://" + "a" * 500)
    assert len(str(info.value)) < 200


@given(st.text(max_size=300))
def test_parse_never_raises_anything_else(text: str) -> None:
    try:
        target = parse_target(text)
    except TargetError as exc:
        assert "\n" not in str(exc)
    else:
        assert target.url.startswith(("http://", "https://"))
        assert target.url.isascii() and target.domain.isascii()


# --- files -------------------------------------------------------------------


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_plain_file_with_comments_bom_crlf_and_duplicates(tmp_path: Path) -> None:
    text = (
        "\ufeff# my list\r\n"
        "\r\n"
        "facebook.com\r\n"
        "https://vk.com/  # trailing comment\r\n"
        "\t# indented comment\r\n"
        "https://example.com/#fragment-not-comment\r\n"
        "FACEBOOK.com\r\n"
    )
    targets = load_file(write(tmp_path, "mine.txt", text))
    assert [t.url for t in targets] == [
        "https://facebook.com/",
        "https://vk.com/",
        "https://example.com/",
        "https://facebook.com/",
    ]
    assert {t.list_name for t in targets} == {"mine"}
    assert [t.url for t in dedupe(targets)] == [
        "https://facebook.com/",
        "https://vk.com/",
        "https://example.com/",
    ]


def test_csv_file_in_test_lists_layout(tmp_path: Path) -> None:
    text = (
        "\n"
        "url,category_code,category_description,date_added,source,notes\n"
        'https://www.facebook.com/,GRP,Social Networking,2026-11-27,me,"blocked, then not"\n'
        "http://vlast.kz/,NEWS,News Media,2026-11-27,me,\n"
        ",,,,,\n"
        "https://rus.azattyq.org/,,,,,\n"
    )
    targets = load_file(write(tmp_path, "kz.csv", "\ufeff" + text.replace("\n", "\r\n")))
    assert [(t.url, t.category, t.list_name) for t in targets] == [
        ("https://www.facebook.com/", "GRP", "kz"),
        ("http://vlast.kz/", "NEWS", "kz"),
        ("https://rus.azattyq.org/", None, "kz"),
    ]


FILE_ERRORS = [
    # file content, expected line (None: whole file), fragment
    ("facebook.com\nftp://example.com\n", 2, "unsupported scheme"),
    ("# header\n\nvk.com\nexa mple.com\n", 4, "spaces are not allowed"),
    ("url,category_code\nhttps://ok.ru/,GRP\n,GRP\n", 3, "missing url"),
    ("url,category_code\nhttps://ok.ru/,GRP\nhttps://ok.ru:99999/,GRP\n", 3, "out of range"),
    ("", None, "no targets in file"),
    ("# only comments\n\n   \n", None, "no targets in file"),
    ("url,category_code,category_description\n", None, "no targets in file"),
]


@pytest.mark.parametrize(("content", "line", "fragment"), FILE_ERRORS)
def test_file_errors_name_file_and_line(
    tmp_path: Path, content: str, line: int | None, fragment: str
) -> None:
    path = write(tmp_path, "list.txt", content)
    with pytest.raises(TargetListError) as info:
        load_file(path)
    error = info.value
    assert (error.path, error.line) == (str(path), line)
    assert fragment in error.reason
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(error).startswith(where)


def test_bad_utf8_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.txt", b"vk.com\nok.ru\n" + "пример.рф\n".encode("cp1251"))
    with pytest.raises(TargetListError) as info:
        load_file(path)
    assert info.value.line == 3
    assert "not valid UTF-8" in str(info.value)


def test_binary_file(tmp_path: Path) -> None:
    path = write(tmp_path, "image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(TargetListError, match="not a text file"):
        load_file(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(TargetListError, match="no such file") as info:
        load_file(tmp_path / "absent.txt")
    assert info.value.line is None
    with pytest.raises(TargetListError, match="is a directory"):
        load_file(tmp_path)


def test_list_errors_are_target_errors() -> None:
    assert issubclass(TargetListError, TargetError)
    assert issubclass(TargetError, ValueError)


def test_dedupe_keeps_first_and_order() -> None:
    a = parse_target("a.example", list_name="one")
    b = parse_target("b.example")
    a_again = parse_target("https://A.example:443/", list_name="two")
    assert dedupe([a, b, a_again, b]) == [a, b]
    assert dedupe([]) == []


# --- built-in lists ------------------------------------------------------------


def test_builtin_list_names() -> None:
    assert list(builtin_lists()) == ["messaging", "news", "social"]


@pytest.mark.parametrize("name", ["social", "news", "messaging"])
def test_builtin_list_is_well_formed(name: str) -> None:
    path = TARGETS_DIR / f"{name}.csv"
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == HEADER
    for row in rows[1:]:
        url, code, description, date, source, _notes = row
        assert parse_target(url).url == url, "URLs are written normalised"
        assert code.isupper() and description and source == "netprobe"
        assert len(date) == 10 and date[4] == date[7] == "-"
    targets = load_builtin(name)
    assert len(targets) >= 10
    assert len({t.url for t in targets}) == len(targets)
    assert all(t.list_name == name and t.category for t in targets)


def test_builtin_services_follow_the_apps_endpoints() -> None:
    services = {s.id: s for s in builtin_services()}
    assert set(services) == {"telegram", "whatsapp", "signal", "facebook_messenger"}
    telegram = services["telegram"]
    assert telegram.parts[0].endpoints == (
        "tcp://149.154.175.50:80",
        "tcp://149.154.175.50:443",
    )
    assert len(services["whatsapp"].parts) == 18
    assert all(t.expected_asns == {32934} for t in services["facebook_messenger"].targets)
    assert all(t.extra_ca and Path(t.extra_ca).is_file() for t in services["signal"].targets)
    messaging = {t.url: t for t in load_builtin("messaging")}
    for service in services.values():
        for target in service.targets:
            assert messaging[target.url].service == service.id
    assert messaging["https://web.telegram.org/"].service == "telegram"


SERVICES = """
[services.chat]
name = "Chat"
category = "COMT"
asns = [64500]
parts = [
    { name = "a", endpoints = ["tcp://a.chat.test:443", "tcp://a.chat.test:5222"] },
    { name = "web", endpoints = ["https://chat.test/"] },
]
"""


def test_services_file(tmp_path: Path) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(SERVICES)
    (chat,) = load_services(path)
    assert (chat.id, chat.name, chat.list_name, chat.category) == ("chat", "Chat", "apps", "COMT")
    assert [p.name for p in chat.parts] == ["a", "web"]
    assert [t.url for t in load_file(path)] == [
        "tcp://a.chat.test:443",
        "tcp://a.chat.test:5222",
        "https://chat.test/",
    ]
    assert all(t.service == "chat" and t.expected_asns == {64500} for t in chat.targets)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not toml [", "not a valid TOML services file"),
        ("[other]\nx = 1\n", "no [services.NAME] tables"),
        ("[services.x]\nname = 'X'\n", "service 'x': needs parts"),
        ("[services.x]\nparts = [{ name = 'a', endpoints = [] }]\n", "non-empty list of endpoints"),
        ("[services.x]\nparts = [{ name = 'a', endpoints = ['tcp://h'] }]\n", "needs a port"),
        ("[services.x]\nasns = ['x']\nparts = [{ name = 'a', endpoints = ['h.test'] }]\n", "asns"),
        (
            "[services.x]\nca = 'nope.pem'\nparts = [{ name = 'a', endpoints = ['h.test'] }]\n",
            "nope.pem",
        ),
    ],
)
def test_services_file_errors(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(content)
    with pytest.raises(TargetListError) as caught:
        load_services(path)
    assert str(caught.value).startswith(f"{path}:") and fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_builtin_lists_hold_the_2019_kazakhstan_targets() -> None:
    urls = {t.url for targets in builtin_lists().values() for t in targets}
    for site in ("facebook.com", "instagram.com", "youtube.com", "web.telegram.org", "vk.com"):
        assert any(site in url for url in urls), site


def test_unknown_builtin_lists_the_names() -> None:
    with pytest.raises(TargetError, match=r"unknown built-in list 'soc'.*messaging, news, social"):
        load_builtin("soc")


def test_builtin_returns_fresh_lists() -> None:
    load_builtin("news").clear()
    builtin_lists()["news"].clear()
    assert load_builtin("news")


def test_select_what_a_run_measures(tmp_path: Path) -> None:
    everything, services = select([], [], [])
    assert {t.list_name for t in everything} == {"social", "news", "messaging"}
    assert {s.id for s in services} == {"telegram", "whatsapp", "signal", "facebook_messenger"}

    news, none = select(["https://vk.com/", "vk.com"], ["news"], [])
    assert none == [] and news[0].url == "https://vk.com/"
    assert [t.url for t in news].count("https://vk.com/") == 1

    apps = tmp_path / "apps.toml"
    apps.write_text(SERVICES)
    targets, defined = select([], [], [str(apps)])
    assert [s.id for s in defined] == ["chat"] and len(targets) == 3

    with pytest.raises(TargetError):
        select([], ["nosuchlist"], [])
