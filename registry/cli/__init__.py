"""The `registry` command: database, lenders, policy, keys, tokens, operators, retention,
serve, demo.

Each group lives in its own module; this one assembles them.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from registry.cli.bench_data import bench_data
from registry.cli.borrowers import borrowers_group
from registry.cli.common import clock, console, session_scope, settings
from registry.cli.database import db_group
from registry.cli.keys import keys_group
from registry.cli.lenders import lenders_group
from registry.cli.operators import operators_group
from registry.cli.policy import policy_group
from registry.cli.retention import retention_group
from registry.cli.tokens import tokens_group
from registry.config import ConfigError
from registry_protocol import __version__

# The token cache of the demo's printed commands (the SDK reads $REGISTRY_TOKEN_CACHE): beside
# the demo database, so that a fresh demo (`make clean && make run`) trusts its fresh key.
DEMO_TOKEN_CACHE = "demo-token-cache.sqlite3"  # noqa: S105 - a file name, not a secret


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="registry")
def main() -> None:
    """Run and administer the debt-sharing registry.

    Configuration comes from the environment: REGISTRY_DATABASE_URL (default
    sqlite:///var/registry.db; PostgreSQL: postgresql://user@host/db), REGISTRY_SECRET_KEY,
    REGISTRY_ENV (development or production).

    \b
    First start:   registry db upgrade && registry demo && registry serve
    Onboard:       registry lenders add acme "Acme Credit"
    """


@main.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 listens on every interface.",
)
@click.option("--port", default=5000, show_default=True, type=int, help="TCP port to listen on.")
@click.option(
    "--debug/--no-debug",
    default=False,
    show_default=True,
    help="Flask's debugger and reloader; never on a reachable address.",
)
def serve(host: str, port: int, debug: bool) -> None:
    """Development server (Flask's, threaded): the lender API, the console at /console/ and a
    landing page at /. Settings come from the environment (see `registry --help`).

    \b
    In production use gunicorn instead:
      gunicorn -c python:registry.gunicorn_config 'registry:create_app()'
    """
    from registry import create_app

    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if debug and app.extensions["registry"].settings.production:
        # The debugger runs any code a visitor types: never where production data lives.
        raise click.UsageError("--debug is refused with REGISTRY_ENV=production")
    app.run(host=host, port=port, debug=debug, threaded=True)


@main.command()
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="Where the registry will be served, for the printed examples.",
)
def demo(url: str) -> None:
    """Load demo lenders, borrowers and inquiries (once) and print fresh demo API keys."""
    from registry.cli.keys import signer
    from registry.services.demo import seed_demo
    from registry.services.operators import ensure_demo_operator

    config = settings()
    if config.production:
        raise click.ClickException("refusing to load demo data with REGISTRY_ENV=production")
    with session_scope() as session:
        result = seed_demo(session, signer(), clock.now())
        operator, password = ensure_demo_operator(session, clock.now())
    cache = shlex.quote(_fresh_demo_token_cache(config.database_url))
    console.print(
        "[green]demo data loaded[/green]"
        if result.created
        else "[yellow]demo data already present; issued fresh demo keys[/yellow]"
    )
    console.print("Demo lenders and their API keys (each run revokes the previous demo keys):")
    for code, name, secret in result.keys:
        click.echo(f"  {code:<10} {secret}   # {name}")
    click.echo(f"Operator console: {url}/console/  user {operator}  password {password}")
    key = result.keys[0][2]
    console.print(
        "\nThe demo consortium's pepper (public, for the demo only; lenders tokenise IDs with it)"
        " and the demo's own token cache (started afresh by each demo run, so that it trusts"
        " this registry's key on first use):"
    )
    click.echo(f"  export REGISTRY_PEPPER={result.pepper_hex}")
    click.echo(f"  export REGISTRY_TOKEN_CACHE={cache}")
    console.print("Try it (an over-indebted applicant, by resident ID):")
    click.echo(
        f"  REGISTRY_URL={url} REGISTRY_API_KEY={key} REGISTRY_PEPPER={result.pepper_hex} "
        f"REGISTRY_TOKEN_CACHE={cache} "
        f"lender-client inquire --id-kind cn_resident_id --id {result.over_indebted_id} "
        "--consent-ref demo-1"
    )
    console.print("or with curl, by the applicant's token:")
    click.echo(
        f"  curl -s -X POST {url}/v1/inquiries -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' "
        f'-d \'{{"borrower": "{result.over_indebted_borrower}", "purpose": "new_credit", '
        f'"consent_ref": "demo-1"}}\''
    )
    # Plain echo: a token must not be wrapped across lines.
    click.echo(
        f"README walk-through applicant (owes two demo lenders): ID {result.walkthrough_id}, "
        f"token {result.walkthrough_borrower}"
    )
    sys.stdout.flush()


def _fresh_demo_token_cache(database_url: str) -> str:
    """The demo's token cache, emptied: beside the SQLite database (var/ by default), else in
    var/. A demo registry may have a new key (a new database, `make clean`); a cache of its
    own that starts empty pins whatever key this registry has, while a lender's real cache
    keeps refusing a changed key. Shown relative to the working directory when inside it."""
    url = make_url(database_url)
    folder = Path("var")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        folder = Path(url.database).parent
    path = folder / DEMO_TOKEN_CACHE
    for stale in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


main.add_command(db_group)
main.add_command(lenders_group)
main.add_command(policy_group)
main.add_command(operators_group)
main.add_command(keys_group)
main.add_command(tokens_group)
main.add_command(retention_group)
main.add_command(borrowers_group)
main.add_command(bench_data)
