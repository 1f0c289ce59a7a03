#!/bin/bash
# make pi-check: edgeemo on emulated arm64 Debian 12 (the base of 64-bit Raspberry Pi OS).
#
# A minbase bookworm arm64 rootfs (debootstrap, cached in $EDGEEMO_PI_CACHE) runs under
# qemu-user-static. Each run works in a throw-away copy of it: the project's wheel is
# installed with the edge extra from aarch64 wheels only, into a venv that sees the system's
# packages, with numpy held at the system's version (python3-bottleneck, compiled against it,
# stands in for picamera2's simplejpeg). Then: the edge test subset, edgeemo run / report /
# model install / rollback / status on the sample clip, and the int8 model on 500 PublicTest
# faces under arm64 LiteRT against the same faces on this machine; BlazeFace's boxes on the sample
# clip against this machine's (within a pixel).
#
# Emulation pitfalls handled here (measured): qemu 7.2 passes the host's x86 /proc/cpuinfo
# through and LiteRT's CPU detection segfaults, so a Raspberry Pi 4's cpuinfo is bound over
# it; qemu's default CPU model ("max") has SME, and LiteRT's SME kernels return silently wrong
# int8 outputs, so QEMU_CPU pins a Cortex-A72 (Pi 4). Timings under emulation mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CACHE=${EDGEEMO_PI_CACHE:-/var/cache/edgeemo-pi}
SUITE=${EDGEEMO_PI_SUITE:-bookworm}
CPU=${EDGEEMO_PI_CPU:-cortex-a72}
MIRROR=${EDGEEMO_PI_MIRROR:-http://deb.debian.org/debian}
FER_TEST=${EDGEEMO_FER_TEST:-$REPO/../shared/data/fer2013/test}
FERPLUS_VOTES=${EDGEEMO_FERPLUS_VOTES:-$REPO/../shared/data/ferplus/ferplus_votes.csv}
PY=${PYTHON:-$REPO/.venv/bin/python}
# The edge tests that matter most on the device and run in minutes under emulation (a run of
# the sample clip costs about 30 s there): the store, tracking, releases, both detectors, and one clock jump.
PI_TESTS=${EDGEEMO_PI_TESTS:-tests/test_edge_store.py tests/test_tracking_visits.py tests/test_model_releases.py
tests/test_detectors.py
tests/test_edge_time.py::test_a_clock_jump_neither_inflates_nor_splits_nor_drops_the_visit[+1y-detect]
tests/test_edge_time.py::test_pruning_waits_for_a_sane_wall_clock
tests/test_edge_time.py::test_a_face_back_at_the_same_spot_after_a_long_gap_is_a_new_track}
started=$(date +%s)

say() { echo "pi-check: $*"; }
fail() { echo "pi-check: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot, mounts); CI runs as root - run it there or with sudo"
[ "$(uname -m)" = x86_64 ] || fail "runs on an x86-64 build machine (it emulates arm64 with qemu-user-static)"
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
    say "installing qemu-user-static, binfmt-support and debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static binfmt-support debootstrap >/dev/null \
        || fail "cannot install qemu-user-static/debootstrap with apt-get"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
        || fail "binfmt_misc is not mounted and cannot be (no privilege for mounts here?)"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null \
    || fail "binfmt_misc has no enabled qemu-aarch64 handler (update-binfmts --enable qemu-aarch64)"

# -- the cached rootfs ---------------------------------------------------------------------
ROOTFS=$CACHE/$SUITE-arm64
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,python3-numpy,python3-bottleneck
if [ ! -f "$ROOTFS/.edgeemo-complete" ] || [ "$(cat "$ROOTFS/.edgeemo-complete")" != "$PACKAGES" ]; then
    say "building the $SUITE arm64 rootfs in $ROOTFS (debootstrap, a few minutes; cached afterwards)"
    rm -rf "$ROOTFS.partial" && mkdir -p "$CACHE"
    debootstrap --arch=arm64 --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS.partial" "$MIRROR" \
        > "$CACHE/debootstrap-$SUITE.log" 2>&1 || fail "debootstrap failed; see $CACHE/debootstrap-$SUITE.log"
    echo "$PACKAGES" > "$ROOTFS.partial/.edgeemo-complete"
    rm -rf "$ROOTFS" && mv "$ROOTFS.partial" "$ROOTFS"
fi

# -- a throw-away copy, with the mounts the chroot needs -------------------------------------
WORK=$(mktemp -d /tmp/edgeemo-pi.XXXXXX)
CHROOT=$WORK/root
MOUNTS=()
cleanup() {
    for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do umount -l "${MOUNTS[$i]}" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
bind() {  # bind-mount $1 (a file or a folder) over $2, creating $2 like it if missing
    if [ -d "$1" ]; then mkdir -p "$2"; elif [ ! -e "$2" ]; then mkdir -p "$(dirname "$2")" && touch "$2"; fi
    mount --bind "$1" "$2" && MOUNTS+=("$2")
}
cp -a "$ROOTFS" "$CHROOT"
mount -t proc proc "$CHROOT/proc" && MOUNTS+=("$CHROOT/proc")
bind /dev "$CHROOT/dev"
bind /sys "$CHROOT/sys"  # LiteRT's cpuinfo reads /sys/devices/system/cpu
cp "$REPO/scripts/pi4-cpuinfo.txt" "$WORK/cpuinfo"
bind "$WORK/cpuinfo" "$CHROOT/proc/cpuinfo"
mkdir -p "$CACHE/pip" && bind "$CACHE/pip" "$CHROOT/root/.cache/pip"
cp /etc/resolv.conf "$CHROOT/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$CHROOT/etc/ssl/certs/host-ca.crt"

say "building the wheel"
rm -rf "$WORK/dist" && "$PY" -m pip wheel --no-deps -q -w "$WORK/dist" "$REPO" || fail "cannot build the wheel"
mkdir -p "$CHROOT/work/models" "$CHROOT/work/scripts"
cp "$REPO/scripts/detection_annotations.json" "$CHROOT/work/scripts/"
cp -r "$WORK/dist" "$REPO/tests" "$REPO/samples" "$REPO/pyproject.toml" "$CHROOT/work/"
cp "$REPO"/models/*_int8.tflite "$REPO"/models/*_int8.json "$CHROOT/work/models/"
cp "$REPO/scripts/pi_drift.py" "$REPO/scripts/pi_boxes.py" "$CHROOT/work/"
if [ -d "$FER_TEST" ]; then bind "$FER_TEST" "$CHROOT/fer-test"; fi
if [ -f "$FERPLUS_VOTES" ]; then bind "$FERPLUS_VOTES" "$CHROOT/ferplus_votes.csv"; fi

inside() {  # a command in the arm64 chroot, as a Pi 4 (the CPU model LiteRT computes right on)
    chroot "$CHROOT" /usr/bin/env -i HOME=/root PATH=/opt/edgeemo/venv/bin:/usr/bin:/bin LANG=C.UTF-8 \
        QEMU_CPU="$CPU" PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
        PYTHONDONTWRITEBYTECODE=1 EDGEEMO_MODELS=/var/lib/edgeemo/models "$@"
}
step() {  # step WHAT CMD...: run CMD in the chroot; on failure show its output and stop
    what=$1; shift
    if ! inside "$@" > "$WORK/step.log" 2>&1; then cat "$WORK/step.log" >&2; fail "$what"; fi
}
[ "$(inside uname -m)" = aarch64 ] || fail "the chroot does not run as aarch64"
inside python3 -c 'import platform; assert platform.machine() == "aarch64"'

# -- install as the deploy role does: a venv over the system's packages, numpy kept at the system's
say "installing the wheel with the edge extra (aarch64 wheels only; numpy held at the system's)"
inside python3 -m venv --system-site-packages /opt/edgeemo/venv
SYSTEM_NUMPY=$(inside /usr/bin/python3 -c 'import numpy; print(numpy.__version__)')
echo "numpy==$SYSTEM_NUMPY" > "$CHROOT/work/constraints.txt"
WHEEL=$(cd "$CHROOT/work/dist" && ls edgeemo-*.whl)
inside pip install -q --only-binary=:all: -c /work/constraints.txt "/work/dist/$WHEEL[edge]" pytest jsonschema \
    || fail "pip could not install edgeemo[edge] from aarch64 wheels with numpy==$SYSTEM_NUMPY"
inside python -c "import numpy, bottleneck, cv2, ai_edge_litert; assert numpy.__version__ == '$SYSTEM_NUMPY', numpy.__version__" \
    || fail "a system package compiled against the system's numpy (python3-bottleneck) no longer imports in the venv"
say "venv: numpy $SYSTEM_NUMPY (the system's), $(inside python -c 'import cv2; print("opencv", cv2.__version__)'), the system's bottleneck imports"

# -- the edge test subset, on the installed wheel (no edgeemo/ folder in /work to shadow it)
say "edge tests: $(echo $PI_TESTS | wc -w) files/tests"
inside sh -c "cd /work && python -m pytest -q -p no:cacheprovider $(echo $PI_TESTS)" || fail "edge tests failed on arm64"

# -- the commands a store device runs
say "edgeemo run / report / model install, rollback, status on the sample clip"
SUMMARY=$(inside sh -c 'cd /work && edgeemo run --source samples/clip.mp4 --db /tmp/pi.db --json' | tail -1)
echo "  run: $SUMMARY"
FRAMES=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["frames"])' "$REPO/samples/clip.truth.json")
echo "$SUMMARY" | inside python -c "import json, sys; s = json.load(sys.stdin); assert s['visits'] == 1 and s['frames'] == $FRAMES, s" \
    || fail "edgeemo run on arm64: expected $FRAMES frames (samples/clip.truth.json) and one visit"
step "edgeemo report on arm64" sh -c 'cd /work && edgeemo report --db /tmp/pi.db --out /tmp/report --min-visits 1 \
    && test -s /tmp/report/satisfaction.png'
step "edgeemo model install on arm64" sh -c 'cd /work && edgeemo model install models/fer_cnn_int8.tflite \
    && edgeemo model status'
if ls "$CHROOT"/work/models/ferplus_cnn_int8.tflite >/dev/null 2>&1; then
    step "edgeemo model install and rollback of a second model on arm64" sh -c 'cd /work \
        && edgeemo model install models/ferplus_cnn_int8.tflite && edgeemo model rollback && edgeemo model status'
fi
step "edgeemo run from the installed release on arm64" sh -c 'cd /work && edgeemo run --source samples/clip.mp4 \
    --model /var/lib/edgeemo/models/current --db /tmp/pi2.db'

# -- the default detector (BlazeFace) on arm64 against this machine: boxes on the sample clip
# (the frames decoded once, here: two OpenCV builds decode a clip to slightly different pixels)
"$PY" "$REPO/scripts/pi_boxes.py" frames --clip "$REPO/samples/clip.mp4" --out "$CHROOT/work/clip-frames.npz" \
    >/dev/null || fail "decoding the sample clip's frames"
"$PY" "$REPO/scripts/pi_boxes.py" predict --frames "$CHROOT/work/clip-frames.npz" --out "$WORK/x86-boxes.json" \
    >/dev/null || fail "x86 BlazeFace boxes on the sample clip"
step "arm64 BlazeFace boxes on the sample clip" python /work/pi_boxes.py predict --frames /work/clip-frames.npz \
    --out /tmp/arm64-boxes.json
BOXES=$("$PY" "$REPO/scripts/pi_boxes.py" compare "$WORK/x86-boxes.json" "$CHROOT/tmp/arm64-boxes.json") \
    || fail "BlazeFace boxes differ between arm64 and x86: $BOXES"
say "BlazeFace boxes, arm64 against x86: $BOXES"

# -- on-device drift: arm64 LiteRT against this machine on the same faces
if [ -d "$FER_TEST" ]; then
    for shipped in "$REPO"/models/*_int8.tflite; do  # every shipped int8 model, the family's sizes included
        model=$(basename "$shipped" .tflite)
        host_votes=() chroot_votes=()  # a FER+ model is scored on FER+ labels (the same faces either way)
        if [ "${model#ferplus}" != "$model" ] && [ -f "$FERPLUS_VOTES" ]; then
            host_votes=(--votes "$FERPLUS_VOTES") chroot_votes=(--votes /ferplus_votes.csv)
        fi
        "$PY" "$REPO/scripts/pi_drift.py" predict --model "$REPO/models/$model.tflite" --data "$FER_TEST" --n 500 \
            "${host_votes[@]}" --out "$WORK/x86-$model.npz" >/dev/null || fail "x86 predictions of $model"
        inside python /work/pi_drift.py predict --model "/work/models/$model.tflite" --data /fer-test --n 500 \
            "${chroot_votes[@]}" --out "/tmp/arm64-$model.npz" >/dev/null || fail "arm64 predictions of $model"
        DRIFT=$("$PY" "$REPO/scripts/pi_drift.py" compare "$WORK/x86-$model.npz" "$CHROOT/tmp/arm64-$model.npz") \
            || fail "on-device drift of $model: $DRIFT"
        say "on-device drift of $model: $DRIFT"
    done
else
    say "on-device drift SKIPPED: no FER-2013 test faces at $FER_TEST"
fi
say "passed in $(( $(date +%s) - started )) s ($SUITE arm64, QEMU_CPU=$CPU)"
