#!/bin/sh
# How the shipped FER+ models and the numbers in models/MODEL_CARD.md's FER+ section are made:
#   sh scripts/release_ferplus.sh runs/ferplus_std_light ../shared/data/fer2013 ../shared/data/ferplus/ferplus_votes.csv
#   sh scripts/release_ferplus.sh runs/ferplus_s ../shared/data/fer2013 ../shared/data/ferplus/ferplus_votes.csv ferplus_s
# NAME (the fourth argument) is ferplus_cnn unless given; the work is scripts/release_family.sh's.
set -eu
exec sh "$(dirname "$0")/release_family.sh" "${1:?run directory}" "${2:?FER-2013 root holding train/ and test/}" \
    "${4:-ferplus_cnn}" "${3:?ferplus_votes.csv}"
