"""Staff-edited answers: schema, loading with French file:line errors, live reload.

Pure Python: nothing here imports Rasa, so the staff check runs anywhere.
"""

from bot.knowledge.base import (
    KnowledgeBase,
    check_directory,
    default_knowledge_dir,
    domain_intents,
    topic_intents,
)
from bot.knowledge.loader import load_file
from bot.knowledge.schema import BOT_MESSAGES, Button, Link, Problem, ThemeFile, Topic

__all__ = [
    "BOT_MESSAGES",
    "Button",
    "KnowledgeBase",
    "Link",
    "Problem",
    "ThemeFile",
    "Topic",
    "check_directory",
    "default_knowledge_dir",
    "domain_intents",
    "load_file",
    "topic_intents",
]
