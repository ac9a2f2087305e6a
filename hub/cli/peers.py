"""`hub peer ...`: partner hubs (add, add-key, retire-key, list, remove, status), the delivery
queue (deliver, send-again, export-queue)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from hub.cli.errors import one_line_errors
from hub.operations import peers
from hub.operations.actor import SYSTEM


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "never"


@click.group("peer")
def peer_group() -> None:
    """Partner hubs: register them, see their queues, deliver."""


@peer_group.command("add")
@click.argument("name")
@click.option("--url", required=True, help="The peer's base URL, e.g. https://hub.km.example.la")
@click.option("--org", "orgs", multiple=True, required=True, help="An organisation on it (repeat).")
@click.option(
    "--fingerprint",
    "fingerprints",
    multiple=True,
    help="A signing key fingerprint its administrator read out (repeat). "
    "Default: show the imported keys of --org and ask.",
)
@click.option("--yes", is_flag=True, help="Do not ask: the fingerprints were confirmed already.")
@one_line_errors
def peer_add(
    name: str, url: str, orgs: tuple[str, ...], fingerprints: tuple[str, ...], yes: bool
) -> None:
    """Register the partner hub NAME, where --org lives."""
    chosen = list(fingerprints)
    if not chosen:
        for org in orgs:
            keys = peers.partner_signing_keys(org.upper())
            if not keys:
                raise click.ClickException(
                    f"no public keys of {org} here: run hub keys import-public first"
                )
            click.echo(f"Signing keys of {org.upper()} imported here:")
            for version, fp in keys:
                click.echo(f"  v{version:<3} {fp}")
                chosen.append(fp)
        click.echo("Confirm these fingerprints with the partner by telephone or in person.")
        if not yes and not click.confirm("Do they match what the partner read out?"):
            raise click.ClickException("not registered")
    peer = peers.add(
        SYSTEM, peers.NewPeer(name=name, url=url, organisations=list(orgs), fingerprints=chosen)
    )
    click.echo(
        f"Registered peer {peer.name} at {peer.base_url} for {', '.join(peer.org_codes)} "
        f"({len(peer.keys)} confirmed keys)."
    )


@peer_group.command("add-key")
@click.argument("name")
@click.option("--fingerprint", default=None, help="The fingerprint its administrator read out.")
@click.option("--yes", is_flag=True, help="Do not ask: the fingerprint was confirmed already.")
@one_line_errors
def peer_add_key(name: str, fingerprint: str | None, yes: bool) -> None:
    """Confirm a new signing key of NAME (its organisation rotated keys): import the
    partner's public keys first (hub keys import-public), then compare by telephone."""
    waiting = peers.unconfirmed_keys(SYSTEM, name)
    if fingerprint is None:
        if len(waiting) != 1:
            for org, version, fp in waiting:
                click.echo(f"  {org} v{version:<3} {fp}")
            raise click.ClickException(
                "no imported key waits to be confirmed: run hub keys import-public first"
                if not waiting
                else "several keys wait: name one with --fingerprint"
            )
        fingerprint = waiting[0][2]
    shown = [w for w in waiting if w[2] == fingerprint.strip().lower()]
    for org, version, fp in shown:
        click.echo(f"Signing key of {org} v{version} imported here: {fp}")
    click.echo("Confirm this fingerprint with the partner by telephone or in person.")
    if not yes and not click.confirm("Does it match what the partner read out?"):
        raise click.ClickException("not confirmed")
    key = peers.add_key(SYSTEM, name, fingerprint)
    click.echo(f"Confirmed {key.org_code} v{key.key_version} {key.fingerprint} for {name}.")


@peer_group.command("retire-key")
@click.argument("name")
@click.argument("fingerprint")
@one_line_errors
def peer_retire_key(name: str, fingerprint: str) -> None:
    """Stop accepting what NAME signs with FINGERPRINT (rotated away from, or lost)."""
    key = peers.retire_key(SYSTEM, name, fingerprint)
    click.echo(f"Retired {key.org_code} v{key.key_version} {key.fingerprint} for {name}.")


