"""Reading the Citizen Lab test lists: what makes a download a list, what is skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netprobe.errors import TargetError, TargetListError
from netprobe.measure import testlists
from netprobe.measure.targets import select

HEADER = b"url,category_code,category_description,date_added,source,notes\n"


def test_a_list_keeps_its_categories_and_skips_rows_that_are_no_url() -> None:
    data = HEADER + b"https://a.test/,NEWS,,,,\nnot a url,NEWS,,,,\nhttp://b.test/x,,,,,\n"
    targets, skipped = testlists.parse_test_list(data, "kz.csv", "kz")
    assert [(t.url, t.list_name, t.category) for t in targets] == [
        ("https://a.test/", "kz", "NEWS"),
        ("http://b.test/x", "kz", None),
    ]
    assert skipped == ["kz.csv:3: invalid target 'not a url': spaces are not allowed"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html>Not Found</html>\n", "kz.csv:1: no 'url,...' header"),
        (HEADER + b'"https://a.test/,NEWS\n', "kz.csv:2: not valid CSV"),
        (HEADER + b"https://caf\xe9.test/\n", "kz.csv:2: not valid UTF-8"),
        (HEADER + b"no url here,NEWS\n", "kz.csv: no usable URL in the list"),
    ],
)
def test_what_is_no_list_says_where(data: bytes, reason: str) -> None:
    with pytest.raises(TargetListError) as caught:
        testlists.parse_test_list(data, "kz.csv", "kz")
    assert str(caught.value).startswith(reason)


def _fetched(folder: Path, name: str, body: bytes, days: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_bytes(body)
    when = datetime.now(UTC) - timedelta(days=days)
    meta = {"fetched_at": when.isoformat(), "rows": 1, "etag": None, "last_modified": None}
    (folder / f"{name}.json").write_text(json.dumps(meta), "utf-8")


def test_selected_lists_come_from_the_cache_each_target_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = testlists.lists_dir()
    _fetched(folder, "global", HEADER + b"https://www.facebook.com/,GRP\n", days=40)
    targets, _ = select(["https://www.facebook.com"], ["social", "global"], [])
    assert [t.url for t in targets].count("https://www.facebook.com/") == 1
    assert "test lists older than 30 days: global (40 days)" in caplog.text


def test_an_undownloaded_list_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(TargetError, match=r"run 'netprobe lists update --country KZ'"):
        select([], ["kz"], [])
    with pytest.raises(TargetError, match=r"unknown built-in list 'nosuchlist'"):
        select([], ["nosuchlist"], [])
