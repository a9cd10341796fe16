"""Order and repeats of updates (bot/channels/telegram/processing.py): one chat in order, chats concurrently."""

from __future__ import annotations

import asyncio
import datetime as dt

from telegram import Chat, Message, Update, User

from bot.channels.telegram.processing import ChatOrderedUpdateProcessor, RecentUpdates


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    user = User(chat_id, "Habitant", is_bot=False)
    message = Message(update_id, dt.datetime.now(dt.timezone.utc), chat, from_user=user, text="x")
    return Update(update_id, message=message)


def test_updates_of_one_chat_run_in_order_and_other_chats_do_not_wait() -> None:
    async def scenario() -> list[str]:
        processor = ChatOrderedUpdateProcessor()
        events: list[str] = []
        release_first = asyncio.Event()

        async def handle(name: str, wait: asyncio.Event | None = None) -> None:
            events.append(f"début {name}")
            if wait is not None:
                await wait.wait()
            events.append(f"fin {name}")

        first = asyncio.create_task(
            processor.process_update(_update(1, 7), handle("7a", release_first))
        )
        second = asyncio.create_task(processor.process_update(_update(2, 7), handle("7b")))
        other = asyncio.create_task(processor.process_update(_update(3, 8), handle("8")))
        await other
        release_first.set()
        await asyncio.gather(first, second)
        return events

    assert asyncio.run(scenario()) == [
        "début 7a",
        "début 8",
        "fin 8",
        "fin 7a",
        "début 7b",
        "fin 7b",
    ]


def test_recent_updates_recognise_a_repeat() -> None:
    recent = RecentUpdates(size=2)
    assert recent.first_time(1) and recent.first_time(2)
    assert not recent.first_time(1)
    assert recent.first_time(3) and recent.first_time(1)
