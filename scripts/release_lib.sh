# Shared by scripts/release_model.sh and scripts/release_family.sh (sourced, not run).

logged() {  # logged LOG CMD...: run, keep the output in LOG and show it; fail when CMD fails
    log=$1; shift
    if "$@" > "$log" 2>&1; then cat "$log"; else cat "$log"; echo "failed: $*" >&2; exit 1; fi
}

ship_model() {  # ship_model RUN NAME: a run's best model -> models/NAME.keras, its sidecar and curves
    cp "$1/model.keras" "models/$2.keras"
    python - "$1" "$2" <<'PY'
import json, sys
from pathlib import Path
run, name = Path(sys.argv[1]), sys.argv[2]
sidecar = json.loads((run / "model.json").read_text())
sidecar["model_file"] = f"{name}.keras"
Path(f"models/{name}.json").write_text(json.dumps(sidecar, indent=2) + "\n")
PY
    cp "$1/curves.png" "models/$2_curves.png"
}
