"""`netprobe lists update` against a test-lists mirror in the testbed: a first download,
an unchanged one (304), broken lists and a server that is down (the old lists stay),
and running the lists, each target once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netprobe.measure.targets import select
from tests.integration.helpers import netprobe

pytestmark = pytest.mark.testbed


def _lists(testbed: Any, cache: Path, *args: str) -> Any:
    argv = ["python3", "-m", "netprobe", "lists", *args]
    return testbed.networks["censored"].run(argv, timeout=60, env={"XDG_CACHE_HOME": str(cache)})


def test_lists_update_keeps_what_it_has_and_runs_each_target_once(
    testbed: Any, tmp_path: Path
) -> None:
    mirror = testbed.sites["lists.mirror.test"].ip
    cache = tmp_path / "cache"
    source = f"http://{mirror}/lists/"
    first = _lists(testbed, cache, "update", "--country", "KZ", "--source", source)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].split()[:3] == ["global", "updated", "3"] and "1 rows skipped" in lines[0]
    assert lines[1].split()[:3] == ["kz", "updated", "2"]
    saved = cache / "netprobe" / "test-lists"
    before = {p.name: p.read_bytes() for p in saved.glob("*.csv")}
    assert set(before) == {"global.csv", "kz.csv"}

    again = _lists(testbed, cache, "update", "--country", "kz", "--source", source)
    assert again.returncode == 0, again.stderr
    assert [line.split()[:2] for line in again.stdout.splitlines()] == [
        ["global", "unchanged"],
        ["kz", "unchanged"],
    ]

    broken = _lists(testbed, cache, "update", "-q", "--country", "kz", "--source",
                    f"http://{mirror}/broken/lists/")  # fmt: skip
    assert broken.returncode == 1
    out = broken.stdout
    assert "global   failed" in out and "global.csv:3: not valid CSV" in out, out
    assert "kz       failed" in out and "kz.csv:2: not valid UTF-8" in out, out
    assert "the list already here is kept" in out
    down = _lists(testbed, cache, "update", "-q", "--source", f"http://{mirror}:81/lists/")
    assert down.returncode == 1 and "global   failed" in down.stdout
    assert {p.name: p.read_bytes() for p in saved.glob("*.csv")} == before

    shown = _lists(testbed, cache)
    assert shown.returncode == 0, shown.stderr
    assert "global          3 targets  Citizen Lab test list, fetched today" in shown.stdout

    run = netprobe(
        testbed, "censored", [], "-l", "global", "-l", "kz", "--format", "json",
        env={"XDG_CACHE_HOME": str(cache)},
    )  # fmt: skip
    assert run.code == 0, run.stderr
    urls = [r["url"] for r in run.report["results"]]
    assert (
        sorted(urls)
        == sorted(set(urls))
        == [
            "http://plain.clean.test/",
            "https://sni-reset.tls.test/",
            "https://www.clean.test/",
            "https://www.mitm-one.test/",
        ]
    )
    categories = {r["url"]: (r["list"], r["category"]) for r in run.report["results"]}
    assert categories["https://sni-reset.tls.test/"] == ("kz", "POLR")
    assert "1 rows of the global test list skipped" in run.stderr


def test_an_undownloaded_list_says_how_to_get_it(testbed: Any, tmp_path: Path) -> None:
    run = netprobe(testbed, "censored", [], "-l", "kz", env={"XDG_CACHE_HOME": str(tmp_path)})
    assert run.code == 2
    assert "'netprobe lists update --country KZ'" in run.stderr
    shown = _lists(testbed, tmp_path)
    assert "none downloaded yet" in shown.stdout
    assert json.dumps(shown.stdout)  # printable, one short block


def test_the_country_list_is_the_measured_networks(testbed: Any, tmp_path: Path) -> None:
    mirror = testbed.sites["lists.mirror.test"].ip
    fetched = _lists(testbed, tmp_path, "update", "-q", "--country", "kz", "--source",
                     f"http://{mirror}/lists/")  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    run = netprobe(testbed, "censored", [], "-l", "country", "--cc", "KZ", "--asn", "64501",
                   "--format", "json", env=env)  # fmt: skip
    assert run.code == 0, run.stderr
    assert sorted(r["url"] for r in run.report["results"]) == [
        "https://sni-reset.tls.test/",
        "https://www.clean.test/",
    ]
    elsewhere = netprobe(testbed, "censored", [], "-l", "country", "--cc", "KG", "--asn", "64502",
                         "--format", "json", env=env)  # fmt: skip
    assert elsewhere.code == 0, elsewhere.stderr
    assert elsewhere.report["results"] == []
    assert any("'netprobe lists update --country KG'" in n for n in elsewhere.report["notes"])


def test_a_list_repeating_built_in_targets_selects_each_once(
    testbed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Selected only: these are real sites, which the testbed never measures."""
    mirror = testbed.sites["lists.mirror.test"].ip
    fetched = _lists(testbed, tmp_path, "update", "-q", "--country", "KG", "--source",
                     f"http://{mirror}/lists/")  # fmt: skip
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    targets, _ = select([], ["social", "kg"], [])
    urls = [t.url for t in targets]
    assert urls.count("https://www.facebook.com/") == urls.count("https://www.instagram.com/") == 1
    assert len(urls) == len(set(urls)) == len(select([], ["social"], [])[0])
