"""Citizen chatbot for Toulouse Métropole: channels, knowledge, staff tools."""
