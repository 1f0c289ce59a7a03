"""Analytics: what the device keeps and sends. Per-track smoothing into visits, per-zone
intervals with their counts, the local SQLite store (schema, migrations, faults survived),
the outbox that publishes stored intervals over MQTT, and `edgeemo report`. Owns
`[smoothing]`, `[analytics]`, `[store]` and `[mqtt]`.

Only counts, times and shares leave this floor; never a frame, a crop, an embedding or a
track id.
"""
