#!/usr/bin/env bash
# A rough, same-run comparison: wrk against nginx directly and through `meshlight proxy` with three
# telemetry settings, following ../shared/BASELINE.md (proxies on core 0; nginx and wrk on core 1; 3 s
# warm-up, 10 s measured).
# Needs nginx and wrk (apt-get install nginx-light wrk). Usage: bench/quick.sh [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${1:-64}
for tool in nginx wrk taskset; do
  command -v "$tool" >/dev/null || { echo "bench/quick.sh needs $tool: apt-get install -y nginx-light wrk util-linux" >&2; exit 1; }
done
[ -f dist/src/cli/main.js ] || npm run build >/dev/null
WORK=$(mktemp -d)
UPSTREAM=28080
BODY=$(printf 'x%.0s' $(seq 100))
cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK; proxy_temp_path $WORK; fastcgi_temp_path $WORK; uwsgi_temp_path $WORK; scgi_temp_path $WORK;
  server { listen 127.0.0.1:$UPSTREAM; keepalive_requests 1000000; location / { return 200 "$BODY"; } }
}
CONF
# One proxy per telemetry setting, each with its own config: metrics are always on; "off" also turns
# the access log off and samples nothing; the others log to a file and sample 1% or 100% (in-memory spans).
PROXIES=()
start_proxy() { # NAME OUTBOUND ADMIN SAMPLING ACCESSLOG
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/mesh.yaml" <<CONF
apiVersion: meshlight.dev/v1alpha1
kind: MeshService
metadata: {name: bench}
spec: {endpoints: [{address: "127.0.0.1:$UPSTREAM"}]}
---
apiVersion: meshlight.dev/v1alpha1
kind: Telemetry
metadata: {name: bench}
spec: {tracing: {samplingPercentage: $4}, accessLog: {enabled: $5}}
CONF
  taskset -c 0 node dist/src/cli/main.js proxy --config "$WORK/$1" --outbound-port "$2" --admin-port "$3" \
    --access-log "$WORK/$1/access.log" --log-level warn &
  PROXIES+=($!)
  until curl -sf "http://127.0.0.1:$3/healthz/ready" >/dev/null; do sleep 0.1; done
}
cleanup() { for p in "${PROXIES[@]}"; do kill "$p" 2>/dev/null; done; [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
taskset -c 1 nginx -p "$WORK" -c "$WORK/nginx.conf"
start_proxy off 28001 28000 0 false
start_proxy s1 28011 28010 1 true
start_proxy s100 28021 28020 100 true
declare -A PID_OF=([28001]=${PROXIES[0]} [28011]=${PROXIES[1]} [28021]=${PROXIES[2]})

cpu_ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
# run NAME PORT CONNS: one table row
run() {
  local name=$1 port=$2 conns=$3 out before after pid=${PID_OF[$2]:-}
  taskset -c 1 wrk -t1 -c"$conns" -d3s -H 'Host: bench' "http://127.0.0.1:$port/" >/dev/null
  before=$(cpu_ticks "$pid")
  out=$(taskset -c 1 wrk -t1 -c"$conns" -d10s --latency -H 'Host: bench' "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$pid")
  local reqs rps p50 p99 non2xx cpu rss
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  if [ -n "$pid" ]; then
    cpu=$(awk -v t=$((after - before)) -v r="$reqs" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t * 1000 / hz / r * 1000}')
    rss=$(awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$pid/status")
  else
    cpu=- rss=-
  fi
  echo "| $name | c=$conns | $rps | $p50 | $p99 | $cpu | $rss | ${non2xx:-0} |"
}
echo "| target | conns | rps | p50 | p99 | proxy CPU ms / 1k req | proxy RSS MB | non-2xx |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
run "direct to nginx" $UPSTREAM "$CONNS"
run "meshlight, telemetry off (metrics only)" 28001 "$CONNS"
run "meshlight, access log + 1% sampled" 28011 "$CONNS"
run "meshlight, access log + 100% sampled" 28021 "$CONNS"
run "direct to nginx" $UPSTREAM 1
run "meshlight, access log + 1% sampled" 28011 1
