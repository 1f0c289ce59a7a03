"""Reading: what a store's views, the API and `hub export` show, in the store's own time.
Ranges and buckets (`queries`), a bucket's public fields with k-anonymity first (`numbers`),
the fleet overview (`overview`), CSV rendering with formula cells neutralised (`render`), and
the stores and devices a hub knows (`known`: an unknown name is refused with the known ones).

Stands on storage/ only; no web stack here, so the CLI's export reads exactly what the pages read.
"""
