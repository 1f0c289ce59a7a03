"""The model card's table of training runs, from each run's sidecar (validation numbers only).

    python scripts/run_table.py runs/ferplus_dist runs/ferplus_major ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def row(run: Path) -> str:
    made = json.loads((run / "model.json").read_text())["made_by"]
    config = made["config"]
    augment = "light" if config["augment"]["max_rotation_deg"] == 0 else "standard"
    init = Path(config["init_from"]).name if config.get("init_from") else "scratch"
    labels = f"FER+ {config['targets']}" if config.get("votes") else "FER-2013"
    recall = made["validation_recall"]
    minority = ", ".join(f"{k} {recall[k]:.2f}" for k in ("contempt", "disgust", "fear") if k in recall)
    return (f"| `{run.name}` | {labels} | {init} | {augment} | {config['epochs']} / lr {config['lr']:g} | "
            f"{made['best_epoch']} of {made['epochs_run']} | **{made['validation_accuracy']:.2%}** | "
            f"{made['validation_macro_f1']:.3f} | {minority} | {made['train_seconds'] / 60:.0f} min |")


def main() -> None:
    print("| run | labels / targets | start | augmentation | epochs / peak lr | best epoch | validation "
          "accuracy | macro-F1 | recall (rare classes) | time |")
    print("| --- | --- | --- | --- | --- | --- | ---: | ---: | --- | ---: |")
    for run in sys.argv[1:]:
        print(row(Path(run)))


if __name__ == "__main__":
    main()
