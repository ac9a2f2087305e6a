"""`hub audit verify | proof | checkpoint`: the operator's view of the audit logs."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import click

from hub.audit import checkpoints, note, verify_fast
from hub.cli.errors import one_line_errors
from hub.extensions import db
from hub.operations import audit as ops
from hub.operations.actor import SYSTEM


@click.group("audit")
def audit_group() -> None:
    """Verify the tamper-evident audit logs, print proofs and checkpoints."""


@audit_group.command("verify")
@click.option("--agreement", "code", help="Only this agreement's log (`hub` for the hub log).")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint a partner kept: show that the log still extends it.",
)
@click.option("--deep", is_flag=True, help="Also decode every entry and check its columns.")
@one_line_errors
def verify_command(code: str | None, checkpoint_file: Path | None, deep: bool) -> None:
    """Recompute every log's tree and check every signed checkpoint.

    Exits 0 when everything holds; otherwise 1, naming the log and the first
    index that does not match in one line.
    """
    kept = checkpoint_file.read_text(encoding="utf-8") if checkpoint_file else None
    try:
        results = verify_fast.verify_logs(
            db.engine, log_name=code, partner_checkpoint=kept, deep=deep
        )
    except note.NoteError as exc:
        click.echo(f"hub: the checkpoint file {checkpoint_file} is refused: {exc}", err=True)
        sys.exit(1)
    except LookupError as exc:
        click.echo(f"hub: {exc.args[0]}", err=True)
        sys.exit(2)
    heads = {row.name: row.id for row in db.session.scalars(ops.logs_visible_to(SYSTEM))}
    for result in results:
        ops.record_verification(heads[result.log], result)
    failed = [r for r in results if not r.ok]
    for result in results:
        if result.ok:
            click.echo(result.line())
    from hub.operations import cosigning

    # What partner hubs cosigned: each still verifies and the log still gives its root.
    checked, problems = cosigning.check_cosignatures(code)
    if checked and not problems:
        click.echo(f"cosignatures: {checked} from partner hubs verify against the logs")
    for problem in problems:
        click.echo(f"hub: {problem.line()}", err=True)
    if failed:
        for result in failed:
            click.echo(f"hub: {result.line()}", err=True)
    if failed or problems:
        sys.exit(1)


@audit_group.group("proof")
def proof_group() -> None:
    """Inclusion and consistency proofs (JSON, RFC 6962 shapes)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@proof_group.command("inclusion")
@click.argument("code")
@click.option("--index", type=int, required=True, help="Entry index, from 0.")
@click.option("--size", type=int, help="Tree size (default: the current size).")
@one_line_errors
def proof_inclusion(code: str, index: int, size: int | None) -> None:
    """Proof that entry INDEX is in the log of agreement CODE at SIZE."""
    proof = ops.inclusion_proof(SYSTEM, code, index, size)
    click.echo(
        json.dumps(
            {
                "leaf_index": proof.leaf_index,
                "tree_size": proof.tree_size,
                "leaf_hash": _b64(proof.leaf_hash),
                "audit_path": [_b64(h) for h in proof.audit_path],
                "root_hash": _b64(proof.root),
            },
            indent=2,
        )
    )


@proof_group.command("consistency")
@click.argument("code")
@click.option("--from", "first", type=int, required=True, help="The older tree size.")
@click.option("--to", "second", type=int, help="The newer tree size (default: current).")
@one_line_errors
def proof_consistency(code: str, first: int, second: int | None) -> None:
    """Proof that the log of CODE at --to extends the log at --from."""
    proof = ops.consistency_proof(SYSTEM, code, first, second)
    click.echo(
        json.dumps(
            {
                "first": proof.first,
                "second": proof.second,
                "consistency": [_b64(h) for h in proof.consistency],
                "first_root": _b64(proof.first_root),
                "second_root": _b64(proof.second_root),
            },
            indent=2,
        )
    )


@audit_group.command("checkpoint")
@click.argument("code", required=False)
@click.option("--all", "every", is_flag=True, help="Sign a checkpoint for every log (cron).")
@one_line_errors
def checkpoint_command(code: str | None, every: bool) -> None:
    """Print the signed checkpoint covering the log of CODE (signing one if needed)."""
    if every == (code is not None):
        raise click.UsageError("give an agreement CODE or --all")
    try:
        if code is None:  # --all (the check above)
            for row in ops.sign_all_checkpoints():
                click.echo(f"{row.note.splitlines()[0]} {row.size}")
            return
        click.echo(ops.current_checkpoint(SYSTEM, code).note, nl=False)
    except checkpoints.CheckpointKeyUnavailable as exc:
        click.echo(f"hub: {exc}", err=True)
        sys.exit(2)


COMMANDS = (audit_group,)
