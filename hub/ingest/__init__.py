"""Ingest: from a device's message to rows, or to a named refusal. Parsing (`messages`), the
batch written with its roll-ups and the checks that need the database (`writer`, `batches`),
the MQTT session and its worker (`mqtt_ingest`), each device's message budget (`flood`),
sequence-number gaps and re-send requests (`gaps`), `hub import` of a device's file
(`importer`) and `hub retire` (`broker_session`).

Stands on storage/ only: nothing that reads for a page is here, and no page imports this floor.
"""
