#!/bin/sh
# coalescope fidelity check: measure the receive path of the veth namespace lab with
# `coalescope probe`, predict it with a calibrated `coalescope sim`, and print measured vs
# predicted p50/p99/p999 of send->kernel and send->app with predicted/measured ratios,
# one row per setting and rate.
#
#   sudo lab/fidelity.sh [--bin PATH] [--count N] [--sim-packets N] [--quick] [--check-p50 LO,HI]
#                        [--check-p99 LO,HI] [--out FILE]
#
#   --bin PATH         coalescope binary (default target/release/coalescope)
#   --count N          datagrams per row and per calibration phase (default 20000)
#   --sim-packets N    packets per simulated row (default 200000: predictions are
#                      expectations, so they use more packets than a lab row)
#   --quick            two rows only: (0,0) and (1000,200us) at 2000 pps, forwarding on
#   --check-p50 LO,HI  exit 1 if any row's send->kernel p50 ratio (predicted/measured)
#                      is outside [LO, HI]
#   --check-p99 LO,HI  the same for the send->kernel p99 ratio
#   --out FILE         also write the table as CSV
#
# Steps: build the lab (lab/netns.sh up; it is torn down on exit, error, SIGINT or
# SIGTERM); calibrate once: a deferral-off run at 2000 pps and a deferral-on run
# (napi_defer_hard_irqs 2, gro_flush_timeout 200us, rx-udp-gro-forwarding off) at 20000
# pps, both recorded with `probe -o`, fitted by `coalescope calibrate` into host.toml
# (the tick, hz, is read on this host); then for every row set the knobs, run `probe`
# in cs-rx and `blast --schedule poisson` in cs-tx, and run `sim` with the same rate,
# count, deferral, GRO mode (udp-forwarding when forwarding is on, else on), busy-poll,
# --device veth, the calibrated --hz and --host.
#
# The matrix: deferral (napi_defer_hard_irqs, gro_flush_timeout) in (0,0) (2,50us)
# (2,200us) (2,1ms) (1000,200us), rx-udp-gro-forwarding on and off, at 2000 and 20000
# pps; plus probe --mode busy-poll vs sim --busy-poll with deferral off and forwarding
# on at both rates.
#
# Exit: 0 ok, 1 a --check bound failed, 2 usage or a failed step (a failing sim shows as
# ERR in its row, and the script exits 2 after printing the table), 3 missing tools.
# Needs root, iproute2, ethtool, awk. POSIX sh.
set -eu

BIN=target/release/coalescope
COUNT=20000
SIM_PACKETS=200000
QUICK=0
CHECK_P50=
CHECK_P99=
OUT=

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=${2:?}; shift 2 ;;
        --count) COUNT=${2:?}; shift 2 ;;
        --sim-packets) SIM_PACKETS=${2:?}; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --check-p50) CHECK_P50=${2:?}; shift 2 ;;
        --check-p99) CHECK_P99=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        *) echo "fidelity.sh: unknown argument $1" >&2; usage ;;
    esac
done
case "$COUNT" in ''|*[!0-9]*) echo "fidelity.sh: --count needs a positive integer" >&2; exit 2 ;; esac
case "$SIM_PACKETS" in ''|*[!0-9]*) echo "fidelity.sh: --sim-packets needs a positive integer" >&2; exit 2 ;; esac
[ "$COUNT" -gt 0 ] || { echo "fidelity.sh: --count needs a positive integer" >&2; exit 2; }
for b in "$CHECK_P50" "$CHECK_P99"; do
    [ -z "$b" ] && continue
    echo "$b" | grep -Eq '^[0-9.]+,[0-9.]+$' || { echo "fidelity.sh: a bound is LO,HI, got $b" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "fidelity.sh: needs root (network namespaces)" >&2; exit 3; }
for tool in ip ethtool awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "fidelity.sh: '$tool' not found" >&2; exit 3; }
done
[ -x "$BIN" ] || { echo "fidelity.sh: binary $BIN not found (cargo build --release, or --bin)" >&2; exit 2; }
case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac

LAB="$(cd "$(dirname "$0")" && pwd)/netns.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/coalescope-fidelity.XXXXXX")
PROBE_PID=
cleanup() {
    [ -n "$PROBE_PID" ] && kill "$PROBE_PID" 2>/dev/null || true
    sh "$LAB" down || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

RX_IP=10.77.0.2
PORT=9000

# jnum FILE OBJ KEY: the number KEY inside the first object "OBJ":{...} of a JSON file
# (OBJ may be empty: KEY anywhere); empty when absent or null.
jnum() {
    tr -d ' \n\t' <"$1" | awk -v obj="$2" -v key="$3" '{
        s = $0
        if (obj != "") {
            i = index(s, "\"" obj "\":{")
            if (i == 0) exit
            s = substr(s, i + length(obj) + 3)
        }
        i = index(s, "\"" key "\":")
        if (i == 0) exit
        s = substr(s, i + length(key) + 3)
        if (match(s, /^-?[0-9.eE+]+/)) print substr(s, 1, RLENGTH)
    }'
}

