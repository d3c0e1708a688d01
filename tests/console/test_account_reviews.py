"""Account reviews per lender on the console (issue 12): counted on the lender page, and a
lender reviewing a large share of its open book in a week listed on the dashboard."""

from __future__ import annotations

from tests.api.test_account_review import B, report, review
from tests.helpers import loan


def test_reviews_are_counted_per_lender_and_a_spike_is_listed(client, new_lender, console_as):
    holder = new_lender("holder", "Holder Credit")
    report(client, holder, loan("H9", B))
    for _ in range(20):
        assert review(client, holder).status_code == 200
    analyst = console_as("analyst")
    page = analyst.get("/console/lenders/holder").get_data(as_text=True)
    assert 'id="account-review-count">20<' in page and 'id="new-credit-count">0<' in page
    dashboard = analyst.get("/console/").get_data(as_text=True)
    spikes = dashboard.split('id="review-spikes"', 1)[1].split("</section>", 1)[0]
    # 20 reviews in a week against one open loan.
    assert "Holder Credit" in spikes and '<td class="num">20</td><td class="num">1</td>' in spikes


def test_a_few_reviews_of_a_large_book_are_not_a_spike(client, new_lender, console_as):
    holder = new_lender("holder")
    report(client, holder, *[loan(f"H{n}", B if n == 0 else n) for n in range(5)])
    for _ in range(3):
        assert review(client, holder).status_code == 200
    dashboard = console_as("analyst").get("/console/").get_data(as_text=True)
    assert "No lender's account reviews stand out." in dashboard
