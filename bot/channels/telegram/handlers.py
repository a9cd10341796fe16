"""What the bridge answers to each kind of Telegram update.

Private chats only: a text or a pressed button goes to Rasa, and Rasa's
replies come back as HTML messages with inline keyboards. Anything else
(stickers, photos, voice notes, locations, edited messages, unknown commands)
gets one short French sentence saying what the bot accepts. In groups the bot
speaks only when addressed, to say it answers in private.

Nothing here logs a message's text or a Telegram id.

Usage:
    add_handlers(application, Bridge(RasaClient(url), ChatConversationIds(key)))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType
from telegram.error import Forbidden
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.channels.telegram.identity import ChatConversationIds
from bot.channels.telegram.processing import RecentUpdates
from bot.channels.telegram.rasa_client import RasaButton, RasaClient, RasaReply, RasaUnavailable
from bot.channels.telegram.render import ButtonPayloads, render_chunks
from bot.channels.telegram.subscriptions import Subscriptions
from bot.channels.texts import MAX_MESSAGE_CHARS, TOO_LONG, UNAVAILABLE
from bot.communes import COMMUNES, normalise
from bot.knowledge.alerts import listed_commune
from bot.typography import french_spacing

__all__ = [
    "ALERTS_BUTTON_PREFIX",
    "ALERTS_OFF",
    "ALERTS_UNAVAILABLE",
    "BUTTON_EXPIRED",
    "EDITED",
    "HELP_MESSAGE",
    "PRIVATE_ONLY",
    "TELEGRAM_HELP",
    "TEXT_ONLY",
    "TOO_LONG",
    "UNAVAILABLE",
    "UNKNOWN_COMMAND",
    "WELCOME",
    "Bridge",
    "add_handlers",
    "bridge_of",
]

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE

# Asks for the help topic, whose answer lists the themes and whose buttons open
# them. Plain words, not the payload "/demander_aide": Rasa takes a payload only
# from a button the bot offered, and the NLU reads "aide" as that topic.
HELP_MESSAGE = "aide"

WELCOME = "Bonjour et bienvenue ! Vous écrivez à l'assistant automatique de Toulouse Métropole."
TELEGRAM_HELP = (
    "Sur Telegram, écrivez votre question avec vos mots (par exemple « quand passe la "
    "collecte à Balma ? ») ou touchez un bouton. Je ne lis que les messages écrits.\n"
    "/start : revoir les thèmes\n"
    "/aide : ce que je sais faire\n"
    "/alertes Balma : recevoir ici les alertes d'une commune (perturbations, travaux, coupures)\n"
    "/stop_alertes : ne plus les recevoir"
)
TEXT_ONLY = (
    "Je ne lis que les messages écrits : les photos, autocollants, messages vocaux, "
    "positions et fichiers ne me parviennent pas. Écrivez-moi votre question, ou tapez "
    "/aide pour voir ce que je sais faire."
)
EDITED = (
    "Je ne tiens pas compte des messages modifiés. Envoyez plutôt votre question corrigée "
    "dans un nouveau message."
)
UNKNOWN_COMMAND = (
    "Je ne connais pas cette commande. Tapez /aide pour voir ce que je sais faire, ou "
    "écrivez simplement votre question."
)
BUTTON_EXPIRED = (
    "Ce bouton n'est plus valable : écrivez votre question, ou tapez /start pour revoir les thèmes."
)
PRIVATE_ONLY = "Je réponds uniquement en message privé : écrivez-moi directement à @{username}."
_CHOOSE = "Choisissez :"

# Alert subscriptions (bot.channels.telegram.subscriptions). What is kept is said when subscribing.
ALERTS_BUTTON_PREFIX = "alertes:"
ALERTS_SUBSCRIBED = (
    "C'est noté : vous recevrez ici les alertes publiées pour {commune} (perturbations, travaux, "
    "coupures), une fois chacune, dès qu'elles commencent.\n\n"
    "Pour vous les envoyer, je conserve le numéro de cette conversation Telegram et votre commune, "
    "jusqu'à ce que vous tapiez /stop_alertes."
)
ALERTS_CURRENT = (
    "Vous recevez ici les alertes publiées pour {commune}. Tapez /alertes suivi d'une autre "
    "commune pour en changer, ou /stop_alertes pour ne plus les recevoir."
)
ALERTS_NONE = (
    "Vous ne recevez aucune alerte. Pour recevoir ici celles d'une commune, tapez /alertes suivi "
    "de son nom, par exemple /alertes Balma."
)
ALERTS_UNKNOWN_COMMUNE = (
    "Je ne reconnais pas cette commune de Toulouse Métropole. Tapez /alertes suivi de son nom, "
    "par exemple /alertes Balma."
)
ALERTS_OFF = (
    "C'est fait : vous ne recevrez plus d'alertes, et le numéro de cette conversation n'est plus "
    "conservé pour cela."
)
ALERTS_WERE_OFF = "Vous ne receviez aucune alerte : il n'y a rien à arrêter."
ALERTS_UNAVAILABLE = "Les alertes par Telegram ne sont pas disponibles pour le moment."
ALERTS_BUTTON = "Recevoir ici les alertes de {commune}"

# French typography (bot.typography) on the bridge's own sentences, as on the bot's answers.
WELCOME, TELEGRAM_HELP, TEXT_ONLY, EDITED, UNKNOWN_COMMAND, BUTTON_EXPIRED, PRIVATE_ONLY = map(
    french_spacing,
    (WELCOME, TELEGRAM_HELP, TEXT_ONLY, EDITED, UNKNOWN_COMMAND, BUTTON_EXPIRED, PRIVATE_ONLY),
)
_CHOOSE, ALERTS_SUBSCRIBED, ALERTS_CURRENT, ALERTS_NONE, ALERTS_UNKNOWN_COMMUNE = map(
    french_spacing,
    (_CHOOSE, ALERTS_SUBSCRIBED, ALERTS_CURRENT, ALERTS_NONE, ALERTS_UNKNOWN_COMMUNE),
)
ALERTS_OFF, ALERTS_WERE_OFF = map(french_spacing, (ALERTS_OFF, ALERTS_WERE_OFF))


@dataclass
class Bridge:
    """What the handlers share: Rasa, the conversation ids, long button payloads, recent updates."""

    rasa: RasaClient
    ids: ChatConversationIds
    payloads: ButtonPayloads = field(default_factory=ButtonPayloads)
    recent: RecentUpdates = field(default_factory=RecentUpdates)
    subscriptions: Subscriptions | None = None


_BRIDGE_KEY = "bridge"


def bridge_of(holder: Application[Any, Any, Any, Any, Any, Any] | Context) -> Bridge:
    """The `Bridge` installed by `add_handlers`."""
    bridge = holder.bot_data.get(_BRIDGE_KEY)
    if not isinstance(bridge, Bridge):
        raise RuntimeError("add_handlers() was not called on this application")
    return bridge


def _keyboard(reply: RasaReply, payloads: ButtonPayloads) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button.title, callback_data=payloads.encode(button.payload))]
            for button in reply.buttons
        ]
    )


async def _send(bot: Bot, chat_id: int, reply: RasaReply, payloads: ButtonPayloads) -> None:
    """One reply as one or more messages, in order; its buttons under the last one."""
    chunks = render_chunks(reply.text) or render_chunks(_CHOOSE)
    keyboard = _keyboard(reply, payloads)
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        await bot.send_message(chat_id, chunk, reply_markup=keyboard if last else None)


async def _say(update: Update, context: Context, text: str) -> None:
    """One of the bridge's own sentences, to the chat of `update`."""
    if update.effective_chat is not None:
        await _send(
            context.bot, update.effective_chat.id, RasaReply(text), bridge_of(context).payloads
        )