# measure TAG RATE MODE SEED [PROBE ARGS...]: one blast -> probe run; probe's JSON
# summary in $WORK/TAG.probe.json.
measure() {
    tag=$1 rate=$2 mode=$3 seed=$4
    shift 4
    ip netns exec cs-rx "$BIN" probe --listen "$RX_IP:$PORT" --count "$COUNT" --quiet \
        --duration "$((COUNT / rate + 20))s" --json --mode "$mode" --rcvbuf 4194304 "$@" \
        >"$WORK/$tag.probe.json" 2>"$WORK/$tag.probe.err" &
    PROBE_PID=$!
    n=0
    until grep -q "listening on" "$WORK/$tag.probe.err" 2>/dev/null; do
        n=$((n + 1))
        if [ $n -gt 100 ] || ! kill -0 "$PROBE_PID" 2>/dev/null; then
            cat "$WORK/$tag.probe.err" >&2
            echo "fidelity.sh: probe did not start ($tag)" >&2
            exit 2
        fi
        sleep 0.1
    done
    if ! ip netns exec cs-tx "$BIN" blast --to "$RX_IP:$PORT" --rate "$rate" \
        --count "$COUNT" --schedule poisson --seed "$seed" --json \
        >"$WORK/$tag.blast.json" 2>"$WORK/$tag.blast.err"; then
        cat "$WORK/$tag.blast.err" >&2
        echo "fidelity.sh: blast failed ($tag)" >&2
        exit 2
    fi
    if ! wait "$PROBE_PID"; then
        PROBE_PID=
        cat "$WORK/$tag.probe.err" >&2
        echo "fidelity.sh: probe failed ($tag)" >&2
        exit 2
    fi
    PROBE_PID=
}

sh "$LAB" up

# Calibration, once.
echo "calibrating: deferral off at 2000 pps, then (2, 200us) forwarding off at 20000 pps ($COUNT datagrams each)" >&2
sh "$LAB" deferral 0 0
measure cal-off 2000 blocking 101 -o "$WORK/off.csv"
sh "$LAB" gro-forwarding off
sh "$LAB" deferral 2 200000
measure cal-on 20000 blocking 102 -o "$WORK/on.csv"
"$BIN" calibrate --events "$WORK/off.csv" --deferral-events "$WORK/on.csv" \
    --gro-flush-timeout 200us -o "$WORK/host.toml" --json >"$WORK/calibrate.json"
HZ=$(jnum "$WORK/calibrate.json" host hz)
[ -n "$HZ" ] || { echo "fidelity.sh: calibrate gave no hz" >&2; exit 2; }
echo "calibrated: hz $HZ; [host] table:" >&2
grep -v '^#' "$WORK/host.toml" >&2

# The rows: DEFER TIMEOUT_NS FORWARDING MODE RATE.
if [ "$QUICK" -eq 1 ]; then
    ROWS="0 0 on blocking 2000
1000 200000 on blocking 2000"
else
    ROWS=
    for rate in 2000 20000; do
        for fwd in on off; do
            for d in "0 0" "2 50000" "2 200000" "2 1000000" "1000 200000"; do
                ROWS="$ROWS$d $fwd blocking $rate
"
            done
        done
        ROWS="${ROWS}0 0 on busy-poll $rate
"
    done
fi

