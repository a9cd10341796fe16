"""Input channels of our own: how citizens reach the bot besides Rasa's REST channel.

`bot.channels.web.WebChannel` is the accessible web widget's channel; Rasa
loads it by that path from credentials.yml. What it relies on is pure Python
and exported here (importing this package does not import Rasa):

    ConversationIds   signed, server-issued conversation ids
    OriginPolicy      which web sites may talk to the bot from a browser
"""

from bot.channels.conversations import ConversationIds, load_secret
from bot.channels.origins import OriginPolicy, normalise_origin

__all__ = [
    "DEMO_PATH",
    "WEB_PREFIX",
    "ConversationIds",
    "OriginPolicy",
    "load_secret",
    "normalise_origin",
]

# Where Rasa mounts the web channel (its name is "web"), and its demo page.
WEB_PREFIX = "/webhooks/web"
DEMO_PATH = f"{WEB_PREFIX}/demo"
