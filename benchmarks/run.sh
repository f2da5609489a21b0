#!/usr/bin/env bash
# Load benchmark of portcullis against the bare service, jwt-authorizer and tower-sessions.
# See BENCHMARKS.md. Needs: cargo, wrk, openssl, curl, taskset, python3 (Debian:
# apt-get install -y wrk openssl curl util-linux python3).
#
#   bash benchmarks/run.sh                    # 5 rounds x 10 s, then the memory figures
#   ROUNDS=1 DURATION=3 bash benchmarks/run.sh   # a quick smoke run
#
# Knobs (environment): ROUNDS (5), DURATION seconds per measurement (10), CONNECTIONS (64),
# POOL distinct tokens per algorithm for the cold path (1000), SERVER_CPU (0), CLIENT_CPU (1),
# BASE_PORT (18000), MEMORY (1: also measure bytes per session; 0: skip),
# ONLY (an extended regex: run only the variants whose names match, e.g. 'bare|cookie'),
# OUT (directory for the raw results; default benchmarks/results),
# CARGO_TARGET_DIR (default benchmarks/load/target).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
POOL=${POOL:-1000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18000}
MEMORY=${MEMORY:-1}
OUT=${OUT:-$ROOT/benchmarks/results}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/benchmarks/load/target}

for tool in cargo wrk openssl curl taskset python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (Debian: apt-get install -y wrk)" >&2; exit 1; }
done

echo "== build (release, $CARGO_TARGET_DIR)"
cargo build --release --manifest-path "$ROOT/benchmarks/load/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/portcullis-load

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== keys (RSA 2048, P-256, Ed25519) in $WORK"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/rsa.pem" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/ec.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$WORK/ed.pem" 2>/dev/null

JWKS_PORT=$BASE_PORT
BARE_PORT=$((BASE_PORT + 1))
PC_PORT=$((BASE_PORT + 2))
COLD_PORT=$((BASE_PORT + 3))
JA_PORT=$((BASE_PORT + 4))
TS_PORT=$((BASE_PORT + 5))

declare -A SERVER_PID
start() { # name, command...
  local name=$1; shift
  taskset -c "$SERVER_CPU" "$BIN" "$@" >"$WORK/$name.log" 2>&1 &
  SERVER_PID[$name]=$!
  PIDS+=("$!")
}
wait_port() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "run.sh: nothing listens on port $1" >&2; exit 1
}

echo "== servers (pinned to CPU $SERVER_CPU, one Tokio worker each)"
"$BIN" jwks --port "$JWKS_PORT" --keys "$WORK" >"$WORK/jwks.log" 2>&1 &
PIDS+=("$!")
curl -s --retry 50 --retry-delay 0 --retry-connrefused -o /dev/null "http://127.0.0.1:$JWKS_PORT/jwks.json"
start bare bare --port "$BARE_PORT"
start portcullis portcullis --port "$PC_PORT" --jwks-port "$JWKS_PORT" --keys "$WORK"
start portcullis-cold portcullis --port "$COLD_PORT" --jwks-port "$JWKS_PORT" --keys "$WORK" --cold
start jwt-authorizer jwt-authorizer --port "$JA_PORT" --jwks-port "$JWKS_PORT"
start tower-sessions tower-sessions --port "$TS_PORT"
for port in "$BARE_PORT" "$PC_PORT" "$COLD_PORT" "$JA_PORT" "$TS_PORT"; do wait_port "$port"; done

echo "== tokens ($POOL distinct per algorithm)"
for alg in rs256 es256 eddsa; do
  "$BIN" tokens --alg "$alg" --count "$POOL" --jwks-port "$JWKS_PORT" --keys "$WORK" >"$WORK/tokens-$alg.txt"
done
TOKEN=$(head -n1 "$WORK/tokens-rs256.txt")
echo "RS256 token: ${#TOKEN} bytes"

UA="User-Agent: portcullis-bench"
login() { # port -> "name=value" of the session cookie
  curl -s -A portcullis-bench -c - -o /dev/null -X POST "http://127.0.0.1:$1/login" \
    | awk '!/^#/ || /^#HttpOnly_/ { if (NF >= 7) c = $6 "=" $7 } END { print c }'
}
PC_COOKIE=$(login "$PC_PORT")
TS_COOKIE=$(login "$TS_PORT")
[ -n "$PC_COOKIE" ] && [ -n "$TS_COOKIE" ] || { echo "run.sh: login failed" >&2; exit 1; }

status() { curl -s -o /dev/null -w '%{http_code}' -A portcullis-bench "$@"; }
check() { # expected, description, curl args...
  local want=$1 what=$2; shift 2
  local got
  for _ in $(seq 50); do # the JWKS is fetched in the background at start
    got=$(status "$@")
    [ "$got" = "$want" ] && { echo "  ok  $got $what"; return 0; }
    sleep 0.1
  done
  echo "run.sh: $what: got $got, want $want" >&2; exit 1
}
echo "== sanity checks"
check 200 "bare" "http://127.0.0.1:$BARE_PORT/"
check 200 "portcullis session cookie" -H "Cookie: $PC_COOKIE" "http://127.0.0.1:$PC_PORT/"
check 401 "portcullis without credentials" "http://127.0.0.1:$PC_PORT/"
check 401 "portcullis forged cookie" -H "Cookie: portcullis-session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "http://127.0.0.1:$PC_PORT/"
check 200 "portcullis bearer RS256" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PC_PORT/"
check 401 "portcullis tampered bearer" -H "Authorization: Bearer ${TOKEN%?????}AAAAA" "http://127.0.0.1:$PC_PORT/"
for alg in rs256 es256 eddsa; do
  t=$(sed -n 2p "$WORK/tokens-$alg.txt")
  check 200 "portcullis cold $alg" -H "Authorization: Bearer $t" "http://127.0.0.1:$COLD_PORT/"
  check 200 "jwt-authorizer $alg" -H "Authorization: Bearer $t" "http://127.0.0.1:$JA_PORT/"
