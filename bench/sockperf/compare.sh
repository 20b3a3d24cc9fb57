#!/bin/sh
# Peer comparison on loopback: sockperf ping-pong vs coalescope blast -> probe.
#
#   bench/sockperf/compare.sh [SECONDS] [RATE_PPS]        (defaults: 5 s, 10000/s)
#
# - Installs Debian's sockperf with apt-get (after apt-get update) when it is missing.
# - sockperf: server pinned to CPU $RX_CPU, ping-pong client pinned to CPU $TX_CPU at
#   RATE_PPS for SECONDS, 127.0.0.1 only. sockperf reports HALF the round trip
#   (RTT/2, two user->user hops averaged), not a measured one-way delay.
# - coalescope: `probe --mode busy-poll --cpu $RX_CPU` (its lowest-latency mode: the
#   receiver spins on its socket, SO_BUSY_POLL/SO_PREFER_BUSY_POLL set) and
#   `blast --schedule constant --cpu $TX_CPU` at the same rate for the same time, on
#   127.0.0.1; then the same with `probe --mode blocking` for contrast (MODES=...).
#   Its send->app is a measured one-way user->user delay on one clock
#   (CLOCK_REALTIME in the payload vs CLOCK_REALTIME after recvmsg returns); it also
#   splits it into send->kernel (kernel software RX timestamp) and kernel->app.
# - Prints p50 / p99 / p99.9 in microseconds side by side.
#
# The coalescope binary: $COALESCOPE if set, else built with `cargo build --release -p
# coalescope` (honours CARGO_TARGET_DIR). Numbers from a shared or virtual machine are
# noisy: run it on an otherwise idle host for anything you want to quote.
set -eu

SECONDS_RUN=${1:-5}
RATE=${2:-10000}
RX_CPU=${RX_CPU:-1}
TX_CPU=${TX_CPU:-0}
SP_PORT=${SP_PORT:-17001}
CS_PORT=${CS_PORT:-17002}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d)
SERVER_PID=
PROBE_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ! command -v sockperf >/dev/null 2>&1; then
    echo "compare.sh: installing sockperf (apt-get)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sockperf >/dev/null
fi
if [ -z "${COALESCOPE:-}" ]; then
    (cd "$ROOT" && cargo build --release -q -p coalescope)
    COALESCOPE="${CARGO_TARGET_DIR:-$ROOT/target}/release/coalescope"
fi

# --- sockperf ping-pong ---------------------------------------------------------------
taskset -c "$RX_CPU" sockperf server -i 127.0.0.1 -p "$SP_PORT" >"$WORK/sp-server.log" 2>&1 &
SERVER_PID=$!
sleep 1
taskset -c "$TX_CPU" sockperf ping-pong -i 127.0.0.1 -p "$SP_PORT" -t "$SECONDS_RUN" \
    --mps "$RATE" -m 64 >"$WORK/sp-client.log" 2>&1
kill "$SERVER_PID" 2>/dev/null || true
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
sp_pct() { # percentile line: "sockperf: ---> percentile 99.900 =   12.345"
    awk -v p="$1" '$2 == "--->" && $3 == "percentile" && $4 == p { print $6 }' "$WORK/sp-client.log"
}
SP50=$(sp_pct 50.000); SP99=$(sp_pct 99.000); SP999=$(sp_pct 99.900)
SPN=$(sed -n 's/.*\[Valid Duration\].*ReceivedMessages=\([0-9]*\).*/\1/p' "$WORK/sp-client.log" | head -n 1)

# --- coalescope blast -> probe, per receive mode ---------------------------------------
# busy-poll (pinned) is the lowest-latency mode; blocking is run too because on an
# oversubscribed host a spinning receiver shares its CPU with other runnable tasks and
# falls behind, while a sleeping one gets the scheduler's wake-up preference.
COUNT=$((SECONDS_RUN * RATE))
run_probe() { # run_probe MODE -> $WORK/probe-MODE.json, $WORK/blast-MODE.json
    "$COALESCOPE" probe --listen "127.0.0.1:$CS_PORT" --mode "$1" --cpu "$RX_CPU" \
        --count "$COUNT" --idle-timeout 2s --quiet --json >"$WORK/probe-$1.json" 2>"$WORK/probe.err" &
    PROBE_PID=$!
    i=0
    until grep -q "listening on" "$WORK/probe.err" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || { echo "compare.sh: probe did not start:" >&2; cat "$WORK/probe.err" >&2; exit 1; }
        sleep 0.1
    done
    "$COALESCOPE" blast --to "127.0.0.1:$CS_PORT" --rate "$RATE" --count "$COUNT" \
        --schedule constant --cpu "$TX_CPU" --json >"$WORK/blast-$1.json"
    wait "$PROBE_PID"
    PROBE_PID=
}
MODES=${MODES:-busy-poll blocking}
for mode in $MODES; do run_probe "$mode"; done

# Pull "name":{... "pNN_ns":X ...} out of the one-line JSON without needing jq.
cs() { # cs FILE OBJECT FIELD -> microseconds with 3 decimals
    sed -n "s/.*\"$2\":{\([^}]*\)}.*/\1/p" "$1" |
        sed -n "s/.*\"$3\":\(-\{0,1\}[0-9]*\).*/\1/p" |
        awk '{ printf "%.3f", $1 / 1000 }'
}
field() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$1"; }

printf '%-56s %10s %10s %10s %10s\n' "loopback, $RATE msg/s, $SECONDS_RUN s" "p50 us" "p99 us" "p99.9 us" "samples"
printf '%-56s %10s %10s %10s %10s\n' "sockperf ping-pong half-RTT (RTT/2, blocking)" "$SP50" "$SP99" "$SP999" "${SPN:-?}"
for mode in $MODES; do
    f="$WORK/probe-$mode.json"
    for obj in send_to_app send_to_kernel kernel_to_app; do
        printf '%-56s %10s %10s %10s %10s\n' "coalescope $mode pinned: $obj (one-way)" \
            "$(cs "$f" "$obj" p50_ns)" "$(cs "$f" "$obj" p99_ns)" "$(cs "$f" "$obj" p999_ns)" "$(field "$f" received)"
    done
    echo "  $mode: dropped $(field "$f" dropped), out_of_order $(field "$f" out_of_order); blast achieved $(field "$WORK/blast-$mode.json" achieved_pps) pps"
done
