// Injection as a user meets it: `meshlight inject -f` on a manifest, `meshlight webhook` answering an
// AdmissionReview over TLS (verified against its CA, as the API server does), and an injected sidecar's
// stats port answering the app's rewritten probes by asking the real app.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { freePort, startUpstream, type Upstream } from './helpers/net.js';
import { cli, configDir, meshService, runCli, startProxy, type ProxyProcess, type Running } from './helpers/processes.js';
import { validateKubeObject } from './helpers/kube-schema.js';

const MANIFEST = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}], readinessProbe: {httpGet: {path: /, port: 80}}}]
`;

describe('meshlight inject -f', () => {
  test('prints the injected manifest, valid against the Kubernetes schema; twice changes nothing', async () => {
    const dir = await configDir({ 'app.yaml': MANIFEST });
    const once = await cli(['inject', '-f', join(dir, 'app.yaml'), '--image', 'registry.local/meshlight:1']);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stderr).toBe('Deployment/web: injected\n');
    const d = parse(once.stdout);
    validateKubeObject(d);
    expect(d.spec.template.spec.initContainers.map((c: { image: string }) => c.image)).toEqual(['registry.local/meshlight:1', 'registry.local/meshlight:1']);
    await writeFile(join(dir, 'injected.yaml'), once.stdout);
    const twice = await cli(['inject', '-f', join(dir, 'injected.yaml'), '--image', 'registry.local/meshlight:1']);
    expect(twice.stdout).toBe(once.stdout);
  });

  test('a missing file, bad YAML and a missing -f are clear errors', async () => {
    const dir = await configDir({ 'bad.yaml': 'kind: Deployment\nspec: [\n' });
    const missing = await cli(['inject', '-f', join(dir, 'nope.yaml')]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^meshlight inject: cannot read .*nope\.yaml: ENOENT/)]);
    const bad = await cli(['inject', '-f', join(dir, 'bad.yaml')]);
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringMatching(/^meshlight inject: .*bad\.yaml:\d+:\d+: /)]);
    const none = await cli(['inject']);
    expect([none.code, none.stderr]).toEqual([2, 'meshlight inject: -f FILE is required (- for stdin)\n']);
  });
});

describe('meshlight webhook', () => {
  let webhook: Running;
  let port: number;
  let ca: Buffer;

  beforeAll(async () => {
    const dir = await configDir({});
    const [cert, key] = [join(dir, 'tls.crt'), join(dir, 'tls.key')];
    // What the README's setup does: a self-signed certificate for the webhook's Service name (and loopback here).
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-keyout', key, '-out', cert,
      '-subj', '/CN=meshlight-webhook.meshlight-system.svc', '-addext', 'subjectAltName=DNS:meshlight-webhook.meshlight-system.svc,IP:127.0.0.1'], { stdio: 'ignore' });
    ca = await readFile(cert);
    port = await freePort();
    webhook = runCli(['webhook', '--tls-cert', cert, '--tls-key', key, '--port', String(port), '--bind-address', '127.0.0.1', '--image', 'meshlight:ci']);
    for (let i = 0; i < 100 && !webhook.output.stderr.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    await webhook.stop();
  });

  const post = (body: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/inject', method: 'POST', ca, servername: 'meshlight-webhook.meshlight-system.svc', headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });

  test('answers an AdmissionReview for a pod with a JSONPatch adding the sidecar', async () => {
    expect(webhook.output.stderr).toContain(`listening on 127.0.0.1:${port}: injecting meshlight:ci`);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'web-6f7d9c8b5-', labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] } };
    const r = await post(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'abc', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object: pod } }));
    expect(r.status).toBe(200);
    const answer = JSON.parse(r.body);
    expect(answer).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'abc', allowed: true, patchType: 'JSONPatch' } });
    const ops = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString());
    const init = ops.find((o: { path: string }) => o.path === '/spec/initContainers');
    expect(init.value.map((c: { name: string }) => c.name)).toEqual(['meshlight-init', 'meshlight-proxy']);
    expect(init.value[1].args).toEqual(expect.arrayContaining(['--service', 'web', '--app-port', '80']));
    expect(webhook.output.stderr).toContain('shop/web-6f7d9c8b5-: injected');
  });

  test('refuses what is not an AdmissionReview with 400 and the reason', async () => {
    expect(await post('{"kind":"Pod"}')).toEqual({ status: 400, body: 'expected an AdmissionReview of apiVersion admission.k8s.io/v1\n' });
  });

  test('needs its certificate: without one it says so and exits 2', async () => {
    const r = await cli(['webhook']);
    expect([r.code, r.stderr]).toEqual([2, 'meshlight webhook: --tls-cert FILE and --tls-key FILE are required (the API server calls webhooks over TLS only)\n']);
  });
});

describe("an injected sidecar's stats port answers the app's probes", () => {
  let app: Upstream;
  let proxy: ProxyProcess;
  let stats: number;
  let healthy = true;

  beforeAll(async () => {
    app = await startUpstream('app', (req, res) => {
      res.writeHead(req.url === '/ready' && healthy ? 200 : 500);
      res.end();
    });
    stats = await freePort();
    const probes = {
      '/app-health/app/readyz': { httpGet: { path: '/ready', port: app.port, scheme: 'HTTP' }, timeoutSeconds: 1 },
      '/app-health/app/livez': { tcpSocket: { port: app.port }, timeoutSeconds: 1 },
      '/app-health/app/startupz': { tcpSocket: { port: await freePort() }, timeoutSeconds: 1 },
    };
    proxy = await startProxy({ files: { 'svc.yaml': meshService('app', [app.port]) }, service: 'app', appPort: app.port, args: ['--stats-port', String(stats)], env: { MESHLIGHT_APP_PROBES: JSON.stringify(probes) } });
  });
  afterAll(async () => {
    await proxy.stop();
    await app.close();
  });

  const status = async (path: string) => (await fetch(`http://127.0.0.1:${stats}${path}`)).status;

  test("HTTP: the app's own status; TCP: 200 when the port accepts, 503 when not", async () => {
    expect(await status('/app-health/app/readyz')).toBe(200);
    healthy = false;
    expect(await status('/app-health/app/readyz')).toBe(500);
    expect(await status('/app-health/app/livez')).toBe(200);
    expect(await status('/app-health/app/startupz')).toBe(503);
    expect(await status('/app-health/other/readyz')).toBe(404);
  });

  test('a malformed probe list stops the sidecar with exit 2 and the reason', async () => {
    const r = runCli(['proxy', '--config', proxy.configDir, '--outbound-port', '0'], { MESHLIGHT_APP_PROBES: '{"/x": {}}' });
    expect(await r.exited).toBe(2);
    expect(r.output.stderr).toBe('meshlight proxy: MESHLIGHT_APP_PROBES: /x: a probe path starts with /app-health/\n');
  });
});
