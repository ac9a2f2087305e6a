"""`hub witness key|trust|send|status`: each hub witnesses the other's agreement logs.

Set-up, once per peer (after `hub peer add`): each administrator runs `hub witness
key` and sends the line to the partner with the public key file; the partner runs
`hub witness trust PEER VKEY`, which shows the key's fingerprint, to be confirmed by
telephone like the signing keys.
"""

from __future__ import annotations

from datetime import datetime

import click

from hub.cli.errors import one_line_errors
from hub.operations import witness
from hub.operations.actor import SYSTEM


@click.group("witness")
def witness_group() -> None:
    """Cosign the partner hubs' checkpoints and have ours cosigned."""


@witness_group.command("key")
@one_line_errors
def witness_key() -> None:
    """This hub's checkpoint keys (C2SP vkey) and fingerprints, newest last."""
    keys = witness.own_fingerprints()
    if not keys:
        raise click.ClickException("this hub has no checkpoint key yet: run hub keys init")
    for vkey, fingerprint in keys:
        click.echo(f"{vkey}\n  fingerprint {fingerprint}")


@witness_group.command("trust")
@click.argument("name")
@click.argument("vkey")
@click.option("--yes", is_flag=True, help="Do not ask: the fingerprint was confirmed already.")
@one_line_errors
def witness_trust(name: str, vkey: str, yes: bool) -> None:
    """Confirm VKEY as the checkpoint key of the peer NAME (its `hub witness key`)."""
    try:
        fingerprint = witness.fingerprint(vkey.strip())
    except ValueError as exc:
        raise click.ClickException(f"not a verifier key: {exc}") from exc
    click.echo(f"Checkpoint key of {name}: fingerprint {fingerprint}")
    click.echo("Confirm this fingerprint with the partner by telephone or in person.")
    if not yes and not click.confirm("Does it match what the partner read out?"):
        raise click.ClickException("not confirmed")
    row = witness.confirm_key(SYSTEM, name, vkey)
    click.echo(f"Confirmed {row.key_name} for {name}: its checkpoints can be witnessed here.")


@witness_group.command("send")
@click.option("--peer", "name", default=None, help="Only this peer.")
@one_line_errors
def witness_send(name: str | None) -> None:
    """Send each shared log's newest checkpoint to the peers for cosigning, once;
    exit 1 when one was refused or a peer did not answer."""
    from hub.operations import cosigning

    result = cosigning.send_once(name)
    click.echo(
        f"Cosigned {result.cosigned}, refused {result.refused}, unreachable {result.unreachable}."
    )
    for line in result.errors:
        click.echo(f"  {line}", err=True)
    if result.errors:
        raise SystemExit(1)


@witness_group.command("status")
@click.argument("name")
@one_line_errors
def witness_status(name: str) -> None:
    """The peer's confirmed checkpoint keys, its logs cosigned here, the newest refusals."""
    view = witness.admin_view(SYSTEM, name)
    for key in view.keys:
        click.echo(
            f"key        {key.key_name} {key.fingerprint} (confirmed {_when(key.confirmed_at)})"
        )
    if not view.keys:
        click.echo(f"key        none confirmed: hub witness trust {name} VKEY")
    for row in view.witnessed:
        click.echo(f"cosigned   {row.origin} at {row.size} entries ({_when(row.cosigned_at)})")
    for r in view.refusals:
        by = "by us" if r.role == "witness" else "by the peer"
        click.echo(
            f"refused    {_when(r.at)} {by} {r.origin} {r.old_size}->{r.size}: "
            f"{r.status} {r.code}: {r.reason}"
        )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "never"


COMMANDS = (witness_group,)
