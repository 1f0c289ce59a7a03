#!/bin/sh
# A shipped int8 model's calibration and the benchmarks that judge it, after scripts/release_family.sh:
#   sh scripts/calibrate_model.sh ferplus_cnn_int8 ../shared/data/fer2013 ../shared/data/ferplus/ferplus_votes.csv
#   sh scripts/calibrate_model.sh fer_cnn_int8 ../shared/data/fer2013
# 1. still faces: the test split as a second calibration source beside the validation split convert wrote
#    (the shipped calibration pools both; every benchmark leaves out the source made of the faces it scores);
# 2. the whole chain, per face-size band: the validation and the test faces through simulated footage
#    (edgeemo evaluate --chain --write-calibration: each face in two of the four bands), two processes at once;
# 3. the judges, written under reports/: --quantify cross-fitted (all faces, and the store-like faces with no
#    copy in training), --sizes, and --chain with the far and near profiles (default detector; far also oracle).
# shellcheck disable=SC2086  # LABELS is zero or two words, split on purpose
set -eu
NAME=${1:?model name, e.g. ferplus_cnn_int8}
FER=${2:?FER-2013 root holding train/ and test/}
VOTES=${3:-}
LABELS=""
[ -n "$VOTES" ] && LABELS="--votes $VOTES"
MODEL=models/$NAME.tflite
mkdir -p reports/quantify reports/chain reports/sizes
edgeemo evaluate --model "$MODEL" --data "$FER" --split test $LABELS --write-calibration --json > /dev/null
edgeemo evaluate --model "$MODEL" --data "$FER/train" --split validation $LABELS --chain --write-calibration \
    --json > "reports/chain/${NAME}_calibration_validation.log" 2>&1 &
VALIDATION=$!
# a copy of the model calibrates on the test faces meanwhile; its chain counts are merged in after
COPY=$(mktemp -d)
cp "$MODEL" "models/$NAME.json" "$COPY/"
edgeemo evaluate --model "$COPY/$NAME.tflite" --data "$FER" --split test $LABELS --chain --write-calibration \
    --json > "reports/chain/${NAME}_calibration_test.log" 2>&1
wait $VALIDATION
python - "$MODEL" "$COPY/$NAME.json" <<'PY'
import json, sys
from pathlib import Path
from edgeemo.calibrations import merge_chain
from edgeemo.sidecar import read_sidecar, write_calibration
model, copy = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())["calibration"]
record = read_sidecar(model).calibration
for band, entry in copy["chain"]["bands"].items():
    record["chain"]["bands"].setdefault(band, {"sources": {}})["sources"]["test"] = entry["sources"]["test"]
record["chain"]["made"]["test"] = copy["chain"]["made"]["test"]
write_calibration(model, record)
PY
rm -r "$COPY"
edgeemo evaluate --model "$MODEL" --data "$FER" --split test $LABELS --train-data "$FER/train" --quantify \
    --cross-fit 2 --json > "reports/quantify/${NAME}_crossfit.json"
edgeemo evaluate --model "$MODEL" --data "$FER" --split test $LABELS --train-data "$FER/train" --quantify \
    --cross-fit 2 --unseen-only --json > "reports/quantify/${NAME}_crossfit_unseen.json"
edgeemo evaluate --model "$MODEL" --data "$FER" --split test $LABELS --sizes 48,40,32,24 --jpeg 70 --json \
    > "reports/sizes/${NAME}.json"
for profile in far near; do
    edgeemo evaluate --model "$MODEL" --data "$FER" --split test $LABELS --chain $profile --cross-fit 2 --json \
        > "reports/chain/${NAME}_${profile}.json"
done
edgeemo evaluate --model "$MODEL" --data "$FER" --split test $LABELS --chain far --boxes oracle --cross-fit 2 \
    --json > "reports/chain/${NAME}_far_oracle.json"
