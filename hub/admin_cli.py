"""`edgeemo hub user|store|dead-letters`: the hub's administration commands (dashboard users, the
stores' time zones, the messages that could not be stored)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgeemo.cli_common import Formatter
from edgeemo.errors import EdgeemoError
from edgeemo.hub.cli_shared import add_create, add_db, opened_database, store_name
from edgeemo.text import plural


# -- dead letters --------------------------------------------------------------------------------
def _dead_letters(args: argparse.Namespace) -> int:
    from edgeemo.hub.storage.dead_letters import delete_dead_letters, list_dead_letters

    with opened_database(args) as (_, database):
        if args.action == "list":
            letters = list_dead_letters(database)
            if args.json:
                print(json.dumps(letters))
            for letter in [] if args.json else letters:
                print(f"{letter['digest'][:12]}  {letter['store']}/{letter['device']}  x{letter['count']}  "
                      f"last {letter['last_at']}  {letter['error']}")
            if not args.json:
                print(plural(len(letters), "dead letter"))
        elif args.action == "export":
            letters = list_dead_letters(database, with_body=True)
            args.out.write_text("".join(json.dumps(letter) + "\n" for letter in letters))
            print(f"wrote {args.out}: {plural(len(letters), 'dead letter')}, one JSON object a line (body: base64)")
        else:
            if args.digest is None and not args.all:
                raise EdgeemoError("dead-letters delete: name one (its digest, or the first characters of it) "
                                   "or pass --all")
            print(f"deleted {plural(delete_dead_letters(database, None if args.all else args.digest), 'dead letter')}")
    return 0


def _add_dead_letters(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("dead-letters", formatter_class=Formatter,
                                 help="list, export or delete the messages that could not be stored",
                                 description="A message the database refused after [ingest] max_attempts is kept "
                                 "as a dead letter and acknowledged, so it never blocks ingest.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", formatter_class=Formatter, help="one line each, newest first")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    export = actions.add_parser("export", formatter_class=Formatter, help="every dead letter with its body")
    export.add_argument("--out", type=Path, required=True, help="a file: one JSON object a line")
    delete = actions.add_parser("delete", formatter_class=Formatter, help="delete one, or all")
    delete.add_argument("digest", nargs="?", help="its digest, or the first characters of it (see list)")
    delete.add_argument("--all", action="store_true", help="delete every dead letter")
    for sub in (listing, export, delete):
        add_db(sub)
        sub.set_defaults(handler=_dead_letters)


# -- users ---------------------------------------------------------------------------------------
def _user(args: argparse.Namespace) -> int:
    from edgeemo.hub.admin import auth

    with opened_database(args) as (_, database):
        if args.action == "add":
            if sys.stdin.isatty():
                import getpass

                password = getpass.getpass(f"password for {args.name}: ")
            else:
                password = sys.stdin.readline().rstrip("\n")
            new = auth.add_user(database, args.name, password, args.role)
            print(f"{'added' if new else 'updated'} {args.name} ({args.role})")
        elif args.action == "remove":
            if not auth.remove_user(database, args.name):
                raise EdgeemoError(f"no user {args.name!r} (edgeemo hub user list)")
            print(f"removed {args.name}")
        else:
            for user in auth.list_users(database):
                print(f"{user['name']}\t{user['role']}")
    return 0


def _add_user(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("user", formatter_class=Formatter, help="add, remove or list dashboard users")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", formatter_class=Formatter, help="add a user or change one (password on stdin)")
    add.add_argument("name", help="the login name")
    add.add_argument("--role", choices=["viewer", "admin"], default="viewer",
                     help="viewer: every page and the API; admin: also users, stores and refusals")
    remove = actions.add_parser("remove", formatter_class=Formatter, help="remove a user and end their sessions")
    remove.add_argument("name", help="the login name")
    listing = actions.add_parser("list", formatter_class=Formatter, help="list users")
    for sub in (add, remove, listing):
        add_db(sub)
        sub.set_defaults(handler=_user)
    add_create(add)  # the first admin of a new SQLite hub


# -- stores --------------------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> int:
    from edgeemo.hub.localtime import zone
    from edgeemo.hub.reading.known import check_store
    from edgeemo.hub.storage import stores

    with opened_database(args) as (_, database):
        if args.action == "set":
            zone(args.timezone)  # a bad zone is named first, whether or not the store is known
            if not args.add:
                check_store(database, args.store)
            read = stores.set_timezone(database, args.store, args.timezone)
            print(f"{args.store}: time zone {args.timezone}" + (" (unchanged)" if read is None else
                                                                f"; roll-ups re-derived from {plural(read, 'interval')}"))
        elif args.action == "rederive":
            for store in args.stores:
                check_store(database, store)
            for store, read in stores.rederive(database, args.stores or None).items():
                print(f"{store}: roll-ups re-derived from {plural(read, 'interval')}")
        else:
            for entry in stores.list_store_zones(database):
                print(f"{entry['store']}\t{entry['timezone']}")
    return 0


def _add_store(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("store", formatter_class=Formatter, help="set or list the stores' time zones",
                                 description="Each store's views, buckets and exports are in its own IANA time "
                                 "zone (UTC until one is set); setting one re-derives its roll-ups.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    setter = actions.add_parser("set", formatter_class=Formatter, help="set a store's time zone")
    setter.add_argument("store", type=store_name, help="the store's id (the devices' store_id)")
    setter.add_argument("--timezone", required=True, help="an IANA zone, e.g. America/Los_Angeles")
    setter.add_argument("--add", action="store_true", help="the store is new: no device has reported from it yet "
                        "(without it, a store the hub does not know is refused as a typo)")
    rederive = actions.add_parser("rederive", formatter_class=Formatter,
                                  help="re-derive roll-ups from the intervals (idempotent; all stores by default)")
    rederive.add_argument("stores", nargs="*", type=store_name, help="store ids (default: every store)")
    listing = actions.add_parser("list", formatter_class=Formatter, help="every store and its zone")
    for sub in (setter, rederive, listing):
        add_db(sub)
        sub.set_defaults(handler=_store)


ADMIN_COMMANDS = (_add_user, _add_store, _add_dead_letters)
