"""`registry lenders ...`: onboard lenders, suspend them, mark them exited, issue and revoke
their keys, exempt them from give to get.

Each command is one unit of work (`session_scope`): a new key is printed only once its
transaction has committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from rich.table import Table

from registry.cli.common import clock, console, session_scope
from registry.clock import iso
from registry.models import LenderStatus
from registry.services import audit, lenders, reciprocity

# A new member's give-to-get exemption: a month to connect and upload its book.
ONBOARDING_EXEMPT_DAYS = 30


@click.group("lenders")
def lenders_group() -> None:
    """Member lenders and their API keys."""


def _print_key(code: str, secret: str) -> None:
    console.print(f"API key for [bold]{code}[/bold] (shown once; store it now):")
    click.echo(secret)


@lenders_group.command("add")
@click.argument("code")
@click.argument("name")
@click.option(
    "--exempt-days",
    type=click.IntRange(0, 3650),
    default=ONBOARDING_EXEMPT_DAYS,
    show_default=True,
    help="Days the new lender may make new_credit inquiries before it has reported (give to "
    "get: onboarding). 0: none, it must upload its book first.",
)
def lenders_add(code: str, name: str, exempt_days: int) -> None:
    """Onboard a lender; prints its first API key once.

    CODE is short and lower-case (e.g. acme); NAME is the full name. Give to get: a lender may
    make new_credit inquiries only while it reports (an accepted upload within reciprocity_days,
    policy, and a loan on file); a new lender is exempt for --exempt-days while it onboards
    ('registry lenders exempt' changes or ends that)."""
    now = clock.now()
    until = now + timedelta(days=exempt_days) if exempt_days else None
    with session_scope() as session:
        lender, key = lenders.create_lender(session, code, name, now, actor=audit.CLI)
        if until is not None:
            reciprocity.set_exemption(session, lender, until, now, actor=audit.CLI)
    _print_key(lender.code, key.secret)
    if until is not None:
        click.echo(
            f"{lender.code} may make new_credit inquiries until {iso(until)} (onboarding); "
            "after that only while it reports its loans"
        )


@lenders_group.command("list")
def lenders_list() -> None:
    """Lenders with their status (and exit), active key prefixes and open loans."""
    with session_scope(write=False) as session:
        table = Table("code", "name", "status", "active keys", "open loans", "since")
        for row in lenders.list_lenders(session):
            exited = f", exited {row.exited_at.date().isoformat()}" if row.exited_at else ""
            table.add_row(
                row.code,
                row.name,
                row.status + exited,
                ", ".join(row.active_keys) or "-",
                str(row.open_loans),
                row.created_at.date().isoformat(),
            )
        console.print(table)


def _set_status(code: str, status: LenderStatus) -> None:
    with session_scope() as session:
        lender = lenders.get_lender(session, code)
        lenders.set_status(session, lender, status, clock.now(), actor=audit.CLI)
    click.echo(f"{lender.code} is now {status}")


@lenders_group.command("suspend")
@click.argument("code")
def lenders_suspend(code: str) -> None:
    """Suspend CODE: its keys get 403 until it is reactivated."""
    _set_status(code, LenderStatus.SUSPENDED)


@lenders_group.command("reactivate")
@click.argument("code")
def lenders_reactivate(code: str) -> None:
    """Reactivate a suspended lender."""
    _set_status(code, LenderStatus.ACTIVE)


@lenders_group.command("exit")
@click.argument("code")
def lenders_exit(code: str) -> None:
    """Mark CODE as having left the registry: its loans stay as its last word, stale from now on."""
    with session_scope() as session:
        lender = lenders.get_lender(session, code)
        exited = lenders.exit_lender(session, lender, clock.now(), actor=audit.CLI)
        when = lender.exited_at
    assert when is not None
    if exited:
        click.echo(
            f"{lender.code} has exited ({when.isoformat()}): its loans are stale from now on"
        )
    else:
        click.echo(f"{lender.code} had already exited ({when.isoformat()})")


@lenders_group.command("new-key")
@click.argument("code")
@click.option("--label", default="", help="A note to tell keys apart, e.g. 'rotation 2026-12'.")
def lenders_new_key(code: str, label: str) -> None:
    """Issue another API key for CODE, for rotation.

    The old keys keep working until they are revoked."""
    with session_scope() as session:
        lender = lenders.get_lender(session, code)
        key = lenders.issue_key(session, lender, clock.now(), label=label, actor=audit.CLI)
    _print_key(lender.code, key.secret)


@lenders_group.command("revoke-key")
@click.argument("code")
@click.argument("prefix")
def lenders_revoke_key(code: str, prefix: str) -> None:
    """Revoke one key of CODE, named by its PREFIX.

    'registry lenders list' shows the prefixes of each lender's active keys."""
    with session_scope() as session:
        lender = lenders.get_lender(session, code)
        revoked = lenders.revoke_key(session, lender, prefix, clock.now(), actor=audit.CLI)
    click.echo(
        f"key {prefix} of {lender.code} " + ("revoked" if revoked else "was already revoked")
    )


