"""Rasa conversation ids of Telegram chats (bot/channels/telegram/identity.py): a keyed hash, no chat id inside."""

from __future__ import annotations

from bot.channels.telegram.identity import ChatConversationIds

HASH_KEY = b"cle-de-test-des-conversations"


def test_conversation_id_is_a_keyed_hash_that_hides_the_chat_id() -> None:
    ids = ChatConversationIds(HASH_KEY)
    conversation = ids.for_chat(555000111)
    assert conversation.startswith("tg-") and "555000111" not in conversation
    assert conversation == ChatConversationIds(HASH_KEY).for_chat(555000111)
    assert conversation != ids.for_chat(555000112)
    assert conversation != ChatConversationIds(b"une autre cle").for_chat(555000111)
