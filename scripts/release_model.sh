#!/bin/sh
# How the shipped models and the numbers in models/MODEL_CARD.md are produced from a run:
#   sh scripts/release_model.sh runs/fer2013 ../shared/data/fer2013
# Writes models/fer_cnn.{keras,json}, models/fer_cnn_int8.{tflite,json} (+ drift report),
# and the measurements under reports/ (test is only evaluated here, never used for a choice).
set -eu
RUN=${1:?run directory}
FER=${2:?FER-2013 root holding train/ and test/}
mkdir -p reports models
. "$(dirname "$0")/release_lib.sh"
ship_model "$RUN" fer_cnn
# the model's confusion on its own validation split: the calibration the corrected index is made with
edgeemo evaluate --model models/fer_cnn.keras --data "$FER/train" --split validation --write-calibration --json \
    > reports/float_validation.json
edgeemo evaluate --model models/fer_cnn.keras --data "$FER/test" --out reports/float_test
cp reports/float_test/confusion_matrix.png models/fer_cnn_publictest_confusion.png
logged reports/convert.log edgeemo convert --int8 --data "$FER/train"
# latency first, while nothing else runs on the machine
logged reports/latency.txt python scripts/latency.py --model models/fer_cnn.keras \
    --model models/fer_cnn_int8.tflite --n 1000
edgeemo evaluate --model models/fer_cnn_int8.tflite --data "$FER/test" --out reports/int8_test
# convert wrote the int8 model's own calibration; how well the corrected figures come out (still faces):
mkdir -p reports/quantify
edgeemo evaluate --model models/fer_cnn_int8.tflite --data "$FER/test" --quantify --json \
    > reports/quantify/fer_cnn_int8_publictest.json
edgeemo drift --float models/fer_cnn.keras --int8 models/fer_cnn_int8.tflite --data "$FER/test" \
    --max-drop 0.5 --min-agreement 0.985 --out reports/drift_test || echo "drift targets missed on test"
# the pruned variant's target is accuracy only (<= 1.0 pt below the unpruned float); agreement is reported
logged reports/convert_pruned.log edgeemo convert --int8 --data "$FER/train" --prune 0.5 --prune-epochs 2 \
    --max-drop 1.0 --min-agreement 0 --out reports/pruned/fer_cnn_p50_int8.tflite
edgeemo evaluate --model reports/pruned/fer_cnn_p50_int8.tflite --data "$FER/test" --out reports/pruned_int8_test
