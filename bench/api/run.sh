#!/usr/bin/env bash
# REST API benchmark: jhub vs a bare axum handler (the ceiling) vs the real
# JupyterHub 6.1.1, in one run, on this machine, with 10,000 users in SQLite,
# directly against each hub (no proxy), wrk at concurrency 16.
#
#   eval "$(scripts/install-tools bench)"   # wrk, a JupyterHub 6.1.1 venv, CHP
#   bench/api/run.sh                        # ≈6 minutes; SKIP_JUPYTERHUB=1 for jhub only
#
# Measures GET /hub/api/users/{random name}, GET /hub/api/users?limit=200
# (Accept: application/jupyterhub-pagination+json) and the admin page's two
# heaviest listings (a name search sorted by activity, a deep page sorted by
# name; run with USERS=50000 for the admin page's target) with the baseline scripts
# in bench/baseline (copied from the project's JupyterHub baseline), and jhub's
# resident memory (VmRSS) with 10,000 users. Prints a table with ratios and
# writes the raw JSON to $OUT. Everything binds 127.0.0.1; every step is bounded.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
base=$root/bench/baseline
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/jhub/target}
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/jhub-bench-api.XXXXXX")}
USERS=${USERS:-10000}
DURATION=${DURATION:-20}
TOKEN=bench-admin-token-0123456789
JHUB_PORT=${JHUB_PORT:-29081}
CEILING_PORT=${CEILING_PORT:-29082}
export JHB_PORT=${JHB_PORT:-29000} JHB_PROXY_API_PORT=${JHB_PROXY_API_PORT:-29001}
export JHB_HUB_PORT=${JHB_HUB_PORT:-29091} JHB_DUMMY_PORT=${JHB_DUMMY_PORT:-29888}
export JHB_TOKEN=$TOKEN JUPYTERHUB_API_TOKEN=$TOKEN
B="python3 $base/bench_api.py"
mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

