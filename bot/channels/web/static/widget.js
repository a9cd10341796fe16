/*
 * Accessible chat widget of the Toulouse Métropole citizen bot (RGAA 4.1 / WCAG 2.1 AA).
 *
 * Embed it with one tag; every option is a data attribute, all optional:
 *
 *   <script src="https://bot.example.fr/webhooks/web/widget.js"
 *           data-server="https://bot.example.fr"      bot server (default: where this file comes from)
 *           data-title="Assistant de Toulouse Métropole"
 *           data-privacy-url="https://www.example.fr/donnees-personnelles"
 *           data-primary-color="#005a9c"              #rrggbb; text colour is chosen for contrast
 *           data-retention="pendant 12 mois"          how long the city keeps messages (notice)
 *           data-welcome="Bonjour ! …"
 *           defer></script>
 *
 * Plain JavaScript, no dependency, nothing loaded from another host. The UI lives
 * in a shadow root so the host page's CSS neither breaks it nor is broken by it.
 * Bot text is never parsed as HTML: it is turned into DOM nodes (paragraphs on
 * blank lines, "- " lines as lists, https:// addresses as links opening a new tab).
 * The bot's "did it help?" (buttons marked "feedback" by the server) is shown as a
 * compact row inside the answer it is about; only the latest reply's buttons stay
 * (older ones are removed), so the tab order stays short: Shift+Tab from the input
 * reaches the latest suggestions. While open, the panel keeps the focus (Tab cycles
 * inside it); Escape or "Fermer" closes it and gives the focus back to the launcher.
 * The transcript is kept in sessionStorage (this tab only, until it closes),
 * written only once the citizen opens the chat; no cookie is ever set.
 */