@peer_group.command("list")
@one_line_errors
def peer_list() -> None:
    """Every peer: organisations, address, queue, last contact, last error."""
    rows = peers.list_peers(SYSTEM)
    if not rows:
        click.echo("No peers: this hub delivers nothing online (hub peer add).")
    for s in rows:
        state = "active" if s.peer.active else f"removed {_when(s.peer.removed_at)}"
        click.echo(
            f"{s.peer.name:16} {','.join(s.peer.org_codes):10} {s.peer.base_url}  {state}  "
            f"queued {s.queued}  delivered {s.delivered}  refused {s.refused}  "
            f"last contact {_when(s.last_contact)}"
        )
        if s.last_error:
            click.echo(f"{'':16} last error {_when(s.last_error_at)}: {s.last_error}")


@peer_group.command("remove")
@click.argument("name")
@one_line_errors
def peer_remove(name: str) -> None:
    """Stop delivering to NAME and refuse its requests (its queue stays, for export)."""
    peer = peers.remove(SYSTEM, name)
    click.echo(f"Removed peer {peer.name}; its requests are refused from now on.")


@peer_group.command("status")
@click.argument("name")
@click.option("--check", is_flag=True, help="Also send it a signed hello: does it know us?")
@one_line_errors
def peer_status(name: str, check: bool) -> None:
    """One peer: its keys, queue length, oldest queued, next attempt, last contact and error."""
    s = peers.status(SYSTEM, name)
    click.echo(f"peer          {s.peer.name} ({'active' if s.peer.active else 'removed'})")
    click.echo(f"address       {s.peer.base_url}")
    click.echo(f"organisations {', '.join(s.peer.org_codes)}")
    for key in s.peer.keys:
        click.echo(f"key           {key.org_code} v{key.key_version} {key.fingerprint}")
    click.echo(f"queued        {s.queued} (oldest {_when(s.oldest_queued)})")
    click.echo(f"delivered     {s.delivered}")
    click.echo(f"refused       {s.refused}")
    for row in peers.refused_items(SYSTEM, name):
        click.echo(f"  #{row.id} {row.kind} exchange {row.exchange_id}: {row.last_error}")
    click.echo(f"next attempt  {_when(s.next_attempt) if s.queued else '-'}")
    click.echo(f"last contact  {_when(s.last_contact)}")
    click.echo(f"last error    {s.last_error or '-'} ({_when(s.last_error_at)})")
    if check:
        from hub.operations import delivery

        answer = delivery.check_peer(SYSTEM, name)
        if not answer["ok"]:
            raise click.ClickException(f"the peer did not accept a signed hello: {answer['error']}")
        click.echo(
            f"check         answered: it knows us as {answer['organisation']} ({answer['peer']})"
        )


@peer_group.command("deliver")
@click.option("--peer", "name", default=None, help="Only this peer.")
@click.option("--all", "everything", is_flag=True, help="Also what is waiting out a back-off.")
@one_line_errors
def peer_deliver(name: str | None, everything: bool) -> None:
    """Try every queued package that is due, once; exit 1 when some are still queued."""
    from hub.operations import delivery

    result = delivery.deliver_once(peer_name=name, include_waiting=everything)
    click.echo(
        f"Delivered {result.delivered}, failed {result.failed}, refused {result.refused}, "
        f"still queued {result.left}."
    )
    for line in result.errors:
        click.echo(f"  {line}", err=True)
    if result.left:
        raise SystemExit(1)


@peer_group.command("send-again")
@click.argument("name")
@click.option("--item", "items", multiple=True, type=int, help="Only this package (repeat).")
@one_line_errors
def peer_send_again(name: str, items: tuple[int, ...]) -> None:
    """Queue NAME's refused packages again, once the cause is fixed (see hub peer status)."""
    done = peers.send_again(SYSTEM, name, list(items) if items else None)
    click.echo(f"Queued again: {len(done)} packages {' '.join(f'#{i}' for i in done)}".rstrip())


@peer_group.command("export-queue")
@click.argument("name")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder (e.g. on the USB stick); one file per queued package.",
)
@one_line_errors
def peer_export_queue(name: str, output: Path) -> None:
    """Write NAME's queued packages as files for `hub package import` at the partner."""
    from hub.operations import delivery

    written = delivery.export_queue(SYSTEM, name, output)
    for path in written:
        click.echo(f"Wrote {path}")
    click.echo(
        f"{len(written)} packages. The partner runs hub package import on each and sends "
        "back the receipts (hub package receipt FILE): the queue then marks them received."
    )


COMMANDS = (peer_group,)
