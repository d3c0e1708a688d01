"""`registry bench-data`: a synthetic book at national scale for benchmarks (PostgreSQL)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from registry.cli.common import clock, session_scope, settings
from registry.services.errors import InvalidInput


@click.command("bench-data")
@click.option("--loans", type=int, default=1_000_000, show_default=True, help="Loans to build.")
@click.option(
    "--inquiries",
    type=int,
    default=None,
    help="Earlier inquiries to build (default: as many as loans).",
)
@click.option("--lenders", type=int, default=40, show_default=True, help="Lenders (30 or more).")
@click.option(
    "--months",
    type=int,
    default=6,
    show_default=True,
    help="Months of each loan's payment history kept in loan_months (1-24).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the data.")
@click.option(
    "--lender-prefix",
    default="bench",
    show_default=True,
    help="Lender codes are PREFIX001, PREFIX002, ...",
)
@click.option(
    "--keys-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the lenders' codes and API keys here as JSON (owner-only), instead of "
    "printing them.",
)
def bench_data(
    loans: int,
    inquiries: int | None,
    lenders: int,
    months: int,
    seed: int,
    lender_prefix: str,
    keys_file: Path | None,
) -> None:
    """Fill an empty, migrated PostgreSQL database with a synthetic book: LOANS loans with
    realistic skew (most borrowers owe one or two lenders, a tail owes 10 to 30), their
    history, months and references, lenders with API keys, and earlier inquiries.

    Borrower number N has the token SHA-256("bench-borrower-N"). Refused in production and
    on SQLite. Ten million loans: 22 GB, about 13 minutes on 2 shared cores (docs/benchmarks.md).
    """
    from registry.services.bench_data import BenchPlan, create_lenders, load

    config = settings()
    if config.production:
        raise click.ClickException("refusing to build benchmark data with REGISTRY_ENV=production")
    plan = BenchPlan(
        loans=loans,
        inquiries=loans if inquiries is None else inquiries,
        lenders=lenders,
        months=months,
        seed=seed,
        lender_prefix=lender_prefix,
    )
    started = time.perf_counter()
    now = clock.now()
    with session_scope() as session:
        made = create_lenders(session, plan, now)
    url = make_url(config.database_url).set(drivername="postgresql")
    try:
        result = load(url.render_as_string(hide_password=False), plan, made, now, click.echo)
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    seconds = time.perf_counter() - started
    click.echo(
        f"built {result.loans:,} loans of {result.borrowers:,} borrowers, {result.history:,} "
        f"history rows, {result.months:,} months, {result.inquiries:,} inquiries and "
        f"{lenders} lenders in {seconds:.1f} s"
    )
    click.echo(f"loans per borrower: {result.loans_by_borrower_count}")
    click.echo(f"loans by status: {result.status_counts}")
    document: dict[str, Any] = {**asdict(result), "seconds": round(seconds, 3)}
    document["lenders"] = [
        {"id": lender_id, "code": code, "key": key}
        for lender_id, (code, key) in zip(made.ids, made.keys, strict=True)
    ]
    if keys_file is not None:
        keys_file.touch(mode=0o600)
        keys_file.write_text(json.dumps(document, indent=1), encoding="utf-8")
        click.echo(f"lenders' API keys written to {keys_file}")
    else:
        for code, key in made.keys:
            click.echo(f"  {code:<10} {key}")
