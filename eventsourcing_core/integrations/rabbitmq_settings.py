"""The RabbitMQ integration's defaults, importable without pika (the command line's options)."""

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
"""The broker the relay and consumers use unless told otherwise."""

DEFAULT_EXCHANGE = "escore.events"
"""The topic exchange the relay publishes to."""
