"""Fingerprints: blockpages, blockpage addresses and state TLS interception."""

# Russian and Kazakh page texts are the test data; their Cyrillic letters are meant.
# ruff: noqa: RUF001

from __future__ import annotations

import datetime
import re
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from netprobe.analysis.fingerprints import (
    all_fingerprints,
    blockpage_for_address,
    fingerprint_info,
    interception_certificate,
    interception_issuer,
    match_blockpage,
)

HTML = [("Content-Type", "text/html; charset=utf-8")]

TESTBED_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Доступ ограничен</title></head>"
    "<body><h1>Доступ ограничен</h1><p>Доступ к запрашиваемому ресурсу ограничен</p>"
    "</body></html>"
)


def news_article(title: str, paragraph: str) -> bytes:
    """A realistic article page: menus, scripts, long text, well over 64 KiB."""
    filler = "<p>" + "Правительство обсудило бюджет на следующий год. " * 40 + "</p>\n"
    page = (
        f"<html><head><title>{title} — Новости</title>"
        "<script>window.dataLayer=[];</script></head><body><nav>Главная Политика</nav>"
        f"<article><h1>{title}</h1>{filler * 20}<p>{paragraph}</p>{filler * 20}</article>"
        "</body></html>"
    )
    assert len(page.encode()) > 64 * 1024
    return page.encode()


# --- blockpages ------------------------------------------------------------------

BLOCKPAGES = [
    # name, status, headers, body, expected id (or prefix ending in ".")
    ("testbed", 200, HTML, TESTBED_PAGE.encode(), "generic.ru."),
    (
        "testbed, no charset, windows-1251",
        200,
        [],
        TESTBED_PAGE.replace("<meta charset='utf-8'>", "").encode("cp1251"),
        "generic.ru.",
    ),
    (
        "testbed, windows-1251 declared as UTF-8",
        200,
        HTML,
        TESTBED_PAGE.encode("cp1251"),
        "generic.ru.",
    ),
    (
        "testbed, koi8-r declared",
        200,
        [("content-type", "text/html; charset=KOI8-R")],
        TESTBED_PAGE.encode("koi8-r"),
        "generic.ru.",
    ),
    ("451, empty body", 451, [], b"", "http.451"),
    (
        "451 text in a short page",
        200,
        [],
        b"<h1>451 Unavailable For Legal Reasons</h1>",
        "generic.en.legal_451",
    ),
    (
        "Rostelecom redirect",
        302,
        [("Location", "http://warning.rt.ru/?id=17&st=0&dt=example.org")],
        b"",
        "ru.rostelecom.warning",
    ),
    ("redirect to a subdomain", 302, [("location", "https://www.qca.kz/")], b"", "kz.qca.install"),
    (
        "VK's own RKN stub",
        302,
        [("Location", "https://vk.com/blank.php?rkn=12345")],
        b"",
        "ru.vk.rkn",
    ),
    (
        "Iranian iframe",
        200,
        [],
        b'<html><body><iframe src="http://10.10.34.34?type=Invalid Site&policy=MainPolicy" '
        b'style="width: 100%; height: 100%"></iframe></body></html>',
        "ir.national.iframe_1",
    ),
    (
        "meta refresh to a blockpage host",
        200,
        [],
        b'<meta http-equiv="refresh" content="0; url=http://blocked.mts.ru/?url=x">',
        "ru.mts.blocked",
    ),
    (
        "Barracuda server header",
        403,
        [("Server", "Barracuda/NGFirewall")],
        b"",
        "product.barracuda.server",
    ),
    (
        "RKN registry wording",
        200,
        HTML,
        "<p>Доступ к ресурсу ограничен. Информация, распространение которой в Российской Федерации "
        "запрещено.</p>".encode(),
        "ru.rkn.registry_notice",
    ),
    (
        "Kyrgyz judicial block",
        200,
        [],
        b'<p class="error">Access to the requested website has been blocked by judicial '
        b"decision!</p>",
        "kg.elcat.judicial",
    ),
    (
        "English authority wording split by markup",
        200,
        [],
        b"<p>Access to the requested resource has been blocked<br/>by the decision of public "
        b"authorities.</p>",
        "generic.en.restricted",
    ),
    (
        "English title",
        200,
        [],
        b"<title>Web Page Blocked!</title><p>Category: news</p>",
        "generic.en.",
    ),
    (
        "Kazakh wording",
        200,
        HTML,
        "<p>Бұл сайтқа кіру шектелген.</p>".encode(),
        "generic.kk.restricted",
    ),
    (
        "TTK title on a big page",
        200,
        HTML,
        b"<title>TTK :: \xd0\x94\xd0\xbe\xd1\x81\xd1\x82\xd1\x83\xd0\xbf \xd0\xba "
        + "ресурсу ограничен</title>".encode()
        + b"<p>x</p>" * 20000,
        "ru.ttk.title",
    ),
]


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected"),
    [case[1:] for case in BLOCKPAGES],
    ids=[case[0] for case in BLOCKPAGES],
)
def test_blockpages_match(
    status: int, headers: list[tuple[str, str]], body: bytes, expected: str
) -> None:
    found = match_blockpage(status, headers, body)
    assert found is not None
    assert found.startswith(expected) if expected.endswith(".") else found == expected


