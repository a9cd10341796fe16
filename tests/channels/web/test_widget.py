"""The web widget in a browser: real headless Chromium against the session's real servers.

Debian's Chromium (/usr/bin/chromium, installed by scripts/setup.sh) is driven
by Playwright; axe-core checks the WCAG 2.1 A/AA and RGAA 4 rules. The pages
are served by the bot's own Rasa server (the web channel of credentials.yml).
Screenshots of the panel are written to tests/artifacts/widget-*.png for a
person to look at. The channel's own checks (signed ids, allowed sites, bad
bodies, limits) are tested in-process in test_channel.py.

Run alone: .venv/bin/python -m pytest tests/channels/web/test_widget.py -q
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from bot.channels.texts import RATE_LIMITED, UNAVAILABLE
from bot.staff.report import Category, collect
from tests.support import ARTIFACTS, RunningBot

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Rule tags of axe-core 4.12: WCAG 2.1 levels A and AA, and RGAA 4.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "RGAAv4"]},
    "resultTypes": ["violations"],
}
# A generous bound for the bot to answer on a busy machine; nothing asserts durations.
REPLY_MS = 120_000

TITLE = "Assistant de Toulouse Métropole"
CITY_ORIGIN = "https://www.toulouse-metropole.fr"  # allowed in credentials.yml
OTHER_ORIGIN = "https://site-tiers.example"  # allowed nowhere

SMART_CITY_QUESTION = "combien la métropole investit dans la smart city ?"
FOLLOW_UP_QUESTION = "qui a gagné le prix icapital ?"
HELP_ANSWER = "je réponds sur"  # in the reply to "aide", not in the welcome text

MESSAGES = re.compile(r"/webhooks/web/messages$")
API_CALLS = re.compile(r"/webhooks/web/(conversations|messages)$")

# The deepest focused element, through the widget's shadow root, as a user perceives it.
FOCUSED_JS = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const label = el.labels && el.labels.length ? el.labels[0].innerText : "";
  const name = el.getAttribute("aria-label") || label || el.innerText || "";
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
  return {
    tag: el.tagName.toLowerCase(),
    role: el.getAttribute("role") || "",
    name: name.replace(/\\s+/g, " ").trim(),
    inWidget: el.getRootNode() !== document,
    inPanel: Boolean(el.closest(".tm-panel")),
    suggestion: el.classList.contains("tm-quick-reply"),
    feedback: el.classList.contains("tm-feedback-button"),
    outline: outline,
    ring: outline || style.boxShadow !== "none",
  };
}"""
SCROLL_SETTLED_JS = """() => new Promise((resolve) => {
  const log = document.querySelector("#tm-chat-widget").shadowRoot.querySelector(".tm-log");
  let last = -1;
  const tick = () => {
    if (log.scrollTop === last) return resolve(true);
    last = log.scrollTop;
    setTimeout(tick, 100);
  };
  tick();
})"""
NO_HORIZONTAL_SCROLL_JS = """() => {
  const root = document.querySelector("#tm-chat-widget").shadowRoot;
  const boxes = [".tm-panel", ".tm-log"].map((s) => root.querySelector(s));
  const panel = boxes[0].getBoundingClientRect();
  return {
    page: document.documentElement.scrollWidth <= window.innerWidth,
    inner: boxes.every((b) => b.scrollWidth <= b.clientWidth),
    inside: panel.left >= 0 && panel.right <= window.innerWidth,
  };
}"""


# How far the panel itself could scroll: only the conversation inside it should.
PANEL_OVERFLOW_JS = """() => {
  const panel = document.querySelector("#tm-chat-widget").shadowRoot.querySelector(".tm-panel");
  return panel.scrollHeight - panel.clientHeight;
}"""