async def _converse(
    update: Update,
    context: Context,
    message: str,
    *,
    before: str | None = None,
    after: str | None = None,
) -> None:
    """Sends `message` to Rasa as this chat's conversation and delivers the replies."""
    chat = update.effective_chat
    if chat is None:
        return
    bridge = bridge_of(context)
    try:
        replies = await bridge.rasa.send(bridge.ids.for_chat(chat.id), message)
    except RasaUnavailable as error:
        logger.warning("%s : l'habitant est prévenu que le service est indisponible.", error)
        await _say(update, context, UNAVAILABLE)
        return
    if before is not None:
        first = replies[0]
        replies[:1] = [RasaReply(f"{before}\n\n{first.text}".strip(), first.buttons)]
    if after is not None:
        last = replies[-1]
        replies[-1] = RasaReply(f"{last.text}\n\n{after}".strip(), last.buttons)
    if bridge.subscriptions is not None:
        replies = [_with_subscribe_button(reply) for reply in replies]
    for reply in replies:
        await _send(context.bot, chat.id, reply, bridge.payloads)


def _with_subscribe_button(reply: RasaReply) -> RasaReply:
    """The list of a commune's alerts, with a button to receive them here (Telegram only)."""
    commune = listed_commune(reply.text)
    if commune is None:
        return reply
    button = RasaButton(ALERTS_BUTTON.format(commune=commune), ALERTS_BUTTON_PREFIX + commune)
    return RasaReply(reply.text, (button, *reply.buttons))