NOT_BLOCKPAGES = [
    ("ordinary page", 200, HTML, b"<html><title>Hello</title><p>Hello, world</p></html>"),
    ("empty", 200, [], b""),
    ("no status, nothing", None, [], b""),
    (
        "Russian news article quoting a blockpage",
        200,
        HTML,
        news_article(
            "Роскомнадзор ограничил доступ к сайту издания",
            "Пользователи видят сообщение «Доступ к запрашиваемому ресурсу ограничен». Доступ к "
            "сайту ограничен по решению суда; ресурс внесен в единый реестр запрещенной "
            "информации, распространение которой в Российской Федерации запрещено. Access to "
            "the website has been blocked by decision of the court.",
        ),
    ),
    (
        "article titled like a blockpage plus site name",
        200,
        HTML,
        news_article("Доступ ограничен", "Репортаж о том, как блокируют сайты."),
    ),
    ("CDN access denied", 403, [("Server", "AkamaiGHost")], b"<title>Access Denied</title>"),
    ("ordinary redirect", 301, [("Location", "https://www.example.com/")], b""),
    ("relative redirect", 302, [("Location", "/login?next=/")], b""),
    ("broken redirect", 302, [("Location", "http://[::1")], b""),
    ("look-alike host", 302, [("Location", "http://notwarning.rt.ru.example.com/")], b""),
    (
        "blockpage host linked from a big page",
        200,
        [],
        b'<a href="http://warning.rt.ru/">rt</a>' + b"<p>text</p>" * 10000,
    ),
    ("company registry wording", 200, HTML, "<p>ООО включено в реестр МСП.</p>".encode()),
    (
        "start of a long page (Content-Length says so)",
        200,
        [*HTML, ("Content-Length", "300000")],
        "<p>Доступ к запрашиваемому ресурсу ограничен</p>".encode(),
    ),
]


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [case[1:] for case in NOT_BLOCKPAGES],
    ids=[case[0] for case in NOT_BLOCKPAGES],
)
def test_ordinary_pages_do_not_match(
    status: int | None, headers: list[tuple[str, str]], body: bytes
) -> None:
    assert match_blockpage(status, headers, body) is None


def test_specific_fingerprints_win_over_generic_and_status() -> None:
    body = "<title>Доступ ограничен</title><a href='http://warning.rt.ru/'>?</a>".encode()
    assert match_blockpage(451, HTML, body) == "ru.rostelecom.warning"


@given(
    status=st.one_of(st.none(), st.integers(min_value=-1000, max_value=10**6)),
    headers=st.lists(
        st.tuples(
            st.one_of(st.text(max_size=20), st.sampled_from(["Content-Length", "Location"])),
            st.one_of(st.text(max_size=200), st.just("9" * 5000), st.just("http://[::1")),
        ),
        max_size=6,
    ),
    body=st.binary(max_size=4096),
)
def test_match_blockpage_never_raises(
    status: int | None, headers: list[tuple[str, str]], body: bytes
) -> None:
    found = match_blockpage(status, headers, body)
    assert found is None or fingerprint_info(found).kind in {"header", "location", "body", "status"}


@given(
    body=st.lists(
        st.sampled_from(["<", ">", "<title", "</title>", "<script", "//", "доступ ", "\xff", " "]),
        max_size=400,
    ).map(lambda parts: "".join(parts).encode("utf-8", "surrogateescape")),
    charset=st.sampled_from(["utf-8", "koi8-r", "base64", "rot13", "idna", "utf-16", "bogus"]),
)
def test_match_blockpage_survives_markup_soup_and_odd_charsets(body: bytes, charset: str) -> None:
    match_blockpage(200, [("Content-Type", f"text/html; charset={charset}")], body)


def test_hostile_bodies_stay_fast() -> None:
    bodies = [
        b"<" * 65536,
        b"<title" * 10000,
        b"<script" * 9000,
        b"//" * 30000,
        bytes(range(256)) * 2048,
    ]
    start = time.perf_counter()
    for body in bodies:
        match_blockpage(200, [("Content-Type", "text/html; charset=cp1251")], body)
    assert time.perf_counter() - start < 3


# --- DNS blockpage addresses ------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.10.34.34", "ir.national.dns_1"),
        (" 10.10.34.35 ", "ir.national.dns_2"),
        ("::ffff:10.10.34.36", "ir.national.dns_3"),
        ("195.175.254.2", "tr.national.dns"),
        ("8.8.8.8", None),
        ("2001:db8::1", None),
        ("not an address", None),
        ("", None),
    ],
)
def test_blockpage_for_address(address: str, expected: str | None) -> None:
    assert blockpage_for_address(address) == expected


@given(st.text(max_size=60))
def test_blockpage_for_address_never_raises(address: str) -> None:
    blockpage_for_address(address)