# Every rendered line of the bot's messages whose first visible character is ":", ";",
# "!" or "?": each character's box (Range.getClientRects) says on which line it is.
LINE_STARTS_JS = """() => {
  const root = document.querySelector("#tm-chat-widget").shadowRoot;
  const starts = [];
  let marks = 0;
  for (const body of root.querySelectorAll(".tm-msg-bot .tm-msg-body")) {
    const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT, {
      acceptNode: (node) => node.parentElement.closest(".tm-sr")
        ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT,
    });
    let previous = null;
    let line = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.data.length; i++) {
        const char = node.data[i];
        if (/\\s/.test(char)) { line += " "; continue; }
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const box = range.getClientRects()[0];
        if (!box) continue;
        if (":;!?".includes(char)) marks += 1;
        if (previous === null || box.top >= previous.top + previous.height / 2) {
          if (":;!?".includes(char)) starts.push(line.slice(-30) + " | " + node.data.slice(i, i + 30));
          line = "";
        }
        line += char;
        previous = box;
      }
    }
  }
  return { starts: starts, marks: marks };
}"""


def _pages(bot: RunningBot) -> str:
    return f"http://127.0.0.1:{bot.processes.rasa_port}/webhooks/web"


# ---------------------------------------------------------------- browser harness


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium est absent (/usr/bin/chromium) : `make test` l'installe quand il tourne en "
            "root ; sinon lancez `sudo apt-get update && sudo apt-get install -y chromium`.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@dataclass
class Citizen:
    """One browser tab of a citizen, and every request it made."""

    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)

    @property
    def launcher(self) -> Any:
        return self.page.get_by_role("button", name="Une question ?")

    @property
    def log(self) -> Any:
        return self.page.get_by_role("log")

    @property
    def input(self) -> Any:
        return self.page.get_by_label("Votre question")

    @property
    def alert(self) -> Any:
        return self.page.get_by_role("alert")

    def button(self, name: str) -> Any:
        return self.page.get_by_role("button", name=name, exact=True)

    def open(self) -> None:
        self.launcher.click()
        expect(self.page.get_by_role("dialog", name=TITLE)).to_be_visible()

    def ask(self, text: str, expected: str) -> None:
        """Types a question, sends it with the button and waits for the reply containing `expected`."""
        self.input.fill(text)
        self.button("Envoyer").click()
        expect(self.log).to_contain_text(expected, timeout=REPLY_MS)

    def say(self, text: str) -> None:
        """Types a message, sends it with Enter and waits until the bot's reply is shown."""
        self.input.fill(text)
        self.page.keyboard.press("Enter")
        expect(self.page.get_by_role("dialog", name=TITLE)).to_have_attribute(
            "aria-busy", "false", timeout=REPLY_MS
        )
        expect(self.alert).to_have_text("")

    def focused(self) -> dict[str, Any] | None:
        focus: dict[str, Any] | None = self.page.evaluate(FOCUSED_JS)
        return focus

    def storage(self) -> dict[str, Any]:
        """What the widget keeps in sessionStorage (empty when it keeps nothing)."""
        stored: dict[str, Any] = self.page.evaluate(
            "() => Object.fromEntries(Object.entries(sessionStorage)"
            ".map(([k, v]) => [k, JSON.parse(v)]))"
        )
        return stored

    def screenshot(self, name: str) -> Path:
        """Writes tests/artifacts/widget-<name>.png once the conversation has stopped scrolling."""
        self.page.evaluate(SCROLL_SETTLED_JS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"widget-{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def citizen(browser: Browser) -> Iterator[Callable[..., Citizen]]:
    """Opens a fresh browser tab (own storage, no cookies) on a URL; closed after the test."""
    contexts: list[BrowserContext] = []

    def open_tab(url: str, width: int = 1280, height: int = 800, **options: Any) -> Citizen:
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="fr-FR", **options
        )
        contexts.append(context)
        page = context.new_page()
        tab = Citizen(context, page)
        page.on("request", lambda request: tab.requests.append(request.url))
        page.goto(url)
        expect(tab.launcher).to_be_visible()
        return tab

    yield open_tab
    for context in contexts:
        context.close()


# Transitions end before axe looks: a panel half faded in has, for a moment, low contrast.
ANIMATIONS_DONE_JS = """() => {
  const host = document.querySelector("#tm-chat-widget");
  // document.getAnimations() leaves out shadow trees.
  const all = document.getAnimations().concat(host ? host.shadowRoot.getAnimations() : []);
  return Promise.all(all
    .filter((a) => a.effect.getComputedTiming().iterations !== Infinity)
    .map((a) => a.finished));
}"""


