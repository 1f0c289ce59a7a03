"""The stores and devices a hub knows: a name no device ever sent (nor an admin added) is a typo,
refused with the names it might have meant, never answered with an empty page, an empty export or
a phantom store. Pages answer 404, the API 404, the CLI one line."""

from __future__ import annotations

import difflib

from edgeemo.hub.reading.params import QueryError
from edgeemo.hub.storage.db import Database
from edgeemo.hub.storage.stores import list_store_zones

SHOWN = 8  # names listed in a refusal; a chain's thousand stores are `edgeemo hub store list`'s job


class UnknownName(QueryError):
    """A store or device this hub has never heard of (the web answers 404)."""


def known_stores(database: Database) -> list[str]:
    """Every store a device has reported from, or whose time zone an admin set ahead of its devices."""
    return [entry["store"] for entry in list_store_zones(database)]


def known_devices(database: Database, store: str | None = None) -> list[str]:
    """Every device (as store/device, or only its name within `store`) that has reported."""
    with database.transaction() as tx:
        if store is None:
            return [f"{s}/{d}" for s, d in tx.rows("SELECT store, device FROM devices ORDER BY store, device")]
        return [row[0] for row in tx.rows("SELECT device FROM devices WHERE store = ? ORDER BY device", (store,))]


def not_known(kind: str, name: str, known: list[str], listing: str, where: str = "on this hub") -> str:
    """"no store 'x' on this hub; did you mean 'y'? (known: a, b, …)"."""
    close = difflib.get_close_matches(name, known, n=1)
    shown = ", ".join(known[:SHOWN]) + (f", … {len(known) - SHOWN} more ({listing})" if len(known) > SHOWN else "")
    return (f"no {kind} {name[:80]!r} {where}" + (f"; did you mean {close[0]!r}?" if close else "")
            + (f" (known: {shown})" if known else f" (none yet: {listing} lists them once devices report)"))


def check_store(database: Database, store: str) -> str:
    """`store` if the hub knows it, else UnknownName naming the known ones."""
    known = known_stores(database)
    if store not in known:
        raise UnknownName(not_known("store", store, known, "edgeemo hub store list"))
    return store


def check_device(database: Database, store: str, device: str) -> str:
    """`device` if it has reported from `store` (a known store), else UnknownName naming the store's devices."""
    check_store(database, store)
    known = known_devices(database, store)
    if device not in known:
        raise UnknownName(not_known("device", device, known, f"/api/stores/{store}/devices", f"in store {store!r}"))
    return device
