"""Rasa action server: thin actions answering from the knowledge files."""