async def _alert_subscriptions(
    update: Update, context: Context
) -> tuple[Subscriptions, str, int] | None:
    """The subscriptions, this chat's conversation id and chat id; None (said when off) otherwise."""
    chat = update.effective_chat
    subscriptions = bridge_of(context).subscriptions
    if chat is None:
        return None
    if subscriptions is None:
        await _say(update, context, ALERTS_UNAVAILABLE)
        return None
    return subscriptions, bridge_of(context).ids.for_chat(chat.id), chat.id


async def _subscribe(update: Update, context: Context, commune: str) -> None:
    found = await _alert_subscriptions(update, context)
    if found is None:
        return
    subscriptions, conversation, chat_id = found
    await subscriptions.subscribe(conversation, chat_id, commune)
    await _say(update, context, ALERTS_SUBSCRIBED.format(commune=commune))


async def alerts_command(update: Update, context: Context) -> None:
    """/alertes Balma: subscribe to a commune's alerts; /alertes alone: say the subscription."""
    found = await _alert_subscriptions(update, context)
    if found is None:
        return
    subscriptions, conversation, _ = found
    words = " ".join(context.args or [])
    if not words.strip():
        commune = await subscriptions.commune_of(conversation)
        await _say(
            update, context, ALERTS_CURRENT.format(commune=commune) if commune else ALERTS_NONE
        )
        return
    commune = normalise(words[:MAX_MESSAGE_CHARS])
    if commune is None:
        await _say(update, context, ALERTS_UNKNOWN_COMMUNE)
        return
    await _subscribe(update, context, commune)


async def stop_alerts_command(update: Update, context: Context) -> None:
    """/stop_alertes: end the subscription and forget the chat id."""
    found = await _alert_subscriptions(update, context)
    if found is None:
        return
    subscriptions, conversation, _ = found
    removed = await subscriptions.unsubscribe(conversation)
    await _say(update, context, ALERTS_OFF if removed else ALERTS_WERE_OFF)


async def on_alerts_button(update: Update, context: Context) -> None:
    """The button under the list of alerts: subscribe to that commune's alerts."""
    query = update.callback_query
    if query is None:
        return
    data = query.data if isinstance(query.data, str) else ""
    commune = data[len(ALERTS_BUTTON_PREFIX) :]
    chat = update.effective_chat
    if commune not in COMMUNES or chat is None or chat.type != ChatType.PRIVATE:
        await query.answer(BUTTON_EXPIRED)
        return
    await query.answer()
    await _subscribe(update, context, commune)


async def drop_repeated(update: Update, context: Context) -> None:
    """Stops an update already handled from being handled again."""
    if not bridge_of(context).recent.first_time(update.update_id):
        logger.info("Mise à jour %d reçue une seconde fois : ignorée.", update.update_id)
        raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    """/start: a welcome, then the themes (the help topic's buttons)."""
    await _converse(update, context, HELP_MESSAGE, before=WELCOME)


async def help_command(update: Update, context: Context) -> None:
    """/aide: what the bot can do, and how to use it on Telegram."""
    await _converse(update, context, HELP_MESSAGE, after=TELEGRAM_HELP)


async def unknown_command(update: Update, context: Context) -> None:
    """Any other /command: say which ones exist."""
    await _say(update, context, UNKNOWN_COMMAND)


