"""Playwright driving Debian's Chromium through the storefront of the running stack.

Never ``playwright install``: it downloads a browser, which fails on these machines.
Every page a journey visits is saved to ``e2e/screenshots/`` for a person to look at;
the few the README shows are copied to ``docs/screenshots/`` on every run, so the README
always shows the storefront as the last browser run saw it.
"""

from __future__ import annotations

import email
import os
import re
import shutil
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from conftest import service_url

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "Plenty-Of-Entropy-42"
# (journey, visitor, shot) -> the file in docs/screenshots/ the README's opening shows.
README_SCREENSHOTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
README_SCREENSHOTS = {
    ("sell_then_buy_and_pay", "buyer", "search"): "listing.png",
    ("sell_then_buy_and_pay", "buyer", "order-pay"): "order-countdown.png",
    ("sell_then_buy_and_pay", "buyer", "order-paid"): "payment.png",
}


@pytest.fixture(scope="session")
def web_url() -> str:
    return service_url("web", 8000)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Visitor:
    """One person at one browser: a page plus the screenshots of where they went."""

    def __init__(self, context: BrowserContext, journey: str, name: str, counter: list[int]) -> None:
        self.page: Page = context.new_page()
        self.journey = journey
        self.name = name
        self._counter = counter
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(f"{self.page.url}: {error.stack or error}"))

    def shot(self, what: str) -> Path:
        self._counter[0] += 1
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{self.journey}-{self._counter[0]:02d}-{self.name}-{what}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if featured := README_SCREENSHOTS.get((self.journey, self.name, what)):
            README_SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SCREENSHOTS_DIR / featured)
        return path

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        page = self.page
        page.goto("/signin")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        self.shot("sign-in")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_test_id("current-user")).to_contain_text(email)

    def search(self, title: str) -> None:
        page = self.page
        page.goto("/")
        page.get_by_label("Search tickets").fill(title)
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_test_id("search-summary")).to_contain_text(title)

    def fill_card(self, number: str) -> None:
        """localstripe's stand-in card element: plain inputs named by their placeholders."""
        card = self.page.locator("#card-element")
        for placeholder, value in (
            ("number", number),
            ("exp_month", "12"),
            ("exp_year", "34"),
            ("cvc", "123"),
            ("postal_code", "10001"),
        ):
            card.locator(f"input[placeholder='{placeholder}']").fill(value)


@pytest.fixture
def visitor(browser: Browser, web_url: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Visitor]]:
    """``visitor("buyer", viewport=PHONE)``: a fresh browser context, so a separate person."""
    journey = re.sub(r"^test_", "", request.node.name)
    counter = [0]
    contexts: list[BrowserContext] = []
    visitors: list[Visitor] = []

    def open_visitor(name: str, viewport: dict[str, int] = DESKTOP) -> Visitor:
        context = browser.new_context(base_url=web_url, viewport=viewport)
        context.set_default_timeout(15_000)
        contexts.append(context)
        visitors.append(Visitor(context, journey, name, counter))
        return visitors[-1]

    yield open_visitor
    for context in contexts:
        context.close()
    errors = [f"{v.name}: {error}" for v in visitors for error in v.errors]
    assert not errors, f"JavaScript errors in the pages: {errors}"


def mail_dir() -> Path:
    """Where the test stack's services write their mail (devstack: ``<data dir>/mail``)."""
    data = os.environ.get("TEST_DEVSTACK_DATA_DIR") or str(Path(__file__).resolve().parents[2] / ".data" / "test")
    return Path(os.environ.get("E2E_MAIL_DIR", Path(data) / "mail"))


def mail_to(address: str) -> email.message.EmailMessage | None:
    folder = mail_dir()
    if not folder.exists():
        return None
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == address:
            return message
    return None