command -v wrk >/dev/null || { echo "wrk not found: eval \"\$(scripts/install-tools bench)\"" >&2; exit 2; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_health() { # URL SECONDS
  for _ in $(seq 1 $(( $2 * 10 ))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2; return 1
}

log "building jhub-bench (release)"
cargo build --release -q -p jhub-bench
bin=$CARGO_TARGET_DIR/release/jhub-bench

log "jhub: $USERS users in a fresh SQLite file, fake spawner, memory proxy"
rm -rf "$OUT/jhub" && mkdir -p "$OUT/jhub"
"$bin" --db "$OUT/jhub/jhub.sqlite" --port "$JHUB_PORT" --ceiling-port "$CEILING_PORT" \
  --users "$USERS" --token "$TOKEN" > "$OUT/jhub/serve.json" 2> "$OUT/jhub/serve.log" &
pids+=($!)
jhub_pid=$!
wait_health "http://127.0.0.1:$JHUB_PORT/hub/health" 120
sleep 10
$B rss --pid "$jhub_pid" > "$OUT/rss-jhub-idle.json"
log "jhub: load"
$B load --url "http://127.0.0.1:$JHUB_PORT" --users "$USERS" --duration "$DURATION" \
  --endpoints user,users_page,admin_search,admin_sorted > "$OUT/load-jhub.json"
sleep 3
$B rss --pid "$jhub_pid" > "$OUT/rss-jhub-after-load.json"
log "ceiling: bare axum handler, same body size"
$B load --url "http://127.0.0.1:$CEILING_PORT" --users "$USERS" --duration "$DURATION" \
  --endpoints user > "$OUT/load-ceiling.json"
kill "$jhub_pid"; wait "$jhub_pid" 2>/dev/null || true

if [ -z "${SKIP_JUPYTERHUB:-}" ]; then
  JH=${JHUB_REAL_JUPYTERHUB_BENCH:-${JHUB_TOOLS_DIR:-$root/.tools}/hub6-bench/bin/jupyterhub}
  export JHB_CHP=${JHB_CHP:-${JHUB_TOOLS_DIR:-$root/.tools}/node/node_modules/.bin/configurable-http-proxy}
  [ -x "$JH" ] || { echo "no JupyterHub at $JH: eval \"\$(scripts/install-tools bench)\" (or SKIP_JUPYTERHUB=1)" >&2; exit 2; }
  [ -x "$JHB_CHP" ] || { echo "no CHP at $JHB_CHP: eval \"\$(scripts/install-tools bench)\"" >&2; exit 2; }
  log "JupyterHub 6.1.1: baseline config, fresh SQLite, $USERS users (creating them takes about a minute)"
  work=$OUT/jupyterhub && rm -rf "$work" && mkdir -p "$work"
  python3 "$base/dummy_server.py" "$JHB_DUMMY_PORT" > "$work/dummy.log" 2>&1 &
  pids+=($!)
  (cd "$work" && JHB_WORKDIR=$work exec "$JH" -f "$base/jupyterhub_config.py") > "$work/hub.log" 2>&1 &
  pids+=($!)
  jh_pid=$!
  wait_health "http://127.0.0.1:$JHB_HUB_PORT/hub/health" 120
  $B create-users --url "http://127.0.0.1:$JHB_HUB_PORT" --count "$USERS" --batch 1000 > "$OUT/create-jupyterhub.json"
  sleep 5
  $B rss --pid "$jh_pid" > "$OUT/rss-jupyterhub.json"
  log "JupyterHub: load"
  $B load --url "http://127.0.0.1:$JHB_HUB_PORT" --users "$USERS" --duration "$DURATION" \
    --endpoints user,users_page,admin_search,admin_sorted > "$OUT/load-jupyterhub.json"
  kill "$jh_pid"; wait "$jh_pid" 2>/dev/null || true
fi

python3 - "$OUT" "$USERS" <<'EOF'
import json, os, sys
out, users = sys.argv[1], sys.argv[2]
def load(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return {}
    return {r["endpoint"]: r for r in json.load(open(path))["results"]}
jhub, ceiling, jh = load("load-jhub.json"), load("load-ceiling.json"), load("load-jupyterhub.json")
rss = lambda n: json.load(open(os.path.join(out, n)))["rss_mib"] if os.path.exists(os.path.join(out, n)) else None
bars = {"user": (15000, 10.0), "users_page": (1500, None), "admin_search": (0, 50.0), "admin_sorted": (0, 50.0)}
names = {"user": "GET /hub/api/users/{name}", "users_page": "GET /hub/api/users?limit=200 (paginated)",
         "admin_search": "admin page search: ?name_filter=user-4&sort=-last_activity&limit=50",
         "admin_sorted": "admin page deep page: ?sort=name&offset=25000&limit=50"}
print(f"\n{users} users in SQLite, wrk -t2 -c16, directly against each server, this machine ({os.cpu_count()} cores)\n")
print(f"| endpoint | server | req/s | p50 ms | p99 ms | non-200 | vs JupyterHub | of ceiling | bar |")
print(f"|---|---|---|---|---|---|---|---|---|")
for ep in ("user", "users_page", "admin_search", "admin_sorted"):
    rows = [("jhub", jhub.get(ep)), ("bare axum ceiling", ceiling.get("user") if ep == "user" else None), ("JupyterHub 6.1.1", jh.get(ep))]
    for label, r in rows:
        if not r:
            continue
        ratio = f"{r['rps'] / jh[ep]['rps']:.0f}×" if jh.get(ep) and label == "jhub" else ""
        ceil = f"{100 * r['rps'] / ceiling['user']['rps']:.0f}%" if ceiling.get("user") and label == "jhub" and ep == "user" else ""
        bar = ""
        if label == "jhub":
            rps_bar, p99_bar = bars[ep]
            ok = r["rps"] >= rps_bar and (p99_bar is None or r["p99_ms"] <= p99_bar) and r["non_200"] == 0
            terms = ([f"≥{rps_bar} req/s"] if rps_bar else []) + ([f"p99 ≤{p99_bar} ms"] if p99_bar else [])
            bar = ("met" if ok else "MISSED") + " (" + ", ".join(terms) + ")"
        print(f"| {names[ep]} | {label} | {r['rps']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['non_200']} | {ratio} | {ceil} | {bar} |")
idle, after, jh_rss = rss("rss-jhub-idle.json"), rss("rss-jhub-after-load.json"), rss("rss-jupyterhub.json")
print(f"\nResident memory (VmRSS) with {users} users: jhub {idle} MiB idle, {after} MiB after the load "
      f"(bar ≤ 40 MiB: {'met' if after is not None and max(idle, after) <= 40 else 'MISSED'})"
      + (f"; JupyterHub 6.1.1 {jh_rss} MiB" if jh_rss else ""))
print(f"Raw results: {out}")
EOF