# --- Kazakhstan's HTTPS interception ------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("CN=Qaznet Trust Network,C=KZ", "kz.qaznet.root"),
        ("C = KZ, CN = Qaznet Trust Network", "kz.qaznet.root"),
        ("/C=KZ/CN=qaznet  TRUST network", "kz.qaznet.root"),
        ("CN=Security Certificate,C=KZ", "kz.qaznet.intermediate"),
        ("CN=Security Certificate,C=US", None),
        ("CN=Information Security Certification Authority CA,O=ISCA,C=KZ", "kz.isca.root_ca"),
        ("C=KZ,O=ISCA,CN=Information Security Certification Authority", "kz.isca.root"),
        (
            "CN=Information Security Certification Authority,O=ISCA,L=Nur-Sultan,ST=Astana,C=KZ",
            "kz.isca.root",
        ),
        ("CN=ISCA Sub CA 2,O=ISCA,C=KZ", "kz.isca.organization"),
        ("2.5.4.3=Qaznet Trust Network", "kz.qaznet.root"),
        ("CN=R11,O=Let's Encrypt,C=US", None),
        ("CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US", None),
        ("CN=Qaznet Trust Network Evil Twin,C=KZ", None),
        ("", None),
        ("garbage \\", None),
    ],
)
def test_interception_issuer(issuer: str, expected: str | None) -> None:
    assert interception_issuer(issuer) == expected


def issuer_as_cryptography_writes_it(*attributes: tuple[x509.ObjectIdentifier, str]) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.issuer.rfc4514_string()


def test_interception_issuer_reads_cryptography_output() -> None:
    qaznet = issuer_as_cryptography_writes_it(
        (NameOID.COUNTRY_NAME, "KZ"), (NameOID.COMMON_NAME, "Qaznet Trust Network")
    )
    assert qaznet == "CN=Qaznet Trust Network,C=KZ"
    assert interception_issuer(qaznet) == "kz.qaznet.root"
    isca = issuer_as_cryptography_writes_it(
        (NameOID.COMMON_NAME, "Information Security Certification Authority"),
        (NameOID.ORGANIZATION_NAME, "ISCA"),
        (NameOID.COUNTRY_NAME, "KZ"),
    )
    assert interception_issuer(isca) == "kz.isca.root"
    escaped = issuer_as_cryptography_writes_it(
        (NameOID.COMMON_NAME, "Qaznet, Trust+Network"), (NameOID.COUNTRY_NAME, "KZ")
    )
    assert interception_issuer(escaped) is None


@given(st.text(max_size=200))
def test_interception_issuer_never_raises(issuer: str) -> None:
    interception_issuer(issuer)


def test_interception_certificate() -> None:
    qaznet = "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2"
    assert interception_certificate(qaznet) == "kz.cert.00309c736dd6"
    colons = ":".join(re.findall("..", qaznet.upper()))
    assert interception_certificate(colons) == "kz.cert.00309c736dd6"
    assert interception_certificate("00" * 32) is None
    assert interception_certificate("not hex") is None


# --- the data ------------------------------------------------------------------------------


def test_every_fingerprint_is_documented() -> None:
    fingerprints = all_fingerprints()
    assert 30 <= len(fingerprints) <= 150
    assert len({fp.id for fp in fingerprints}) == len(fingerprints)
    for fp in fingerprints:
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", fp.id), fp.id
        assert fp.source.strip() and fp.description.strip(), fp.id
        assert fp.country is None or re.fullmatch(r"[A-Z]{2}", fp.country), fp.id
        assert fp.id.startswith(("generic.", "product.", "http.")) == (fp.country is None), fp.id
        if fp.country is not None:
            assert fp.id.startswith(fp.country.lower() + "."), fp.id
        assert fingerprint_info(fp.id) == fp
    kinds = {fp.kind for fp in fingerprints}
    assert kinds == {"body", "header", "location", "status", "dns", "issuer", "certificate"}
    assert {"KZ", "RU"} <= {fp.country for fp in fingerprints}


def test_reused_censored_planet_data_keeps_its_licence() -> None:
    for fp in all_fingerprints():
        if "Censored Planet blockpage_signatures" in fp.source:
            assert "Apache-2.0" in fp.source, fp.id


def test_unknown_fingerprint_id() -> None:
    with pytest.raises(KeyError, match=r"no\.such\.id"):
        fingerprint_info("no.such.id")


def test_the_start_of_a_long_page_is_not_a_small_page() -> None:
    """A reader that keeps only a page's first bytes passes the whole length along: generic
    wording at the top of a long article is no blockpage."""
    wording = (
        b"<p>Access to the requested resource has been blocked<br/>by the decision of public "
        b"authorities.</p>"
    )
    assert match_blockpage(200, [], wording) == "generic.en.restricted"
    assert match_blockpage(200, [], wording, len(wording)) == "generic.en.restricted"
    assert match_blockpage(200, [], wording, 1 << 20) is None


def test_every_known_host_fits_the_labels_looked_at() -> None:
    from netprobe.analysis.fingerprints._database import database
    from netprobe.analysis.fingerprints._match import HOST_LABELS_MAX

    assert max(host.count(".") + 1 for host in database().locations) <= HOST_LABELS_MAX
