"""Searching the catalog with filters (desktop and phone), and resetting a forgotten password
from the emailed link (the ``.eml`` file the test stack writes), as people do it in a browser."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from browser.conftest import PASSWORD, PHONE, mail_dir, mail_to
from conftest import eventually

pytestmark = pytest.mark.usefixtures("tickets_url")

NEW_PASSWORD = "Another-Long-Passphrase-7"


def list_event(seller, tickets_url: str, **fields) -> dict:
    response = seller.http.post(f"{tickets_url}/api/tickets", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def catalog(new_user, tickets_url):
    """Three events with one word in common, across categories, cities and prices."""
    seller = new_user()
    tag = f"zq{uuid.uuid4().hex[:6]}"
    start = (datetime.now(UTC) + timedelta(days=30)).replace(hour=20, minute=0, second=0, microsecond=0)
    listed = [
        list_event(seller, tickets_url, title=f"Arctic Monkeys {tag}", price="80.00", category="concert",
                   city="Berlin", venue="Columbiahalle", starts_at=start.isoformat()),
        list_event(seller, tickets_url, title=f"Jazz evening {tag}", price="25.00", category="concert",
                   city="Paris", venue="New Morning", starts_at=(start + timedelta(days=2)).isoformat()),
        list_event(seller, tickets_url, title=f"Hamlet {tag}", price="60.00", category="theatre",
                   city="Berlin", venue="Berliner Ensemble", starts_at=(start + timedelta(days=5)).isoformat()),
    ]
    return tag, listed


def test_search_with_filters_on_a_desktop(visitor, catalog):
    tag, _ = catalog
    person = visitor("buyer")
    page = person.page
    page.goto("/")
    page.get_by_label("Search tickets").fill(tag)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_test_id("search-summary")).to_contain_text(f"3 tickets matching “{tag}”.")
    expect(page.get_by_test_id("facet-concert")).to_have_text("2")
    expect(page.get_by_test_id("facet-theatre")).to_have_text("1")
    person.shot("search")

    page.get_by_label("Concert").check()
    page.get_by_label("City").select_option("Berlin")
    page.get_by_test_id("apply-filters").click()
    expect(page).to_have_url(re.compile(r"category=concert.*city=Berlin"))
    expect(page.get_by_test_id("search-summary")).to_contain_text(f"1 ticket matching “{tag}”.")
    card = page.get_by_role("link", name=f"Arctic Monkeys {tag}")
    expect(card).to_be_visible()
    expect(page.get_by_text("Columbiahalle, Berlin")).to_be_visible()
    expect(page.get_by_test_id("when").first).to_have_text(re.compile(r"^\w{3} \d{1,2} \w{3}( \d{4})?, 20:00$"))
    person.shot("filtered")

    shared = page.url  # the filters are in the URL: the same search opens for anyone
    page.get_by_label("Concert").uncheck()
    page.get_by_label("City").select_option("")
    page.get_by_test_id("apply-filters").click()
    page.get_by_label("Sort by").select_option("-price")
    expect(page).to_have_url(re.compile(r"sort=-price"))
    titles = page.locator("article h2").all_inner_texts()
    assert titles == [f"Arctic Monkeys {tag}", f"Hamlet {tag}", f"Jazz evening {tag}"], titles
    person.shot("sorted")

    other = visitor("friend").page
    other.goto(shared)
    expect(other.get_by_test_id("search-summary")).to_contain_text("1 ticket")

    page.goto(f"/?q={tag}&price_min=1000")
    expect(page.get_by_test_id("empty-state")).to_contain_text("wider price or date range")
    person.shot("empty")


def test_search_with_filters_on_a_phone(visitor, catalog):
    tag, _ = catalog
    person = visitor("buyer", viewport=PHONE)
    page = person.page
    page.goto(f"/?q={tag}")
    expect(page.get_by_test_id("search-summary")).to_contain_text("3 tickets")
    expect(page.get_by_label("Concert")).to_be_hidden()  # the sidebar is folded away on a phone
    person.shot("results")

    page.get_by_test_id("show-filters").click()
    expect(page.get_by_label("Theatre")).to_be_visible()
    person.shot("filters-open")
    page.get_by_label("Theatre").check()
    page.get_by_test_id("apply-filters").click()

    expect(page).to_have_url(re.compile(r"category=theatre"))
    expect(page.get_by_test_id("search-summary")).to_contain_text("1 ticket")
    expect(page.get_by_role("link", name=f"Hamlet {tag}")).to_be_visible()
    expect(page.get_by_test_id("show-filters")).to_contain_text("1")  # one filter on
    person.shot("filtered")


def test_password_reset_from_the_emailed_link(visitor, new_user):
    user = new_user()
    person = visitor("forgetful")
    page = person.page
    page.goto("/signin")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(user.email)
    person.shot("forgot")
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_test_id("reset-sent")).to_contain_text(f"If an account exists for {user.email}")
    person.shot("sent")

    message = eventually(lambda: mail_to(user.email), what=f"an email to {user.email} in {mail_dir()}")
    assert message["Subject"] == "Reset your password"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = re.search(r"https?://\S+/reset/\S+/\S+", text).group(0)
    assert link in html

    page.goto(link)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    person.shot("new-password")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_text("Your password was changed.")).to_be_visible()
    person.sign_in(user.email, NEW_PASSWORD)
    person.shot("signed-in")

    again = visitor("someone-else").page
    again.goto(link)
    again.get_by_label("New password").fill("Yet-Another-Passphrase-9")
    again.get_by_role("button", name="Set the new password").click()
    expect(again.get_by_test_id("bad-link")).to_be_visible()
    assert PASSWORD != NEW_PASSWORD