async def on_text(update: Update, context: Context) -> None:
    """A written question: Rasa answers it, unless it is too long to be read."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    if len(message.text) > MAX_MESSAGE_CHARS:
        # Refused before Rasa: a few thousand characters can hold its NLU for seconds.
        await _say(update, context, TOO_LONG)
        return
    await _converse(update, context, message.text)


async def on_button(update: Update, context: Context) -> None:
    """A pressed button: stop the client's spinner, then send the button's payload to Rasa."""
    query = update.callback_query
    if query is None:
        return
    data = query.data if isinstance(query.data, str) else ""
    payload = bridge_of(context).payloads.decode(data)
    chat = update.effective_chat
    if (
        payload is None
        or not payload.startswith("/")
        or chat is None
        or chat.type != ChatType.PRIVATE
    ):
        await query.answer(BUTTON_EXPIRED)
        return
    await query.answer()
    await _converse(update, context, payload)


async def on_edited(update: Update, context: Context) -> None:
    """An edited message: the answer to the original stands; ask for a new message."""
    await _say(update, context, EDITED)


async def on_other_content(update: Update, context: Context) -> None:
    """A sticker, photo, voice note, location, file…: say that only text is read."""
    await _say(update, context, TEXT_ONLY)


def _addressed(message: Message, bot: Bot) -> bool:
    """Whether a group message speaks to the bot: a reply to it, a mention, /command@bot."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    username = f"@{bot.username}".lower()
    kinds: list[str | None] = [
        MessageEntity.MENTION,
        MessageEntity.TEXT_MENTION,
        MessageEntity.BOT_COMMAND,
    ]
    entities = (
        message.parse_entities(kinds) if message.text else message.parse_caption_entities(kinds)
    )
    return any(
        (entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id)
        or (entity.type == MessageEntity.MENTION and text.lower() == username)
        or (entity.type == MessageEntity.BOT_COMMAND and text.lower().endswith(username))
        for entity, text in entities.items()
    )


async def on_group_message(update: Update, context: Context) -> None:
    """In a group: silent, unless addressed; then point to the private chat."""
    message = update.effective_message
    if message is not None and _addressed(message, context.bot):
        await _say(update, context, PRIVATE_ONLY.format(username=context.bot.username))


async def on_error(update: object, context: Context) -> None:
    """Logs a failed update by the error's kind, never with its content."""
    error = context.error
    if isinstance(error, Forbidden):
        logger.info("Message non remis : l'habitant a bloqué le bot ou quitté la conversation.")
        return
    logger.error(
        "Erreur en traitant une mise à jour Telegram : %s",
        type(error).__name__,
        exc_info=error,
    )


def add_handlers(application: Application[Any, Any, Any, Any, Any, Any], bridge: Bridge) -> None:
    """Installs `bridge` and every handler of the bridge on `application`."""
    application.bot_data[_BRIDGE_KEY] = bridge
    private = filters.ChatType.PRIVATE
    new = filters.UpdateType.MESSAGE
    application.add_handler(TypeHandler(Update, drop_repeated), group=-1)
    application.add_handlers(
        [
            CommandHandler("start", start, filters=private & new),
            CommandHandler(["aide", "help"], help_command, filters=private & new),
            CommandHandler("alertes", alerts_command, filters=private & new),
            CommandHandler("stop_alertes", stop_alerts_command, filters=private & new),
            MessageHandler(private & new & filters.COMMAND, unknown_command),
            MessageHandler(private & new & filters.TEXT, on_text),
            CallbackQueryHandler(on_alerts_button, pattern=f"^{ALERTS_BUTTON_PREFIX}"),
            CallbackQueryHandler(on_button),
            # Live locations arrive as edits every few seconds: only edited words get a reply.
            MessageHandler(
                private & filters.UpdateType.EDITED_MESSAGE & (filters.TEXT | filters.CAPTION),
                on_edited,
            ),
            MessageHandler(
                private & new & ~filters.TEXT & ~filters.StatusUpdate.ALL, on_other_content
            ),
            MessageHandler(filters.ChatType.GROUPS & new, on_group_message),
        ]
    )
    application.add_error_handler(on_error)
