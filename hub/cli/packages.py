"""`hub package export|import|receipt`: sealed packages that travel outside the hub."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli.errors import one_line_errors
from hub.operations import packages
from hub.operations.actor import SYSTEM


@click.group("package")
def package_group() -> None:
    """Sealed packages: export an exchange for a partner, import one, record receipts."""


@package_group.command("export")
@click.argument("exchange_id", type=int)
@click.option("--to", "to_org", required=True, help="Recipient organisation code, e.g. KM.")
@click.option(
    "--as", "exporter", default=None, help="Exporting organisation (default: the sender)."
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@one_line_errors
def package_export(exchange_id: int, to_org: str, exporter: str | None, output: Path) -> None:
    """Write EXCHANGE_ID (with its replies and attachments) as a sealed package for --to."""
    if output.exists():
        raise click.ClickException(f"{output} exists; nothing is overwritten")
    result = packages.export(SYSTEM, exchange_id, to_org, exporter_org=exporter)
    output.write_text(result.text, encoding="utf-8")
    click.echo(f"Wrote {output}: {result.items} sealed items for {to_org}.")
    click.echo(f"Package digest (the receipt names it): {result.digest}")


@package_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-r",
    "--receipt",
    "receipt_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the signed receipt (default: FILE.receipt.json).",
)
@one_line_errors
def package_import(file: Path, receipt_path: Path | None) -> None:
    """Verify and store a partner's package, then write the signed receipt to send back."""
    receipt_path = receipt_path or file.with_name(file.name + ".receipt.json")
    if receipt_path.exists():
        raise click.ClickException(f"{receipt_path} exists; nothing is overwritten")
    result = packages.import_package(SYSTEM, file.read_bytes())
    receipt_path.write_text(result.receipt, encoding="utf-8")
    ids = ", ".join(str(i) for i in result.exchange_ids)
    click.echo(f"Imported exchanges {ids} from {result.exporter} for {result.recipient}.")
    click.echo(f"Signed receipt written to {receipt_path}: send it back to {result.exporter}.")


@package_group.command("receipt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@one_line_errors
def package_receipt(file: Path) -> None:
    """Record a partner's signed receipt for a package this hub exported."""
    row = packages.record_receipt(SYSTEM, file.read_bytes())
    click.echo(
        f"Recorded {row.recipient_org}'s receipt for exchange {row.exchange_id} "
        f"(package {row.package_sha256[:16]}…)."
    )


COMMANDS = (package_group,)
