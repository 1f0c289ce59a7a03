"""The fleet side of edgeemo: every device's aggregates arrive over MQTT, are validated and
stored idempotently (PostgreSQL for a chain, SQLite for a store or a trial), rolled up by hour
and day, and served as a dashboard, an API and exports a store manager can trust.

Nothing here imports `edgeemo.edge`, TensorFlow or OpenCV: what the hub shares with the
device (the payload schema, the satisfaction index, k-anonymity) is on the ground floor.
"""