@lenders_group.command("quota")
@click.argument("code")
@click.option(
    "--inquiries-per-day",
    type=click.IntRange(0),
    help="Inquiries per UTC day (0: the default, $REGISTRY_INQUIRIES_PER_DAY).",
)
@click.option(
    "--burst",
    type=click.IntRange(0),
    help="Inquiries per minute (0: the default, $REGISTRY_INQUIRY_BURST_PER_MINUTE).",
)
@click.option(
    "--records-per-day",
    type=click.IntRange(0),
    help="Loan records uploaded per UTC day (0: the default, $REGISTRY_UPLOAD_RECORDS_PER_DAY).",
)
def lenders_quota(
    code: str, inquiries_per_day: int | None, burst: int | None, records_per_day: int | None
) -> None:
    """Show or set lender CODE's own quotas (past one, its requests get 429 with Retry-After;
    idempotent replays are free). Without options, shows them."""
    from registry.services.request_quotas import set_quotas

    with session_scope() as session:
        lender = lenders.get_lender(session, code)
        if (inquiries_per_day, burst, records_per_day) != (None, None, None):
            set_quotas(
                session,
                lender,
                clock.now(),
                audit.CLI,
                inquiries_per_day=inquiries_per_day,
                inquiry_burst_per_minute=burst,
                upload_records_per_day=records_per_day,
            )
        shown = {
            "inquiries per day": lender.inquiries_per_day,
            "inquiries per minute": lender.inquiry_burst_per_minute,
            "records per day": lender.upload_records_per_day,
        }
    for what, value in shown.items():
        click.echo(f"{what:<22} {value if value is not None else 'default'}")


@lenders_group.command("exempt")
@click.argument("code")
@click.option(
    "--until",
    "until",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]),
    help="Exempt CODE until this UTC date (its start: 00:00) or time, e.g. 2027-01-31; a "
    "date already past ends a current exemption.",
)
@click.option("--clear", is_flag=True, help="End CODE's exemption now.")
def lenders_exempt(code: str, until: datetime | None, clear: bool) -> None:
    """Exempt CODE from give to get until a date (--until), end its exemption (--clear), or,
    without options, show where it stands.

    Give to get: a lender may make new_credit inquiries only if it has at least one loan on
    file and an upload accepted within reciprocity_days (policy, 35); while exempt, it may
    anyway (onboarding). Audited."""
    if until is not None and clear:
        raise click.UsageError("give either --until or --clear, not both")
    now = clock.now()
    with session_scope() as session:
        lender = lenders.get_lender(session, code)
        if until is not None or clear:
            ends = until.replace(tzinfo=UTC) if until is not None else None
            changed = reciprocity.set_exemption(session, lender, ends, now, actor=audit.CLI)
            if not changed:
                click.echo(f"{lender.code}: nothing to change")
        position = reciprocity.standing(session, lender, now)
    _print_standing(lender.code, position)


def _print_standing(code: str, position: reciprocity.Standing) -> None:
    exempt = (
        f"exempt until {iso(position.exempt_until)}"
        if position.exempt and position.exempt_until is not None
        else "not exempt"
    )
    last = iso(position.last_reported_at) if position.last_reported_at else "never"
    click.echo(f"{code}: {exempt}")
    click.echo(f"  last accepted upload  {last} (reciprocity_days {position.reciprocity_days})")
    click.echo(f"  loans on file         {'yes' if position.has_loans else 'none'}")
    refusal = position.refusal(code)
    click.echo(
        "  new_credit inquiries  allowed"
        if refusal is None
        else f"  new_credit inquiries  refused: {refusal}"
    )