(function () {
  "use strict";

  var script = document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-server], script[src*="widget.js"]');
  if (!script || window.__tmChatWidget) {
    return;
  }
  window.__tmChatWidget = true;

  var data = script.dataset;
  var scriptUrl = new URL(script.src, document.baseURI);
  var server = (data.server || scriptUrl.origin).replace(/\/+$/, "");
  var api = new URL(server, document.baseURI).href.replace(/\/+$/, "") + "/webhooks/web";
  var config = {
    title: data.title || "Assistant de Toulouse Métropole",
    privacyUrl: safeUrl(data.privacyUrl),
    primary: /^#[0-9a-fA-F]{6}$/.test(data.primaryColor || "") ? data.primaryColor : "#005a9c",
    retention: data.retention || "",
    welcome: data.welcome ||
      "Bonjour\u00a0! Je suis l'assistant automatique de Toulouse Métropole. Posez votre question " +
      "(collecte des déchets, transports, démarches, horaires des mairies, Smart City…) " +
      "ou écrivez «\u00a0aide\u00a0» pour voir ce que je sais faire.",
    launcher: data.launcherLabel || "Une question ?"
  };
  var STORAGE_KEY = "tm-chat-v1|" + api;
  var MAX_STORED = 100;
  var MAX_CHARS = 1000;
  var TIMEOUT_MS = 60000;

  // French typography: a no-break space (U+00A0, in every font) before ":", ";", "!"
  // and "?", so that none of them ever starts a line (the bot's answers have it too).
  var TEXT = {
    you: "Vous\u00a0:",
    bot: "L'assistant\u00a0:",
    newTab: " (nouvel onglet)",
    typing: "L'assistant écrit…",
    restarted: "Nouvelle conversation commencée.",
    retry: "Réessayer",
    unreachable: "L'assistant est injoignable pour le moment. Vérifiez votre connexion, " +
      "puis réessayez\u00a0: votre message n'est pas perdu.",
    refusedSite: "Ce site n'est pas autorisé à utiliser l'assistant. Réessayez plus tard " +
      "ou contactez la mairie par un autre moyen.",
    tooLong: "Votre message est trop long (" + MAX_CHARS + " caractères au plus)\u00a0: " +
      "raccourcissez-le, puis réessayez.",
    feedbackQuestion: "Réponse utile\u00a0?",
    feedbackYes: "Oui",
    feedbackNo: "Non",
    feedbackYesName: "Oui, elle m'a aidé",
    feedbackNoName: "Non, elle ne m'a pas aidé",
    feedbackSent: "Avis transmis, merci."
  };

  // ---------------------------------------------------------------- state

  // settled: how many of the stored messages came before the latest reply (their
  // buttons are no longer offered).
  var state = load() || { conversation: null, open: false, messages: [], draft: "", settled: 0 };
  var busy = false;
  var failed = null; // {text, shown, typed, rating}: what to send again on "Réessayer"
  var offered = []; // the buttons' containers of the latest reply, removed when it is superseded
  var lastAnswer = null; // the latest bot bubble: where a feedback row goes
  var feedbackRows = 0;

  function load() {
    try {
      var raw = window.sessionStorage.getItem(STORAGE_KEY);
      var parsed = raw ? JSON.parse(raw) : null;
      return parsed && Array.isArray(parsed.messages) ? parsed : null;
    } catch (e) {
      return null;
    }
  }

  function save() {
    var dropped = Math.max(0, state.messages.length - MAX_STORED);
    state.messages = state.messages.slice(dropped);
    state.settled = Math.max(0, (state.settled || 0) - dropped);
    try {
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch (e) {
      // Storage full or disabled: the chat works, it just won't follow the citizen.
    }
  }

  // ---------------------------------------------------------------- helpers

  function safeUrl(value) {
    if (!value) {
      return null;
    }
    try {
      var url = new URL(value, document.baseURI);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (name === "text") {
        node.textContent = value;
      } else if (name === "className") {
        node.className = value;
      } else if (value === true) {
        node.setAttribute(name, "");
      } else if (value !== false && value !== null && value !== undefined) {
        node.setAttribute(name, value);
      }
    });
    (children || []).forEach(function (child) {
      node.append(child);
    });
    return node;
  }

  function hidden(text) {
    return el("span", { className: "tm-sr", text: text });
  }

  // A decorative SVG icon (no font needed, hidden from assistive technologies).
  function icon(path, filled) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    var shape = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "tm-icon");
    shape.setAttribute("d", path);
    shape.setAttribute(filled ? "fill" : "stroke", "currentColor");
    if (!filled) {
      shape.setAttribute("fill", "none");
      shape.setAttribute("stroke-width", "2.5");
      shape.setAttribute("stroke-linecap", "round");
      shape.setAttribute("stroke-linejoin", "round");
    }
    svg.append(shape);
    return svg;
  }

  function luminance(hex) {
    var channels = [1, 3, 5].map(function (i) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  }

  function contrast(a, b) {
    var la = luminance(a);
    var lb = luminance(b);
    return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
  }

  // ---------------------------------------------------------------- text rendering

  var URL_PATTERN = /https:\/\/[^\s<>"']+/g;
  var TITLED_LINK = /^(.+?)\s+:\s+(https:\/\/[^\s<>"']+)$/;
  var LIST_ITEM = /^\s*[-•]\s+(.*)$/;

  function link(href, label) {
    var url = safeUrl(href);
    if (!url) {
      return document.createTextNode(label);
    }
    return el("a", { href: url, target: "_blank", rel: "noopener" }, [
      label,
      el("span", { className: "tm-external", "aria-hidden": "true", text: "↗" }),
      hidden(TEXT.newTab)
    ]);
  }

  // Text with its https:// addresses turned into links; trailing punctuation stays text.
  function appendInline(parent, line) {
    var titled = TITLED_LINK.exec(line);
    if (titled) {
      parent.append(link(titled[2], titled[1]));
      return;
    }
    var last = 0;
    line.replace(URL_PATTERN, function (match, offset) {
      var address = match.replace(/[.,;:!?)\]»]+$/, "");
      parent.append(line.slice(last, offset));
      parent.append(link(address, address));
      last = offset + address.length;
      return match;
    });
    parent.append(line.slice(last));
  }

  // Paragraphs on blank lines, "- " lines as lists, single line breaks kept.
  function renderText(container, text) {
    String(text).replace(/\r\n?/g, "\n").split(/\n[ \t]*\n/).forEach(function (block) {
      var list = null;
      var paragraph = null;
      block.split("\n").forEach(function (line) {
        var item = LIST_ITEM.exec(line);
        if (item) {
          paragraph = null;
          if (!list) {
            list = container.appendChild(el("ul"));
          }
          var li = list.appendChild(el("li"));
          appendInline(li, item[1]);
        } else if (line.trim()) {
          list = null;
          if (paragraph) {
            paragraph.append(el("br"));
          } else {
            paragraph = container.appendChild(el("p"));
          }
          appendInline(paragraph, line.trim());
        }
      });
    });
  }

  // ---------------------------------------------------------------- DOM

  var host = el("div", { id: "tm-chat-widget" });
  host.hidden = true; // until the stylesheet has loaded: no flash of unstyled widget
  var root = host.attachShadow({ mode: "open" });
  var sheet = el("link", { rel: "stylesheet", href: new URL("widget.css", scriptUrl).href });
  sheet.addEventListener("load", function () { host.hidden = false; });
  sheet.addEventListener("error", function () { host.hidden = false; });

  var wrapper = el("div", { className: "tm-chat" });
  var onPrimary = contrast(config.primary, "#ffffff") >= 4.5 ? "#ffffff" : "#1a1a1a";
  var primaryText = contrast(config.primary, "#ffffff") >= 4.5 ? config.primary : "#1a1a1a";
  wrapper.style.setProperty("--tm-primary", config.primary);
  wrapper.style.setProperty("--tm-on-primary", onPrimary);
  wrapper.style.setProperty("--tm-primary-text", primaryText);

  var launcher = el("button", {
    type: "button",
    className: "tm-launcher",
    "aria-expanded": "false",
    "aria-controls": "tm-panel"
  }, [
    icon("M4 3h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H10l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z", true),
    el("span", { text: config.launcher })
  ]);

  var title = el("h2", { id: "tm-title", className: "tm-title", text: config.title });
  var restartButton = el("button", { type: "button", className: "tm-restart", text: "Nouvelle conversation" });
  var closeButton = el("button", { type: "button", className: "tm-close" }, [
    icon("M6 6l12 12M18 6L6 18", false),
    hidden("Fermer la discussion")
  ]);
  var header = el("div", { className: "tm-header" }, [title, restartButton, closeButton]);

  var log = el("div", {
    className: "tm-log",
    role: "log",
    "aria-live": "polite",
    "aria-relevant": "additions",
    "aria-labelledby": "tm-title",
    // Focusable so that keyboard users can scroll a long answer.
    tabindex: "0"
  });
  var status = el("div", { className: "tm-status", role: "status" });
  var errorBox = el("div", { className: "tm-error", role: "alert" });

  // The notice opens the conversation (and scrolls away with it, leaving room on small screens).
  // What is kept, where and for how long (the city states its own retention period).
  var notice = el("p", { className: "tm-notice" }, [
    "Vos messages sont enregistrés pour vous répondre et améliorer le service" +
      (config.retention ? ", puis conservés " + config.retention
        : ", pour la durée fixée par la politique de confidentialité du site") +
      ". Ce navigateur garde la conversation dans cet onglet jusqu'à sa fermeture. " +
      "N'y écrivez pas de données personnelles. "
  ]);
  if (config.privacyUrl) {
    notice.append(link(config.privacyUrl, "Vos données personnelles"));
  }

  var input = el("input", {
    id: "tm-input",
    className: "tm-input",
    type: "text",
    autocomplete: "off",
    maxlength: String(MAX_CHARS),
    "aria-describedby": "tm-hint"
  });
  var sendButton = el("button", { type: "submit", className: "tm-send", text: "Envoyer" });
  var form = el("form", { className: "tm-form", novalidate: true }, [
    el("label", { for: "tm-input", className: "tm-label", text: "Votre question" }),
    el("p", { id: "tm-hint", className: "tm-sr", text: "Appuyez sur Entrée pour envoyer." }),
    el("div", { className: "tm-form-row" }, [input, sendButton])
  ]);

  // Modal while open: Tab stays inside it (see trapFocus), and so do screen readers.
  var panel = el("section", {
    id: "tm-panel",
    className: "tm-panel",
    role: "dialog",
    "aria-modal": "true",
    "aria-labelledby": "tm-title",
    hidden: true
  }, [header, log, status, errorBox, form]);

  // The launcher comes first: Tab goes from it straight into the open panel.
  wrapper.append(launcher, panel);
  root.append(sheet, wrapper);

  // ---------------------------------------------------------------- messages

  // Shows the start of a new message: a long answer is read from its first line.
  function reveal(node) {
    log.scrollTop += node.getBoundingClientRect().top - log.getBoundingClientRect().top - 8;
  }

  // Thumbs up and down (shapes of Feather icons, MIT licence).
  var THUMB_UP = "M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3";
  var THUMB_DOWN = "M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17";

  // The bot's "did it help?": every button is a feedback button (marked so by the server).
  function isFeedback(message) {
    return message.from === "bot" && Array.isArray(message.buttons) && message.buttons.length > 0 &&
      message.buttons.every(function (button) {
        return button.feedback === "yes" || button.feedback === "no";
      });
  }

  // What stays once the citizen has rated the answer: a short thank-you, announced once.
  function rated(row, text) {
    row.removeAttribute("role");
    row.removeAttribute("aria-labelledby");
    row.className = "tm-feedback tm-feedback-done";
    row.replaceChildren(el("p", { text: text }));
  }

  // A compact row inside the answer it is about: no second bubble, no second "L'assistant :".
  function addFeedback(message, live) {
    if (!message.rated && !live) {
      return null; // asked about an answer the conversation has left behind: not offered again
    }
    var row = el("div", { className: "tm-feedback" });
    if (message.rated) {
      rated(row, message.rated);
    } else {
      var label = el("span", {
        id: "tm-feedback-" + (++feedbackRows),
        className: "tm-feedback-label",
        text: TEXT.feedbackQuestion
      });
      row.setAttribute("role", "group");
      row.setAttribute("aria-labelledby", label.id);
      row.append(label);
      message.buttons.forEach(function (button) {
        var yes = button.feedback === "yes";
        // The name starts with the visible word (WCAG 2.5.3) and makes sense on its own.
        var node = el("button", {
          type: "button",
          className: "tm-feedback-button",
          "aria-label": yes ? TEXT.feedbackYesName : TEXT.feedbackNoName
        }, [icon(yes ? THUMB_UP : THUMB_DOWN, false), yes ? TEXT.feedbackYes : TEXT.feedbackNo]);
        node.addEventListener("click", function () {
          send(button.payload, null, false, { message: message, row: row });
        });
        row.append(node);
      });
      offered.push(row);
    }
    var answer = lastAnswer;
    if (answer) {
      // Between the answer's text and its suggestions: the suggestions stay next to the input.
      answer.insertBefore(row, answer.querySelector(".tm-quick"));
    } else {
      log.append(row);
    }
    return row;
  }

  // live: the message belongs to the latest reply, so its buttons are offered.
  function addMessage(message, live) {
    if (isFeedback(message)) {
      return addFeedback(message, live);
    }
    var mine = message.from === "user";
    var bubble = el("div", { className: "tm-msg " + (mine ? "tm-msg-user" : "tm-msg-bot") }, [
      hidden(mine ? TEXT.you : TEXT.bot)
    ]);
    var body = bubble.appendChild(el("div", { className: "tm-msg-body" }));
    renderText(body, message.text);
    log.append(bubble);
    lastAnswer = mine ? null : bubble;
    if (!mine && live && message.buttons && message.buttons.length) {
      var group = el("div", { className: "tm-quick", role: "group", "aria-label": "Suggestions" });
      message.buttons.forEach(function (button) {
        var node = el("button", { type: "button", className: "tm-quick-reply", text: button.title });
        node.addEventListener("click", function () {
          send(button.payload, button.title, false);
        });
        group.append(node);
      });
      bubble.append(group);
      offered.push(group);
    }
    return bubble;
  }

  // A new reply supersedes the buttons of the previous one: they go, and the tab order stays short.
  function settle() {
    offered.forEach(function (node) {
      node.remove();
    });
    offered = [];
    state.settled = state.messages.length;
  }

  function lastUserMessage() {
    for (var i = state.messages.length - 1; i >= 0; i--) {
      if (state.messages[i].from === "user") {
        return i;
      }
    }
    return -1;
  }

  function renderTranscript() {
    log.replaceChildren(notice);
    offered = [];
    lastAnswer = null;
    addMessage({ from: "bot", text: config.welcome }, false);
    var settled = typeof state.settled === "number" ? state.settled : lastUserMessage() + 1;
    state.messages.forEach(function (message, index) {
      addMessage(message, index >= settled);
    });
    log.scrollTop = log.scrollHeight;
  }

  function showError(message) {
    errorBox.replaceChildren(
      el("p", { text: message }),
      el("button", { type: "button", className: "tm-retry", text: TEXT.retry })
    );
    errorBox.querySelector("button").addEventListener("click", retry);
  }

  function clearError() {
    errorBox.replaceChildren();
  }

  function setBusy(value) {
    busy = value;
    panel.setAttribute("aria-busy", value ? "true" : "false");
    sendButton.setAttribute("aria-disabled", value ? "true" : "false");
    status.replaceChildren();
    if (value) {
      status.append(
        el("span", { className: "tm-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
        el("span", { text: TEXT.typing })
      );
    }
  }

  // ---------------------------------------------------------------- server

  // status: the HTTP status; message: the server's own French explanation, if it gave one.
  function HttpError(status, message) {
    this.status = status;
    this.message = message;
  }

  // Statuses whose French explanation from the server is shown as it is.
  var SERVER_EXPLAINS = [400, 413, 429, 503];
  var MAX_SERVER_TEXT = 500;

  // The refusal with the server's "erreur" text when its body has a usable one.
  function httpError(response) {
    if (SERVER_EXPLAINS.indexOf(response.status) === -1) {
      return Promise.resolve(new HttpError(response.status, null));
    }
    return response.json().then(function (body) {
      var text = body && typeof body.erreur === "string" ? body.erreur.trim() : "";
      return new HttpError(response.status, text && text.length <= MAX_SERVER_TEXT ? text : null);
    }, function () {
      return new HttpError(response.status, null);
    });
  }

  function post(path, body) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    return fetch(api + path, {
      method: "POST",
      // text/plain keeps this a "simple" request: no CORS preflight.
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal
    }).then(function (response) {
      clearTimeout(timer);
      if (!response.ok) {
        return httpError(response).then(function (error) {
          throw error;
        });
      }
      return response.json();
    }, function (error) {
      clearTimeout(timer);
      throw error;
    });
  }

  function startConversation() {
    return post("/conversations", {}).then(function (reply) {
      state.conversation = reply.conversation;
      return reply.conversation;
    });
  }

  function exchange(text) {
    var ready = state.conversation ? Promise.resolve(state.conversation) : startConversation();
    return ready.then(function (conversation) {
      return post("/messages", { conversation: conversation, text: text });
    }).catch(function (error) {
      if (error instanceof HttpError && error.status === 401) {
        // Expired or from another server: start afresh, once.
        return startConversation().then(function (conversation) {
          return post("/messages", { conversation: conversation, text: text });
        });
      }
      throw error;
    });
  }

  function errorText(error) {
    if (error instanceof HttpError && error.message) {
      return error.message;
    }
    if (error instanceof HttpError && error.status === 403) {
      return TEXT.refusedSite;
    }
    if (error instanceof HttpError && error.status === 413) {
      return TEXT.tooLong;
    }
    return TEXT.unreachable;
  }

  // The bot's messages of one reply, added as the latest: the previous reply's buttons go.
  function addReply(messages) {
    settle();
    messages.forEach(function (message) {
      var botMessage = { from: "bot", text: message.text, buttons: message.buttons || [] };
      state.messages.push(botMessage);
      addMessage(botMessage, true);
    });
  }

  // A rating's reply: a lone thank-you takes the row's place; anything more (an offer to
  // reach a person) comes as a reply of its own.
  function showRating(rating, messages) {
    var thanks = messages.length === 1 && !(messages[0].buttons || []).length;
    rating.message.rated = thanks ? messages[0].text : TEXT.feedbackSent;
    rated(rating.row, rating.message.rated);
    offered = offered.filter(function (node) { return node !== rating.row; });
    if (!thanks) {
      addReply(messages);
    }
  }

  // text: what the bot receives; shown: what the transcript shows (null: nothing, a rating);
  // typed: came from the input; rating: {message, row} of the feedback row pressed.
  function send(text, shown, typed, rating) {
    if (busy || !text.trim()) {
      return;
    }
    clearError();
    failed = null;
    var userMessage = shown === null ? null : { from: "user", text: shown };
    var bubble = userMessage ? addMessage(userMessage, false) : null;
    if (bubble) {
      reveal(bubble);
    }
    if (typed) {
      input.value = "";
    }
    state.draft = "";
    setBusy(true);
    exchange(text).then(function (reply) {
      if (rating) {
        showRating(rating, reply.messages);
      } else {
        state.messages.push(userMessage);
        addReply(reply.messages);
        // The question and the start of its answer in view: a long answer is read from the top.
        reveal(bubble);
      }
      save();
    }, function (error) {
      if (bubble) {
        bubble.remove();
      }
      if (typed && input.value.indexOf(text) !== 0) {
        // Nothing typed is lost, not even what was typed while waiting.
        input.value = input.value ? text + " " + input.value : text;
      }
      state.draft = input.value;
      save();
      failed = { text: text, shown: shown, typed: typed, rating: rating };
      showError(errorText(error));
    }).then(function () {
      setBusy(false);
    });
    // After a button, or "Envoyer" pressed with the mouse or the keyboard, the citizen can
    // type the next question at once; the answer is announced by the live region wherever focus is.
    input.focus();
  }

  function retry() {
    if (!failed) {
      return;
    }
    var again = failed;
    if (again.typed) {
      // What the field holds now: the failed message, perhaps corrected by the citizen.
      var text = input.value.trim() || again.text;
      send(text, text, true);
    } else {
      send(again.text, again.shown, false, again.rating);
    }
    input.focus();
  }

  // ---------------------------------------------------------------- open, close, restart

  function open(focus) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    wrapper.classList.add("tm-is-open");
    state.open = true;
    save();
    log.scrollTop = log.scrollHeight;
    if (focus) {
      input.focus();
    }
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    wrapper.classList.remove("tm-is-open");
    state.open = false;
    save();
    launcher.focus();
  }

  function restart() {
    state = { conversation: null, open: true, messages: [], draft: "", settled: 0 };
    failed = null;
    offered = [];
    clearError();
    input.value = "";
    save();
    // Only the messages go: the notice stays and is not announced again.
    Array.prototype.forEach.call(log.querySelectorAll(".tm-msg, .tm-feedback"), function (node) {
      node.remove();
    });
    addMessage({ from: "bot", text: config.welcome }, false);
    status.replaceChildren(el("span", { text: TEXT.restarted }));
    input.focus();
  }

  // What Tab reaches in the open panel, in order.
  function tabbable() {
    return Array.prototype.filter.call(
      panel.querySelectorAll("a[href], button, input, [tabindex]"),
      function (node) {
        return node.tabIndex >= 0 && !node.disabled && node.getClientRects().length > 0;
      }
    );
  }

  // Tab and Shift+Tab cycle inside the open panel, never out to the page behind it.
  function trapFocus(event) {
    var nodes = tabbable();
    if (!nodes.length) {
      return;
    }
    var current = root.activeElement;
    var first = nodes[0];
    var last = nodes[nodes.length - 1];
    if (event.shiftKey && (current === first || nodes.indexOf(current) === -1)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (current === last || nodes.indexOf(current) === -1)) {
      event.preventDefault();
      first.focus();
    }
  }

  launcher.addEventListener("click", function () {
    if (panel.hidden) {
      open(true);
    } else {
      close();
    }
  });
  closeButton.addEventListener("click", close);
  restartButton.addEventListener("click", restart);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Tab") {
      trapFocus(event);
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (text) {
      send(text, text, true);
    }
  });
  input.addEventListener("input", function () {
    state.draft = input.value;
    if (state.open) {
      save();
    }
  });

  // ---------------------------------------------------------------- start

  renderTranscript();
  input.value = state.draft || "";
  function mount() {
    document.body.append(host);
    if (state.open) {
      open(false); // back on a new page of the site: as the citizen left it, focus untouched
    }
  }
  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();
