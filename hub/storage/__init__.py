"""Storage: the hub's database and what keeps it whole. Every table described once (`schema`),
the two engines behind one `Tx` (`db`: the only place SQL of one engine lives), schema versions
(`migrations`), PostgreSQL's monthly partitions, the roll-ups an interval moves, the `stores`
table (a zone change re-derives its roll-ups), the minute's upkeep (sealing, pruning), the
bounded dead letters, and `hub backup`.

The bottom floor of hub/: it imports no other floor, only hub/'s own ground (`localtime`,
`estimating`, `config`) and edgeemo's.
"""