def _violations(tab: Citizen) -> list[str]:
    """axe-core's violations, one line per element (its targets may be inside the shadow root)."""
    tab.page.evaluate(ANIMATIONS_DONE_JS)
    response = Axe().run(tab.page, options=AXE_OPTIONS).response
    return [
        f"{v['id']} ({v['impact']}): {json.dumps(node['target'])} {node.get('failureSummary', '')}"
        for v in response["violations"]
        for node in v["nodes"]
    ]


def _axe(tab: Citizen, state: str) -> None:
    violations = _violations(tab)
    assert violations == [], f"{state}:\n" + "\n".join(violations)


def _hold(tab: Citizen, pattern: re.Pattern[str]) -> list[Route]:
    """Holds the widget's requests matching `pattern` until the test lets them go."""
    held: list[Route] = []
    tab.page.route(pattern, lambda route: held.append(route))
    return held


def _wait_for(tab: Citizen, held: list[Route]) -> Route:
    for _ in range(600):
        if held:
            return held[0]
        tab.page.wait_for_timeout(50)
    raise AssertionError("the widget never sent its request")


# ---------------------------------------------------------------- conversations in the browser


@pytest.mark.servers
def test_conversation_by_mouse_through_the_real_servers(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    assert tab.context.cookies() == [] and tab.storage() == {}
    expect(tab.launcher).to_have_attribute("aria-expanded", "false")

    tab.open()
    expect(tab.launcher).to_have_attribute("aria-expanded", "true")
    expect(tab.input).to_be_focused()

    # Hold the message on its way to the bot to see what the citizen sees meanwhile.
    held = _hold(tab, MESSAGES)
    tab.input.fill(SMART_CITY_QUESTION)
    tab.button("Envoyer").click()
    request = _wait_for(tab, held)
    expect(tab.page.get_by_role("status")).to_contain_text("L'assistant écrit")
    expect(tab.log).to_contain_text(SMART_CITY_QUESTION)
    request.continue_()
    tab.page.unroute(MESSAGES)
    expect(tab.log).to_contain_text("500 millions", timeout=REPLY_MS)
    # Its "did it help?" is no bubble of its own.
    expect(tab.log).not_to_contain_text("Cette réponse vous a-t-elle aidé")
    expect(tab.page.get_by_role("status")).not_to_contain_text("écrit")
    # "Envoyer" pressed with the mouse: the next question can be typed at once.
    expect(tab.input).to_be_focused()
    expect(tab.log).to_have_attribute("aria-live", "polite")

    tab.button("Calendrier de la Smart City").first.click()
    expect(tab.log).to_contain_text("décembre 2014", timeout=REPLY_MS)
    tab.button("En savoir plus").click()
    expect(tab.log).to_contain_text("Jules Guesde", timeout=REPLY_MS)
    # The "- " lines of the answer are a real list.
    expect(
        tab.page.locator(
            ".tm-msg-bot li", has_text=re.compile(r"décembre 2014\s:\sprésentation du projet")
        )
    ).to_have_count(1)
    expect(tab.page.locator(".tm-msg-user").nth(1)).to_have_text(
        re.compile("Calendrier de la Smart City")
    )

    tab.ask(FOLLOW_UP_QUESTION, "Athènes")
    assert tab.page.evaluate(PANEL_OVERFLOW_JS) <= 0
    tab.screenshot("desktop")

    assert tab.context.cookies() == [] and tab.page.evaluate("document.cookie") == ""
    hosts = {urlsplit(url).hostname for url in tab.requests if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}, "the page or the widget loaded something from another host"


def _tab_until(
    tab: Citizen, wanted: Callable[[dict[str, Any]], bool], backwards: bool = False
) -> list[dict[str, Any]]:
    """Presses Tab (or Shift+Tab) until `wanted` holds for the focused element; returns the path."""
    path: list[dict[str, Any]] = []
    for _ in range(60):
        tab.page.keyboard.press("Shift+Tab" if backwards else "Tab")
        focus = tab.focused()
        if focus is None:
            continue
        path.append(focus)
        if wanted(focus):
            return path
    raise AssertionError(f"never reached by keyboard; went through {[f['name'] for f in path]}")


def _named(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda focus: bool(focus["name"] == name)


def _press(tab: Citizen, key: str) -> dict[str, Any]:
    tab.page.keyboard.press(key)
    focus = tab.focused()
    assert focus is not None, f"{key}: focus lost to the page"
    return focus


@pytest.mark.servers
def test_conversation_by_keyboard_only(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    keyboard = tab.page.keyboard

    _tab_until(tab, _named("Une question ?"))
    keyboard.press("Enter")
    expect(tab.page.get_by_role("dialog", name=TITLE)).to_be_visible()
    expect(tab.input).to_be_focused()

    keyboard.type(SMART_CITY_QUESTION)
    keyboard.press("Enter")
    expect(tab.log).to_contain_text("500 millions", timeout=REPLY_MS)
    expect(tab.input).to_be_focused()

    # The latest answer's suggestions come right before the input: one Shift+Tab reaches one.
    first = _press(tab, "Shift+Tab")
    assert first["suggestion"] and first["ring"], first
    path = [first, *_tab_until(tab, _named("Calendrier de la Smart City"), backwards=True)]
    assert len(path) <= 2, [f["name"] for f in path]
    keyboard.press("Enter")
    expect(tab.log).to_contain_text("décembre 2014", timeout=REPLY_MS)
    expect(tab.input).to_be_focused()
    # The previous answer's buttons are gone: only the latest reply's are in the tab order.
    expect(tab.button("Le programme Smart City")).to_have_count(0)
    expect(tab.page.locator(".tm-quick")).to_have_count(1)
    assert tab.page.locator(".tm-feedback-button").count() <= 2  # the latest answer's, if any

    # "Envoyer" reached by Tab and pressed with the keyboard: focus back in the input.
    keyboard.type(FOLLOW_UP_QUESTION)
    send = _press(tab, "Tab")
    assert send["name"] == "Envoyer" and send["ring"], send
    keyboard.press("Space")
    expect(tab.log).to_contain_text("Athènes", timeout=REPLY_MS)
    expect(tab.input).to_be_focused()
    assert _press(tab, "Shift+Tab")["suggestion"] or not tab.page.locator(".tm-quick").count()

    # Tab never leaves the open panel: from the input it goes round and comes back.
    tab.input.focus()
    loop = [_press(tab, "Tab") for _ in range(40)]
    outside = [f["name"] for f in loop if not f["inPanel"]]
    assert outside == [], f"Tab left the panel for {outside}"
    assert [f["name"] for f in loop].count("Votre question") >= 2, [f["name"] for f in loop]
    back = [_press(tab, "Shift+Tab") for _ in range(40)]
    assert [f["name"] for f in back if not f["inPanel"]] == []

    # Escape closes the panel and gives focus back to the launcher.
    keyboard.press("Escape")
    expect(tab.page.get_by_role("dialog", name=TITLE)).to_be_hidden()
    focus = tab.focused()
    assert focus is not None and focus["name"] == "Une question ?"
    expect(tab.launcher).to_have_attribute("aria-expanded", "false")

    # Every control of the panel is reached by Tab, and shows where the focus is.
    keyboard.press("Enter")
    expect(tab.input).to_be_focused()
    visited = _tab_until(tab, _named("Votre question"))
    names = {f["name"] for f in visited}
    assert {
        "Fermer la discussion",
        "Nouvelle conversation",
        "Votre question",
        "Envoyer",
        "L'élu chargé du numérique",
    } <= names, [f["name"] for f in visited]
    assert any(f["role"] == "log" for f in visited), (
        "the conversation cannot be scrolled by keyboard"
    )
    assert any(f["name"].startswith("Vos données personnelles") for f in visited)
    invisible = [f["name"] for f in visited if not f["ring"] or not f["outline"]]
    assert invisible == [], f"focus not visible on {invisible}"


@pytest.mark.servers
def test_no_accessibility_violation_closed_open_and_with_messages(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    _axe(tab, "page with the chat closed")
    tab.open()
    _axe(tab, "chat open")

    tab.ask("aide", HELP_ANSWER)
    tab.button("Carte d'identité et passeport").first.click()
    expect(tab.log).to_contain_text("pré-demande", timeout=REPLY_MS)
    link = tab.page.get_by_role("link", name=re.compile(r"^ANTS \(pré-demande\).*nouvel onglet"))
    expect(link).to_have_attribute("href", re.compile(r"^https://ants\.gouv\.fr"))
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", re.compile("noopener"))
    _axe(tab, "chat with messages, buttons and links")

    # The check sees inside the widget's shadow root: a nameless button is caught.
    tab.page.evaluate(
        "() => document.querySelector('#tm-chat-widget').shadowRoot"
        ".querySelector('.tm-close .tm-sr').remove()"
    )
    assert any(v.startswith("button-name") for v in _violations(tab))


@pytest.mark.servers
def test_small_screen_zoom_and_reduced_motion(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    phone = citizen(f"{_pages(running_bot)}/demo", width=320, height=640)
    phone.open()
    phone.ask(FOLLOW_UP_QUESTION, "Athènes")
    # The reply lands in the live region announced to screen readers.
    live = phone.page.locator("[role=log][aria-live=polite]")
    expect(live).to_contain_text("Athènes")
    assert phone.page.evaluate(NO_HORIZONTAL_SCROLL_JS) == {
        "page": True,
        "inner": True,
        "inside": True,
    }
    phone.screenshot("320px")
    _axe(phone, "320 px wide")

    # 1280 x 720 at 200 % zoom lays out as 640 x 360 CSS pixels.
    zoomed = citizen(f"{_pages(running_bot)}/demo", width=640, height=360, reduced_motion="reduce")
    zoomed.open()
    zoomed.ask("aide", HELP_ANSWER)
    assert zoomed.page.evaluate(NO_HORIZONTAL_SCROLL_JS) == {
        "page": True,
        "inner": True,
        "inside": True,
    }
    zoomed.screenshot("zoom-200")
    animation = "() => getComputedStyle(document.querySelector('#tm-chat-widget').shadowRoot.querySelector('.tm-panel')).animationName"
    assert zoomed.page.evaluate(animation) == "none"
    assert phone.page.evaluate(animation) != "none"


@pytest.mark.servers
def test_conversation_follows_navigation_and_new_conversation_clears_it(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    tab.open()
    tab.ask(FOLLOW_UP_QUESTION, "Athènes")
    (before,) = tab.storage().values()

    tab.page.get_by_role("link", name="Vos démarches").first.click()
    expect(tab.page.get_by_role("heading", name="Vos démarches", level=1)).to_be_visible()
    expect(tab.page.get_by_role("dialog", name=TITLE)).to_be_visible()
    expect(tab.log).to_contain_text("Athènes")
    (after,) = tab.storage().values()
    assert after["conversation"] == before["conversation"] is not None
    # Same conversation on the server too: the bot still knows the topic.
    tab.ask(SMART_CITY_QUESTION, "500 millions")
    expect(tab.page.get_by_role("heading", name=TITLE)).to_be_in_viewport()
    assert tab.page.evaluate(PANEL_OVERFLOW_JS) <= 0
    assert tab.page.evaluate("localStorage.length") == 0
    assert tab.context.cookies() == []

    tab.button("Nouvelle conversation").click()
    expect(tab.log).not_to_contain_text("Athènes")
    expect(tab.log).to_contain_text("Bonjour")
    expect(tab.page.get_by_role("status")).to_have_text("Nouvelle conversation commencée.")
    (cleared,) = tab.storage().values()
    assert cleared["messages"] == [] and cleared["conversation"] is None

    tab.ask(FOLLOW_UP_QUESTION, "Athènes")
    (renewed,) = tab.storage().values()
    assert renewed["conversation"] not in (None, before["conversation"])


@pytest.mark.servers
def test_bot_unreachable_french_error_retry_and_nothing_typed_is_lost(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    tab.open()
    # The bot's server refuses connections for this tab only; the shared servers keep running.
    tab.page.route(API_CALLS, lambda route: route.abort("connectionrefused"))
    tab.input.fill(FOLLOW_UP_QUESTION)
    tab.page.keyboard.press("Enter")

    expect(tab.alert).to_contain_text("L'assistant est injoignable pour le moment")
    expect(tab.input).to_have_value(FOLLOW_UP_QUESTION)
    expect(tab.page.locator(".tm-msg-user")).to_have_count(0)
    tab.screenshot("error")
    _axe(tab, "error shown")

    tab.page.unroute(API_CALLS)
    tab.button("Réessayer").click()
    expect(tab.log).to_contain_text("Athènes", timeout=REPLY_MS)
    expect(tab.alert).to_have_text("")
    expect(tab.input).to_have_value("")


@pytest.mark.servers
def test_what_is_typed_while_waiting_is_kept_when_sending_fails(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    tab.open()
    held = _hold(tab, API_CALLS)
    tab.input.fill(FOLLOW_UP_QUESTION)
    tab.page.keyboard.press("Enter")
    request = _wait_for(tab, held)
    expect(tab.input).to_have_value("")
    tab.page.keyboard.type("et Lisbonne ?")
    request.abort("connectionrefused")
    expect(tab.alert).to_contain_text("injoignable")
    expect(tab.input).to_have_value(f"{FOLLOW_UP_QUESTION} et Lisbonne ?")


@pytest.mark.servers
def test_server_refusals_are_shown_in_its_own_french_words_and_the_text_kept(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    tab.open()

    def refuse(status: int, text: str) -> None:
        tab.page.unroute(MESSAGES)
        tab.page.route(
            MESSAGES,
            lambda route: route.fulfill(
                status=status,
                content_type="application/json",
                headers={"Retry-After": "30"},
                body=json.dumps({"erreur": text}),
            ),
        )

    # The bot failed (conversation store, action server): the server's French words.
    refuse(503, UNAVAILABLE)
    tab.input.fill(FOLLOW_UP_QUESTION)
    tab.page.keyboard.press("Enter")
    expect(tab.alert).to_contain_text("service momentanément indisponible")
    expect(tab.input).to_have_value(FOLLOW_UP_QUESTION)
    expect(tab.page.locator(".tm-msg-user")).to_have_count(0)

    refuse(429, RATE_LIMITED)
    tab.button("Réessayer").click()
    expect(tab.alert).to_contain_text("patientez quelques instants")
    expect(tab.input).to_have_value(FOLLOW_UP_QUESTION)
    _axe(tab, "server refusal shown")

    tab.page.unroute(MESSAGES)
    tab.button("Réessayer").click()
    expect(tab.log).to_contain_text("Athènes", timeout=REPLY_MS)
    expect(tab.alert).to_have_text("")


@pytest.mark.servers
def test_text_is_shown_never_run_as_html(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    tab.open()
    markup = '<img src="x" onerror="window.pwned = 1"> bonjour'
    tab.ask(markup, markup)
    expect(tab.page.locator(".tm-msg-bot").nth(1)).to_be_visible(timeout=REPLY_MS)
    expect(tab.page.locator("#tm-chat-widget img")).to_have_count(0)
    assert tab.page.evaluate("window.pwned") is None


def _city_page(bot: RunningBot, color: str) -> str:
    server = f"http://127.0.0.1:{bot.processes.rasa_port}"
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Mairie</title><link rel="icon" href="data:,"></head>
<body><main><h1>Site de la mairie</h1><p>Une page du site de la ville.</p></main>
<script src="{server}/webhooks/web/widget.js" data-server="{server}"
  data-title="Assistant de la mairie" data-privacy-url="{CITY_ORIGIN}/confidentialite"
  data-primary-color="{color}" defer></script>
</body></html>"""


def _city_tab(browser: Browser, bot: RunningBot, origin: str, color: str) -> Citizen:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    # The page is served by the test under the city's address; the widget then talks
    # to the real bot on loopback. Chromium asks before a public site reaches a
    # loopback address; in production the bot is a public host and never asks.
    context.grant_permissions(["local-network-access"])
    page = context.new_page()
    page.route(
        f"{origin}/",
        lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", body=_city_page(bot, color)
        ),
    )
    page.goto(f"{origin}/")
    tab = Citizen(context, page)
    expect(tab.launcher).to_be_visible()
    return tab


@pytest.mark.servers
def test_city_site_embeds_the_widget_with_its_options(
    running_bot: RunningBot, browser: Browser
) -> None:
    tab = _city_tab(browser, running_bot, CITY_ORIGIN, color="#ffd400")
    try:
        tab.launcher.click()
        expect(tab.page.get_by_role("dialog", name="Assistant de la mairie")).to_be_visible()
        expect(tab.page.get_by_role("link", name=re.compile("^Vos données"))).to_have_attribute(
            "href", f"{CITY_ORIGIN}/confidentialite"
        )
        # A light city colour gets dark text, so contrast still passes.
        expect(tab.launcher).to_have_css("background-color", "rgb(255, 212, 0)")
        expect(tab.launcher).to_have_css("color", "rgb(26, 26, 26)")
        tab.ask(FOLLOW_UP_QUESTION, "Athènes")
        _axe(tab, "widget on a city page, light primary colour")
    finally:
        tab.context.close()


@pytest.mark.servers
def test_site_not_allowed_is_told_so_in_french(running_bot: RunningBot, browser: Browser) -> None:
    tab = _city_tab(browser, running_bot, OTHER_ORIGIN, color="#005a9c")
    try:
        tab.launcher.click()
        tab.input.fill(FOLLOW_UP_QUESTION)
        tab.button("Envoyer").click()
        expect(tab.alert).to_contain_text("Ce site n'est pas autorisé à utiliser l'assistant")
        expect(tab.input).to_have_value(FOLLOW_UP_QUESTION)
    finally:
        tab.context.close()


# ---------------------------------------------------------------- feedback and French typography


def _feedback_asked(tab: Citizen) -> list[dict[str, Any]]:
    """The bot's "did it help?" messages of the conversation, as the widget stored them."""
    (stored,) = tab.storage().values()
    return [
        m
        for m in stored["messages"]
        if m["from"] == "bot" and m["buttons"] and all(b.get("feedback") for b in m["buttons"])
    ]


@pytest.mark.servers
def test_feedback_is_a_compact_row_of_the_answer_and_reaches_the_staff_report(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    phone = citizen(f"{_pages(running_bot)}/demo", width=375, height=740, has_touch=True)
    sent: list[str] = []
    phone.page.on(
        "request",
        lambda request: (
            sent.append(json.loads(request.post_data or "{}").get("text", ""))
            if MESSAGES.search(request.url)
            else None
        ),
    )
    phone.open()
    phone.ask(FOLLOW_UP_QUESTION, "Athènes")

    # Inside the answer's bubble, not a bubble of its own, and announced as a short line.
    answer = phone.page.locator(".tm-msg-bot").nth(1)  # after the welcome
    row = answer.get_by_role("group", name="Réponse utile ?")
    expect(row).to_be_visible()
    expect(phone.page.locator(".tm-msg-bot")).to_have_count(2)  # the welcome and the answer
    expect(phone.log).not_to_contain_text("Cette réponse vous a-t-elle aidé")
    expect(row.get_by_role("button")).to_have_count(2)
    assert row.bounding_box()["height"] < 60  # type: ignore[index]
    # The answer's suggestions stay next to the input: one Shift+Tab away.
    phone.input.focus()
    assert _press(phone, "Shift+Tab")["suggestion"]
    phone.screenshot("phone-feedback")

    row.get_by_role("button", name="Non, elle ne m'a pas aidé").tap()
    expect(phone.log).to_contain_text("Merci de nous l'avoir signalé", timeout=REPLY_MS)
    expect(answer.locator(".tm-feedback")).to_have_text("Avis transmis, merci.")
    expect(answer.get_by_role("group", name="Réponse utile ?")).to_have_count(0)
    expect(phone.page.locator(".tm-msg-user")).to_have_count(1)  # the rating is no message
    expect(phone.input).to_be_focused()
    _axe(phone, "answer rated")

    # The widget sent the bot's own payload: the staff report gets the topic and the question.
    (asked,) = _feedback_asked(phone)
    (refusal,) = [b["payload"] for b in asked["buttons"] if b["feedback"] == "no"]
    assert refusal == sent[-1] == '/avis_negatif{"sujet_avis": "prix_icapital"}'
    now = dt.datetime.now(dt.timezone.utc)
    flagged = collect(f"sqlite:///{running_bot.database}", now - dt.timedelta(hours=1), now)
    assert (Category.NEGATIVE, "prix_icapital", FOLLOW_UP_QUESTION) in {
        (f.category, f.topic, f.text) for f in flagged
    }

    # "Oui": the bot's thank-you takes the row's place, the suggestions stay.
    phone.button("Nouvelle conversation").tap()
    phone.ask(SMART_CITY_QUESTION, "500 millions")
    phone.page.get_by_role("button", name="Oui, elle m'a aidé").tap()
    expect(phone.page.locator(".tm-feedback")).to_have_text(
        re.compile(r"^Merci pour votre retour\s!$"), timeout=REPLY_MS
    )
    expect(phone.page.locator(".tm-msg-bot")).to_have_count(2)
    expect(phone.button("Calendrier de la Smart City")).to_be_visible()

    # On the next page the rating is remembered, the question not asked again.
    phone.page.reload()
    expect(phone.page.locator(".tm-feedback")).to_have_text(re.compile("^Merci pour votre retour"))
    expect(phone.page.get_by_role("group", name="Réponse utile ?")).to_have_count(0)


@pytest.mark.servers
def test_at_most_one_feedback_question_in_five_questions(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    tab = citizen(f"{_pages(running_bot)}/demo")
    tab.open()
    for question in [
        "bonjour",
        SMART_CITY_QUESTION,
        "quand passe la collecte des déchets à Blagnac ?",
        "je préfère parler à quelqu'un",
        FOLLOW_UP_QUESTION,
    ]:
        tab.say(question)
    expect(tab.page.locator(".tm-msg-user")).to_have_count(5)
    assert len(_feedback_asked(tab)) <= 1, [m["text"] for m in _feedback_asked(tab)]
    # Shift+Tab from the input never lands on the feedback of an earlier answer.
    tab.input.focus()
    for _ in range(3):
        focus = _press(tab, "Shift+Tab")
        assert not focus["feedback"] or not tab.page.locator(".tm-msg-user").count(), focus


@pytest.mark.servers
def test_no_line_starts_with_a_french_mark_at_320_px(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    phone = citizen(f"{_pages(running_bot)}/demo", width=320, height=640)
    phone.open()
    for question in [
        "aide",
        "quand passe la collecte des déchets à Blagnac ?",
        "papiers d'identité",
        "je préfère parler à quelqu'un",
        "bonjour",
        "calendrier de la smart city",
    ]:
        phone.say(question)
    phone.button("En savoir plus").click()  # the calendar's list: "- 2015 : lancement… ;"
    expect(phone.log).to_contain_text("Jules Guesde", timeout=REPLY_MS)
    measured = phone.page.evaluate(LINE_STARTS_JS)
    assert measured["marks"] >= 25, measured  # the answers were long enough to mean something
    assert measured["starts"] == [], "\n".join(measured["starts"])


@pytest.mark.servers
def test_line_start_measure_sees_marks_pushed_to_a_new_line(
    running_bot: RunningBot, citizen: Callable[..., Citizen]
) -> None:
    """The measure of the test above, on a fixed bot message: it catches ordinary spaces."""
    phone = citizen(f"{_pages(running_bot)}/demo", width=320, height=640)
    phone.open()
    words = ["Horaires", "Attention", "Pourquoi", "Vraiment", "Combien", "Ensuite", "Alors"]
    ordinary = " ".join(f"{w}{'x' * (i % 5)} {':?!;'[i % 4]}" for i, w in enumerate(words * 8))

    def shown(text: str) -> list[str]:
        phone.page.unroute(MESSAGES)
        phone.page.route(
            MESSAGES,
            lambda route: route.fulfill(
                status=200,
                content_type="application/json",
                body=json.dumps({"messages": [{"text": text, "buttons": []}]}),
            ),
        )
        phone.say("test")
        starts: list[str] = phone.page.evaluate(LINE_STARTS_JS)["starts"]
        phone.button("Nouvelle conversation").click()
        return starts

    assert shown(ordinary) != []
    assert (
        shown(
            ordinary.replace(" :", "\u00a0:")
            .replace(" ?", "\u00a0?")
            .replace(" !", "\u00a0!")
            .replace(" ;", "\u00a0;")
        )
        == []
    )
