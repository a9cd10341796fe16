"""The accessible web widget: its Rasa input channel, its signed conversation ids, its allowed sites, its files.

    channel        `WebChannel`, loaded by Rasa from credentials.yml (imports Rasa and Sanic)
    conversations  server-issued, signed conversation ids (pure Python)
    origins        which web sites may embed the widget (pure Python)
    static/        widget.js, widget.css and the demo pages, served by the channel

Importing this package imports neither Rasa nor Sanic.
"""
