"""`registry retention run`: remove what the registry no longer keeps (daily in production).

Unlike the other commands, the run is not one unit of work: it removes in batches, each
committed on its own (`services/retention_run`), so that a large backlog never holds one huge
transaction. It is idempotent: a second run, or a run after a failed one, removes only what is
left.
"""

from __future__ import annotations

import click

from registry.cli.common import clock, settings
from registry.clock import iso
from registry.db import make_engine, make_session_factory
from registry.services import audit
from registry.services.errors import ServiceError
from registry.services.retention_run import BATCH_SIZE, run_retention

# What each count is, for the printed table.
KINDS = {
    "loans": "loans past retention",
    "loan_history": "their reports (history rows)",
    "loan_months": "their monthly statuses",
    "loan_corrections": "their corrected reports",
    "disputes": "their disputes",
    "loan_refs": "lender references naming no loan",
    "inquiries": "inquiries over 2 years old",
    "application_outcomes": "application outcomes over 2 years old",
    "inquiry_keys": "inquiries' idempotency keys",
    "phone_sightings": "phone sightings (90 days, or borrower gone)",
}


@click.group("retention")
def retention_group() -> None:
    """Retention: how long the registry keeps loans, inquiries and phone sightings.

    \b
    Negative loans (ever past due, written off): 5 years after the negative event ended
      (brought current, closed, or written off), 征信业管理条例 art. 16 / FCRA §605.
    Closed loans without negative history: retention_closed_months (policy, 60) after closing.
    Inquiries and application outcomes: 2 years. Phone sightings: 90 days.
    Reports apply the same rules when they read; the run removes the rows.
    """


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=BATCH_SIZE,
    show_default=True,
    help="Rows removed per transaction.",
)
def retention_run(dry_run: bool, batch_size: int) -> None:
    """Remove everything past retention, with its history, months, corrections, disputes and
    phone sightings; print the counts per kind. Writes one audit event (retention_run).

    \b
    Run it daily, e.g. from cron:
      17 3 * * *  registry retention run
    """
    now = clock.now()
    engine = make_engine(settings().database_url)
    session = make_session_factory(engine)()
    try:
        counts = run_retention(
            session, now, dry_run=dry_run, batch_size=batch_size, actor=audit.CLI
        )
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        session.close()
        engine.dispose()
    click.echo(f"Retention run at {iso(now)}" + (" (dry run: nothing removed)" if dry_run else ""))
    click.echo(f"{'kind':<22} {'would go' if dry_run else 'removed':>9}  what")
    for kind, count in counts.items():
        click.echo(f"{kind:<22} {count:>9}  {KINDS.get(kind, '')}")
