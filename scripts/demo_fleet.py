"""`make demo`: a fleet of three stores from simulated footage, in a hub a newcomer can open.

Each store's camera is simulated (`edgeemo simulate`: shoppers wearing the bundled sample faces,
a known truth), run through the device exactly as a store runs it (`edgeemo run`, its footage
labelled with when it was "recorded": the last two days' opening hours in the store's own time
zone), and its database imported into one hub database (`edgeemo hub import`), the store's zone
set, a demo login added and the released days sealed. Every step is the CLI a user would type.

    python scripts/demo_fleet.py --out demo-out
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
FACES = REPO / "samples" / "faces"
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"


@dataclass(frozen=True)
class Store:
    name: str
    timezone: str
    mix: str  # the shoppers' expressions (edgeemo simulate --mix)
    profile: str  # the camera: near (faces 48-96 px) or far (24-48 px, JPEG q70)


STORES = (Store("lisbon-baixa", "Europe/Lisbon", "natural", "near"),
          Store("chicago-loop", "America/Chicago", "happy50", "near"),
          Store("tokyo-shibuya", "Asia/Tokyo", "bad30", "far"))
HOURS = (11, 16)  # local opening hours filmed on each of the last two days
SHOPPERS = 34  # per hour filmed: enough for k = 5 in every hour, and 100+ visits a store


def edgeemo(*args: str, stdin: str | None = None) -> str:
    """Run one `edgeemo` command as a user would; its output, or exit with its error."""
    done = subprocess.run([sys.executable, "-m", "edgeemo", *args], input=stdin, capture_output=True, text=True, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        sys.exit(f"demo: `edgeemo {' '.join(args)}` failed:\n{done.stderr.strip()}")
    return done.stdout


def filmed_at(store: Store, now: datetime) -> list[datetime]:
    """The local opening hours filmed: yesterday's and the day before's (over and settled)."""
    local = now.astimezone(ZoneInfo(store.timezone))
    return [(local - timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
            for days in (2, 1) for hour in HOURS]


def device_config(path: Path, store: Store) -> Path:
    path.write_text(f'store_id = "{store.name}"\ndevice_id = "cam-1"\n\n[store]\ntimezone = "{store.timezone}"\n')
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo-out")
    args = parser.parse_args()
    out: Path = args.out
    if out.exists() and any(out.iterdir()):
        sys.exit(f"demo: {out} is not empty; remove it first (make demo does)")
    out.mkdir(parents=True, exist_ok=True)
    hub = out / "hub.db"
    started, now = time.monotonic(), datetime.now().astimezone()
    for number, store in enumerate(STORES):
        folder = out / store.name
        folder.mkdir()
        config, db = device_config(folder / "edgeemo.toml", store), folder / "edgeemo.db"
        for hour, when in enumerate(filmed_at(store, now)):
            footage = folder / f"footage-{hour}"
            edgeemo("simulate", "--faces", str(FACES), "--out", str(footage), "--profile", store.profile,
                    "--shoppers", str(SHOPPERS), "--mix", store.mix, "--seed", str(100 * number + hour))
            video = next(footage.glob("footage.*"))
            summary = json.loads(edgeemo("run", "--config", str(config), "--db", str(db), "--source", str(video),
                                         "--recorded-at", when.isoformat(), "--json"))
            print(f"{store.name}: {when:%a %d %b %H:%M} {store.timezone}: {summary['visits']} visits recorded "
                  f"from {SHOPPERS} simulated shoppers ({store.profile} camera, {store.mix})", flush=True)
            if hour:  # the first hour's footage stays to be watched; the rest (MJPEG: large) keeps its truth only
                video.unlink()
        edgeemo("hub", "import", str(db), "--db", str(hub), "--store", store.name, "--device", "cam-1")
        edgeemo("hub", "store", "set", store.name, "--timezone", store.timezone, "--db", str(hub))
    edgeemo("hub", "user", "add", DEMO_USER, "--role", "admin", "--db", str(hub), stdin=DEMO_PASSWORD + "\n")
    edgeemo("hub", "upkeep", "--db", str(hub))
    report = out / STORES[0].name / "report"
    edgeemo("report", "--db", str(out / STORES[0].name / "edgeemo.db"), "--out", str(report), "--bucket", "hour")
    print(f"\nthe fleet: {len(STORES)} stores in {hub} ({time.monotonic() - started:.0f} s)")
    print(f"one store's device report: {report}/satisfaction.png and emotion_mix.png")
    print(f"open the dashboard: make hub-demo, then http://127.0.0.1:8080 as {DEMO_USER} / {DEMO_PASSWORD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
