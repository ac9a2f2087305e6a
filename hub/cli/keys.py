"""`hub keys ...`: make, list, rotate, re-wrap, export and import keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hub import app_keyring
from hub.cli.errors import one_line_errors
from hub.crypto.keyring import CorruptKeyFile, KeyringError, parse_public_entry
from hub.operations import keys as key_ops
from hub.operations.actor import SYSTEM


def announce_demo_passphrase() -> None:
    """Say so when this process generated the development passphrase."""
    made = app_keyring.demo_passphrase_made()
    if made is not None:
        click.echo(
            f"Generated a DEMO keyring passphrase in {made} (development only). "
            "Without it the sealed data cannot be read: set HUB_KEY_PASSPHRASE or "
            "HUB_KEY_PASSPHRASE_FILE for real use.",
            err=True,
        )


def make_missing_keys(orgs: list[str] | None = None) -> None:
    """What `hub init` and `hub demo` call: missing keys for every organisation (or only
    ``orgs``) and the hub."""
    made = key_ops.init_keys(SYSTEM, orgs)
    announce_demo_passphrase()
    if made:
        click.echo("Keys made: " + ", ".join(f"{k.org}/{k.kind}-v{k.version}" for k in made))
    # Logs written before the hub's key existed (reference data at the first init) get
    # their first signed checkpoint now rather than at their next write.
    from hub.operations.audit import sign_all_checkpoints

    sign_all_checkpoints()


@click.group("keys")
def keys_group() -> None:
    """Manage the keyring (HUB_KEYS_DIR): organisations' and the hub's keys."""


@keys_group.command("init")
@click.option(
    "--org",
    "orgs",
    multiple=True,
    help="Only this organisation (repeatable); default: every one without keys here.",
)
@one_line_errors
def keys_init(orgs: tuple[str, ...]) -> None:
    """Make the keys missing for the organisations and the hub (safe to run again)."""
    made = key_ops.init_keys(SYSTEM, list(orgs) or None)
    announce_demo_passphrase()
    for info in made:
        click.echo(f"made {info.org:5} {info.kind:4} v{info.version}  {info.fingerprint}")
    click.echo(f"Keyring ready in {app_keyring.keyring().root} ({len(made)} keys made).")


@keys_group.command("list")
@one_line_errors
def keys_list() -> None:
    """Every key: organisation, kind, version, suite, created, fingerprint, private or public."""
    try:
        infos = app_keyring.keyring().list_keys()
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from exc
    if not infos:
        click.echo("No keys yet: run hub keys init.")
    for k in infos:
        held = "private" if k.has_private else "public"
        click.echo(
            f"{k.org:5} {k.kind:4} v{k.version:<3} {held:7} {k.created}  "
            f"{k.suite:36} {k.fingerprint}"
        )


@keys_group.command("rotate")
@click.argument("org")
@one_line_errors
def keys_rotate(org: str) -> None:
    """Make a new key version for ORG; new payloads use it, old ones still open."""
    version = key_ops.rotate(SYSTEM, org)
    click.echo(
        f"{org} now at key version {version}. Send partners the new public keys "
        f"(hub keys export-public {org}), then run hub keys rewrap {org}."
    )


@keys_group.command("rewrap")
@click.argument("org")
@one_line_errors
def keys_rewrap(org: str) -> None:
    """Re-wrap ORG's data keys to its newest key version (ciphertexts untouched)."""
    result = key_ops.rewrap_all(SYSTEM, org)
    click.echo(f"Re-wrapped {result.rewrapped} data keys of {org} to version {result.version}.")
    older = {v: n for v, n in result.remaining.items() if v < result.version}
    if older:
        click.echo(f"Still wrapped to older versions: {older}")
    else:
        click.echo(
            f"No payload needs an older {org} encryption key now: its private key files "
            "may be retired (moved offline), though keeping them costs nothing."
        )


@keys_group.command("export-public")
@click.argument("org")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@one_line_errors
def keys_export_public(org: str, output: Path | None) -> None:
    """ORG's public keys as one JSON file, for a partner to import."""
    try:
        text = app_keyring.keyring().export_public(org)
    except (KeyringError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {org}'s public keys to {output}.", err=True)


@keys_group.command("import-public")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask: the fingerprints were confirmed already.")
@one_line_errors
def keys_import_public(file: Path, yes: bool) -> None:
    """Store a partner's public keys after showing their fingerprints."""
    text = file.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
        org = str(document["org"])
        entries = [parse_public_entry(e, f"key {i}") for i, e in enumerate(document["keys"])]
    except (ValueError, KeyError, TypeError, CorruptKeyFile) as exc:
        raise click.ClickException(f"not a valid public key export: {exc}") from exc
    click.echo(f"Public keys of {org}:")
    for kind, version, suite, _raw, fp, created in entries:
        click.echo(f"  {kind:4} v{version:<3} {created}  {suite}\n       {fp}")
    click.echo("Confirm these fingerprints with the partner by telephone or in person.")
    if not yes and not click.confirm("Do they match what the partner read out?"):
        raise click.ClickException("not imported")
    org, _ = key_ops.import_public(SYSTEM, text)
    click.echo(f"Imported {len(entries)} public keys of {org}.")


COMMANDS = (keys_group,)
