// The app's own probes, answered on the stats port (15020) for the kubelet: injection points an app
// container's HTTP and TCP probes at `/app-health/<container>/<livez|readyz|startupz>` and passes the
// originals here (env MESHLIGHT_APP_PROBES, Istio's ISTIO_KUBE_APP_PROBERS format), and the sidecar asks
// the app on loopback, as Istio's pilot-agent does.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { AdminAnswer } from './admin.js';

export interface AppProbe {
  readonly httpGet?: { readonly path: string; readonly port: number; readonly httpHeaders?: readonly { name: string; value: string }[] };
  readonly tcpSocket?: { readonly port: number };
  readonly timeoutMs: number;
}

export type AppProbes = ReadonlyMap<string, AppProbe>;

/** The env value, checked; a message naming the problem otherwise. */
export function parseAppProbes(text: string): AppProbes | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'expected an object of path -> probe';
  const probes = new Map<string, AppProbe>();
  for (const [path, p] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    if (!path.startsWith('/app-health/')) return `${path}: a probe path starts with /app-health/`;
    const timeoutMs = (typeof p['timeoutSeconds'] === 'number' ? p['timeoutSeconds'] : 1) * 1000;
    const http = p['httpGet'] as { path?: unknown; port?: unknown; scheme?: unknown; httpHeaders?: { name: string; value: string }[] } | undefined;
    const tcp = p['tcpSocket'] as { port?: unknown } | undefined;
    const port = http?.port ?? tcp?.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return `${path}: needs httpGet or tcpSocket with a port number`;
    if (http !== undefined && http.scheme !== undefined && http.scheme !== 'HTTP') return `${path}: only scheme HTTP is probed (got ${String(http.scheme)})`;
    probes.set(
      path,
      http !== undefined
        ? { httpGet: { path: typeof http.path === 'string' ? http.path : '/', port, ...(http.httpHeaders ? { httpHeaders: http.httpHeaders } : {}) }, timeoutMs }
        : { tcpSocket: { port }, timeoutMs },
    );
  }
  return probes;
}

/** The app's answer as the kubelet would judge it: its status for HTTP (200-399 passes), 200 or 503 for TCP. */
export function probeApp(p: AppProbe): Promise<AdminAnswer> {
  return new Promise((resolve) => {
    const fail = (why: string): void => resolve({ status: 503, type: 'text/plain', body: `app probe failed: ${why}\n` });
    if (p.tcpSocket !== undefined) {
      const s = connect({ host: '127.0.0.1', port: p.tcpSocket.port, timeout: p.timeoutMs });
      s.once('connect', () => {
        s.destroy();
        resolve({ status: 200, type: 'text/plain', body: 'ok\n' });
      });
      s.once('timeout', () => (s.destroy(), fail('timeout')));
      s.once('error', (err) => fail(err.message));
      return;
    }
    const g = p.httpGet!;
    const headers: Record<string, string> = { 'user-agent': 'kube-probe/meshlight' };
    for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
    const req = request({ host: '127.0.0.1', port: g.port, path: g.path, headers, timeout: p.timeoutMs }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 503, type: 'text/plain', body: `app answered ${res.statusCode}\n` }));
    });
    req.once('timeout', () => (req.destroy(), fail('timeout')));
    req.once('error', (err) => fail(err.message));
    req.end();
  });
}
