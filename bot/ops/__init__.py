"""For the city's operations team: readiness, Prometheus metrics, JSON log lines.

    channel     `OpsChannel`, the Rasa input channel serving /webhooks/ops/ready and /metrics
    readiness   the checks behind /ready (model, action server, conversation and lock stores)
    metrics     turns, latency, not-understood and failed turns per channel (prometheus-client)
    logs        one JSON object per log line when stderr is not a terminal

Importing this package imports nothing; `channel` and `readiness` import
Rasa, Sanic and aiohttp, `metrics` imports prometheus-client.
"""