done
check 401 "jwt-authorizer tampered bearer" -H "Authorization: Bearer ${TOKEN%?????}AAAAA" "http://127.0.0.1:$JA_PORT/"
check 200 "tower-sessions cookie" -H "Cookie: $TS_COOKIE" "http://127.0.0.1:$TS_PORT/"
check 401 "tower-sessions without cookie" "http://127.0.0.1:$TS_PORT/"

# name | server | port | -H header (or empty) | token file for rotation (or empty)
VARIANTS=(
  "bare|bare|$BARE_PORT||"
  "portcullis-cookie|portcullis|$PC_PORT|Cookie: $PC_COOKIE|"
  "portcullis-bearer-rs256|portcullis|$PC_PORT|Authorization: Bearer $TOKEN|"
  "jwt-authorizer-rs256|jwt-authorizer|$JA_PORT|Authorization: Bearer $TOKEN|"
  "tower-sessions-cookie|tower-sessions|$TS_PORT|Cookie: $TS_COOKIE|"
  "portcullis-cold-rs256|portcullis-cold|$COLD_PORT||$WORK/tokens-rs256.txt"
  "jwt-authorizer-cold-rs256|jwt-authorizer|$JA_PORT||$WORK/tokens-rs256.txt"
  "portcullis-cold-es256|portcullis-cold|$COLD_PORT||$WORK/tokens-es256.txt"
  "jwt-authorizer-cold-es256|jwt-authorizer|$JA_PORT||$WORK/tokens-es256.txt"
  "portcullis-cold-eddsa|portcullis-cold|$COLD_PORT||$WORK/tokens-eddsa.txt"
  "jwt-authorizer-cold-eddsa|jwt-authorizer|$JA_PORT||$WORK/tokens-eddsa.txt"
)

if [ -n "${ONLY:-}" ]; then
  KEPT=()
  for v in "${VARIANTS[@]}"; do [[ ${v%%|*} =~ $ONLY ]] && KEPT+=("$v"); done
  VARIANTS=("${KEPT[@]}")
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

measure() { # variant spec, seconds -> "RESULT ..." line with cpu
  local name server port header file
  IFS='|' read -r name server port header file <<<"$1"
  local pid=${SERVER_PID[$server]}
  local args=(-t1 -c"$CONNECTIONS" -d"$2"s --latency -H "$UA")
  [ -n "$header" ] && args+=(-H "$header")
  args+=(-s "$ROOT/benchmarks/bench.lua" "http://127.0.0.1:$port/")
  [ -n "$file" ] && args+=(-- "$file" Authorization "Bearer ")
  local t0 t1 line
  t0=$(cpu_ticks "$pid")
  line=$(taskset -c "$CLIENT_CPU" wrk "${args[@]}" | grep '^RESULT')
  t1=$(cpu_ticks "$pid")
  echo "$line server_cpu_ticks=$((t1 - t0)) clk_tck=$TICK"
}

mkdir -p "$OUT"
RAW=$OUT/raw.txt
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) rounds=$ROUNDS duration=${DURATION}s connections=$CONNECTIONS pool=$POOL"
  echo "# nproc=$(nproc) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "# wrk=$(wrk -v 2>&1 | head -n1 | awk '{print $2}') rustc=$(rustc --version | awk '{print $2}')"
} >"$RAW"

echo "== warm-up (2 s per variant)"
for v in "${VARIANTS[@]}"; do measure "$v" 2 >/dev/null; done

n=${#VARIANTS[@]}
for round in $(seq "$ROUNDS"); do
  echo "== round $round/$ROUNDS"
  for k in $(seq 0 $((n - 1))); do
    v=${VARIANTS[$(((k + round - 1) % n))]} # a different variant first each round
    name=${v%%|*}
    line=$(measure "$v" "$DURATION")
    echo "round=$round variant=$name $line" | tee -a "$RAW"
  done
done

for server in "${!SERVER_PID[@]}"; do
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/${SERVER_PID[$server]}/status")
  echo "peak_rss server=$server vmhwm_kib=$hwm" | tee -a "$RAW"
done

if [ "$MEMORY" = 1 ]; then
  echo "== memory per session"
  for sessions in 100000 1000000; do
    for store in portcullis tower-sessions; do
      echo "memory $("$BIN" memory --sessions "$sessions" --store "$store")" | tee -a "$RAW"
    done
  done
fi

python3 "$ROOT/benchmarks/summarize.py" "$RAW" | tee "$OUT/summary.md"