CSV="$WORK/table.csv"
echo "defer_hard_irqs,gro_flush_timeout_ns,gro_forwarding,mode,rate_pps,received,dropped,k_p50_meas,k_p50_pred,k_p50_ratio,k_p99_meas,k_p99_pred,k_p99_ratio,k_p999_meas,k_p999_pred,k_p999_ratio,a_p50_meas,a_p50_pred,a_p50_ratio,a_p99_meas,a_p99_pred,a_p99_ratio,a_p999_meas,a_p999_pred,a_p999_ratio" >"$CSV"
SIM_FAILED=0
seed=1
while read -r defer timeout fwd mode rate; do
    [ -n "$defer" ] || continue
    seed=$((seed + 1))
    tag="row$seed"
    sh "$LAB" gro-forwarding "$fwd"
    sh "$LAB" deferral "$defer" "$timeout"
    if [ "$mode" = busy-poll ]; then
        measure "$tag" "$rate" busy-poll "$seed"
        sim_mode="--policy none --busy-poll"
    elif [ "$defer" -eq 0 ] && [ "$timeout" -eq 0 ]; then
        measure "$tag" "$rate" blocking "$seed"
        sim_mode="--policy none"
    else
        measure "$tag" "$rate" blocking "$seed"
        sim_mode="--policy deferral --napi-defer-hard-irqs $defer --gro-flush-timeout ${timeout}ns"
    fi
    if [ "$fwd" = on ]; then gro=udp-forwarding; else gro=on; fi
    # shellcheck disable=SC2086 # sim_mode is a list of flags
    if ! "$BIN" sim --rate "$rate" --packets "$SIM_PACKETS" --seed "$seed" $sim_mode --gro "$gro" \
        --hz "$HZ" --device veth --host "$WORK/host.toml" --json \
        >"$WORK/$tag.sim.json" 2>"$WORK/$tag.sim.err"; then
        echo "fidelity.sh: sim failed for $defer $timeout $fwd $mode $rate: $(head -c 300 "$WORK/$tag.sim.err")" >&2
        : >"$WORK/$tag.sim.json"
        echo 1 >"$WORK/sim_failed"
    fi
    p="$WORK/$tag.probe.json"
    s="$WORK/$tag.sim.json"
    printf '%s,%s,%s,%s,%s,%s,%s' "$defer" "$timeout" "$fwd" "$mode" "$rate" \
        "$(jnum "$p" "" received)" "$(jnum "$p" "" dropped)" >>"$CSV"
    for q in p50 p99 p999; do
        printf ',%s,%s' "$(jnum "$p" send_to_kernel "${q}_ns")" "$(jnum "$s" summary "stack_${q}_ns")" >>"$CSV"
        printf ',' >>"$CSV"
    done
    for q in p50 p99 p999; do
        printf ',%s,%s' "$(jnum "$p" send_to_app "${q}_ns")" "$(jnum "$s" summary "${q}_ns")" >>"$CSV"
        printf ',' >>"$CSV"
    done
    echo >>"$CSV"
done <<ROWS_END
$ROWS
ROWS_END
[ -f "$WORK/sim_failed" ] && SIM_FAILED=1

# Fill the ratio columns (predicted / measured) and print the table; check the bounds.
awk -F, -v out="$WORK/final.csv" -v c50="$CHECK_P50" -v c99="$CHECK_P99" '
function us(ns) { return ns == "" ? "-" : sprintf("%.1f", ns / 1000) }
function ratio(p, m) { return (p == "" || m == "" || m + 0 <= 0) ? "" : sprintf("%.2f", p / m) }
function rs(r) { return r == "" ? "ERR" : r }
function outside(r, b,   lh) { if (b == "") return 0; split(b, lh, ","); return r == "" || r + 0 < lh[1] + 0 || r + 0 > lh[2] + 0 }
BEGIN { bad = 0 }
NR == 1 { print > out; next }
{
    for (c = 10; c <= 25; c += 3) $c = ratio($(c - 1), $(c - 2))
    line = $1; for (c = 2; c <= NF; c++) line = line "," $c
    print line > out
    if (!header) {
        printf "%-6s %-9s %-4s %-9s %-6s %-7s | %-22s %-22s %-22s | %-22s %-22s %-22s\n", "defer", "timeout", "fwd", "mode", "pps", "rx/drop", \
            "kern p50 meas/pred/r", "kern p99 meas/pred/r", "kern p999 meas/pred/r", "app p50 meas/pred/r", "app p99 meas/pred/r", "app p999 meas/pred/r"
        header = 1
    }
    printf "%-6s %-9s %-4s %-9s %-6s %-7s |", $1, us($2) "us", $3, $4, $5, $6 "/" $7
    for (c = 8; c <= 23; c += 3) printf " %-22s", us($c) "/" us($(c + 1)) "/" rs($(c + 2))
    printf "\n"
    if (outside($10, c50)) { bad = 1; printf "  ^ send->kernel p50 ratio %s outside [%s]\n", rs($10), c50 }
    if (outside($13, c99)) { bad = 1; printf "  ^ send->kernel p99 ratio %s outside [%s]\n", rs($13), c99 }
}
END { exit bad }' "$CSV" && CHECK=0 || CHECK=1
echo "(us; r = predicted/measured; measured by coalescope probe on the veth lab, $(date -u '+%Y-%m-%d %H:%M UTC'), $COUNT datagrams per row)"
[ -n "$OUT" ] && cp "$WORK/final.csv" "$OUT"
[ "$SIM_FAILED" -eq 1 ] && { echo "fidelity.sh: sim failed on some rows (ERR)" >&2; exit 2; }
exit "$CHECK"
