"""``python -m lender_client`` runs the ``lender-client`` command."""

from lender_client.cli import main

main()
