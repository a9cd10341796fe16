"""Input channels of our own: how citizens and clients reach Rasa, with their input checked first.

Rasa loads the channels by their path from credentials.yml:

    bot.channels.rest.RestChannel   Rasa's REST channel hardened (same URL, /webhooks/rest/)
    bot.channels.web.channel.WebChannel     the accessible web widget's channel (/webhooks/web/)

Both check a request before Rasa sees it (body size, JSON, shape, message
length), answer a bad one with a French 4xx, and answer a failure of the bot
(no reply, an exception, a timeout) with a French 503, never silence.

What they rely on is pure Python and exported here (importing this package
does not import Rasa or Sanic):

    texts                   the French sentences shared by every channel, the length cap
    validation              the checks of a request body (`read_rest_request`, `read_web_request`)
    ratelimit               token buckets per conversation and per address (`WebRateLimiter`)
    SignedConversationIds   the widget's signed, server-issued conversation ids
    OriginPolicy            which web sites may talk to the bot from a browser

The rest touches Rasa or Sanic: `turns` (one turn, every failure as None),
`http` (a body read up to a limit), `rest` and `web` (the channels).
"""

from bot.channels.ratelimit import RateLimits, WebRateLimiter
from bot.channels.texts import MAX_MESSAGE_CHARS, TOO_LONG, UNAVAILABLE
from bot.channels.validation import Refused, read_rest_request, read_web_request
from bot.channels.web.conversations import SignedConversationIds, load_web_secret
from bot.channels.web.origins import OriginPolicy, normalise_origin

__all__ = [
    "DEMO_PATH",
    "MAX_MESSAGE_CHARS",
    "TOO_LONG",
    "UNAVAILABLE",
    "WEB_PREFIX",
    "OriginPolicy",
    "RateLimits",
    "Refused",
    "SignedConversationIds",
    "WebRateLimiter",
    "load_web_secret",
    "normalise_origin",
    "read_rest_request",
    "read_web_request",
]

# Where Rasa mounts the web channel (its name is "web"), and its demo page.
WEB_PREFIX = "/webhooks/web"
DEMO_PATH = f"{WEB_PREFIX}/demo"
