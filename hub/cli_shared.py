"""What the `edgeemo hub` commands share: the store-name argument and opening the configured database."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgeemo.wire import NAME_PATTERN, NAME_RULE

NAME = re.compile(NAME_PATTERN)


def store_name(text: str) -> str:
    if not NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: use {NAME_RULE} (as in the devices' config)")
    return text


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="postgresql://USER:PASS@HOST/DB or an SQLite file (default: [db] of --config, "
                        "else hub.db)")
    parser.add_argument("--config", type=Path, help="hub.toml (see hub/hub.example.toml)")


def config_of(args: argparse.Namespace):
    from edgeemo.hub.config import load_config

    config = load_config(args.config)
    if args.db:
        config.db = args.db
    if getattr(args, "mqtt", None):
        config.mqtt.url = args.mqtt
    if getattr(args, "listen", None):
        config.web.listen = args.listen
    if getattr(args, "min_visits", None):
        config.web.min_visits = args.min_visits
    return config


def add_create(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--create", action="store_true", help="make a new SQLite hub database if --db names none "
                        "(without it, a missing file is an error: a mistyped path never starts an empty hub)")


def open_database_of(args: argparse.Namespace, create: bool = False):
    """The config and its database; a missing SQLite file is created only with `create` or --create."""
    from edgeemo.hub.storage.db import open_database

    config = config_of(args)
    return config, open_database(config.db, create=create or getattr(args, "create", False))


@contextmanager
def opened_database(args: argparse.Namespace, create: bool = False) -> Iterator[tuple]:
    """(config, database) for one command, the database closed however the command ends."""
    config, database = open_database_of(args, create)
    try:
        yield config, database
    finally:
        database.close()
