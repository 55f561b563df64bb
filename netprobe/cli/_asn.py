"""`netprobe asn update` and `netprobe asn lookup`: the ASN data and lookups by hand."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from netprobe.cli._app import (
    EXIT_FAILED,
    EXIT_USAGE,
    die,
    main,
    print_json,
    routable_option,
    table_format_option,
)
from netprobe.cli._measure import verify_context

if TYPE_CHECKING:
    from netprobe.model.addresses import IPNetwork
    from netprobe.model.networks import ASInfo


@main.group("asn")
def asn_group() -> None:
    """ASN data: build the local IPASN file, look addresses up."""


@asn_group.command("update")
@click.option(
    "--dir",
    "directory",
    metavar="DIR",
    help="Where to write ipasn.dat and asnames.json (default: the user cache).",
)
@click.option(
    "--rib-url", metavar="URL", help="An MRT RIB dump to convert (default: RouteViews' latest)."
)
@click.option("--names-url", metavar="URL", help="The AS names page (default: CIDR report's).")
@click.option("--ca-bundle", metavar="PATH", help="CA certificates for the downloads.")
def asn_update_command(
    directory: str | None, rib_url: str | None, names_url: str | None, ca_bundle: str | None
) -> None:
    """Download the latest BGP table dump and build the IPASN data file from it."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from netprobe.errors import ASNUpdateError
    from netprobe.measure.asn import update_database

    verify = verify_context(ca_bundle)
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console,
        redirect_stdout=False, redirect_stderr=False, disable=not console.is_terminal,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)

        def stage(text: str) -> None:
            bar.update(task, description=text, completed=0, total=None)
            if not console.is_terminal:
                click.echo(f"netprobe: {text}", err=True)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = update_database(
                directory, rib_url=rib_url, names_url=names_url, progress=progress, stage=stage,
                verify=verify,
            )  # fmt: skip
        except ASNUpdateError as exc:
            die(EXIT_FAILED, str(exc))
    if result.note:
        click.echo(f"netprobe: warning: {result.note}", err=True)
    click.echo(
        f"{result.db_path}: {result.prefixes_v4} IPv4 and {result.prefixes_v6} IPv6 prefixes, "
        f"{result.as_names} AS names, from {result.rib_url}"
    )


@asn_group.command("lookup")
@click.argument("addresses", nargs=-1, required=True, metavar="IP...")
@click.option("--asn-db", metavar="PATH", help="IPASN data file (default: the user cache).")
@table_format_option
@routable_option
def asn_lookup_command(
    addresses: tuple[str, ...],
    asn_db: str | None,
    output_format: str | None,
    routable: tuple[IPNetwork, ...],
) -> None:
    """Show the ASN, prefix, AS name and country of addresses."""
    import asyncio
    import ipaddress
    from dataclasses import asdict

    from netprobe.errors import ASNError
    from netprobe.measure.asn import DEFAULT_DB, ASNResolver

    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            die(EXIT_USAGE, f"{address!r} is not an IP address")
    try:
        resolver = ASNResolver(asn_db or DEFAULT_DB, routable=routable)
    except ASNError as exc:
        die(EXIT_USAGE, str(exc))
    if resolver.note:
        click.echo(f"netprobe: {resolver.note}", err=True)

    async def look_up() -> list[ASInfo]:
        return list(await asyncio.gather(*(resolver.lookup_async(a) for a in addresses)))

    infos = asyncio.run(look_up())
    if (output_format or ("table" if sys.stdout.isatty() else "json")) == "json":
        rows = [{"address": a, **asdict(i)} for a, i in zip(addresses, infos, strict=True)]
        print_json(rows)
        return
    from rich.console import Console

    from netprobe.output.table import asn_table

    Console().print(asn_table(addresses, infos))
