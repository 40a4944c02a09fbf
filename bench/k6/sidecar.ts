// k6 against one sidecar's outbound listener, as the app beside it would call: Host names the service.
// Run: k6 run -e OUTBOUND=http://127.0.0.1:15001 -e SERVICE=orders -e PATHS=/api/orders,/api/items bench/k6/sidecar.ts
// Each path is tagged as its own route, so thresholds and the summary show them apart.
// Env: RATE (requests/s, default 100), DURATION (default 30s), MAX_FAILED (share of failed requests allowed,
// default 0.01), P99_MS (default 50): the defaults suit a healthy upstream; one that fails or stalls on
// purpose (the demo) needs its own budget, see bench/README.md.
import { check } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';

const OUTBOUND = __ENV['OUTBOUND'] ?? 'http://127.0.0.1:15001';
const SERVICE = __ENV['SERVICE'] ?? 'orders';
const PATHS = (__ENV['PATHS'] ?? '/').split(',');
const RATE = Number(__ENV['RATE'] ?? 100);

export const options: Options = {
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV['DURATION'] ?? '30s',
      preAllocatedVUs: 50,
      maxVUs: 500,
    },
  },
  thresholds: {
    http_req_failed: [`rate<${Number(__ENV['MAX_FAILED'] ?? 0.01)}`],
    http_req_duration: [`p(99)<${Number(__ENV['P99_MS'] ?? 50)}`],
    // A response flag from the proxy itself (UF, UT, NR...) is an error of the mesh, not of the app.
    'checks{check:no proxy flag}': ['rate>0.99'],
    // Once every VU is busy, k6 drops the iterations it cannot start: the rate asked was not served. A
    // counter's rate is per second, so this allows 1% of the arrival rate to be dropped.
    dropped_iterations: [`rate<${RATE / 100}`],
  },
};

export default function (): void {
  const path = PATHS[Math.floor(Math.random() * PATHS.length)] ?? '/';
  const res = http.get(`${OUTBOUND}${path}`, { headers: { Host: SERVICE }, tags: { route: `${SERVICE}${path}` } });
  check(res, {
    'status 2xx': (r) => r.status >= 200 && r.status < 300,
    'no proxy flag': (r) => r.headers['X-Meshlight-Flags'] === undefined,
  });
}
