// k6 against the demo mesh (`npm start`): a constant arrival rate into frontend's sidecar, which fans
// out through every other sidecar. Run: k6 run bench/k6/demo-mesh.ts  (k6 0.57+ runs TypeScript; for an
// older k6, `npx tsc -p bench/k6/tsconfig.es2019.json` writes dist/k6/demo-mesh.js to run instead)
// Env: FRONTEND (default http://127.0.0.1:19081), RATE (requests/s, default 50), DURATION (default 30s).
import { check } from 'k6';
import http from 'k6/http';
import type { Options } from 'k6/options';

const FRONTEND = __ENV['FRONTEND'] ?? 'http://127.0.0.1:19081';
const RATE = Number(__ENV['RATE'] ?? 50);

export const options: Options = {
  scenarios: {
    frontend: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV['DURATION'] ?? '30s',
      preAllocatedVUs: 50,
      maxVUs: 200,
    },
  },
  thresholds: {
    // The demo injects failures (payments: 5% 503, 2% past its 2 s timeout): the budget allows them.
    http_req_failed: ['rate<0.15'],
    'http_req_duration{route:frontend}': ['p(99)<2500'],
    // Once every VU is busy, k6 drops the iterations it cannot start: the rate asked was not served. A
    // counter's rate is per second, so this allows 1% of the arrival rate to be dropped.
    dropped_iterations: [`rate<${RATE / 100}`],
  },
};

export default function (): void {
  const res = http.get(`${FRONTEND}/`, { tags: { route: 'frontend' } });
  check(res, { 'answered by the mesh': (r) => r.status === 200 || r.status === 502 });
}
