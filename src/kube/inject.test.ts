import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { validateKubeObject } from '../../test/helpers/kube-schema.js';
import { createLogger } from '../diagnostics.js';
import { decide, InjectError, injectTemplate } from './inject.js';
import { injectManifest } from './inject-manifest.js';
import { podPatch, type PatchOp } from './json-patch.js';
import type { PodTemplate } from './pod.js';
import { review } from './webhook.js';

const settings = { image: 'meshlight:test', controlPlane: 'cp.meshlight-system.svc:15010' };

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders, version: v1}}
    spec:
      containers:
        - name: app
          image: example/orders:1
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 3}
          livenessProbe: {tcpSocket: {port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: orders, namespace: shop}
spec: {selector: {app: orders}, ports: [{port: 80, targetPort: 8080}]}
`;

function docs(text: string): Record<string, any>[] {
  return text.split(/^---$/m).map((d) => parse(d) as Record<string, any>);
}

describe('meshlight inject', () => {
  const out = injectManifest(DEPLOYMENT, 'app.yaml', settings);
  const [deployment, service] = docs(out.text);
  const pod = deployment!['spec'].template;

  test('adds the iptables init container and the sidecar as a native sidecar, before any init container of the app', () => {
    expect(pod.spec.initContainers.map((c: { name: string }) => c.name)).toEqual(['meshlight-init', 'meshlight-proxy']);
    const proxy = pod.spec.initContainers[1];
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.args).toEqual(['proxy', '--control-plane', 'cp.meshlight-system.svc:15010', '--namespace', '$(POD_NAMESPACE)', '--stats-port', '15020', '--service', 'orders', '--app-port', '8080']);
    expect(proxy.securityContext).toMatchObject({ runAsUser: 1337, runAsNonRoot: true, readOnlyRootFilesystem: true });
    expect(proxy.resources.requests).toEqual({ cpu: '100m', memory: '128Mi' });
    const init = pod.spec.initContainers[0];
    expect(init.args).toEqual(['iptables', '--proxy-uid', '1337', '--include-inbound-ports', '8080', '--exclude-inbound-ports', '15020']);
    expect(init.securityContext.capabilities.add).toEqual(['NET_ADMIN', 'NET_RAW']);
    expect(out.notes).toEqual(['Deployment/orders: injected']);
  });

  test("rewrites the app's probes through the stats port and tells the sidecar the originals", () => {
    const app = pod.spec.containers[0];
    expect(app.readinessProbe).toEqual({ periodSeconds: 3, httpGet: { path: '/app-health/app/readyz', port: 15020, scheme: 'HTTP' } });
    expect(app.livenessProbe).toEqual({ httpGet: { path: '/app-health/app/livez', port: 15020, scheme: 'HTTP' } });
    const env = pod.spec.initContainers[1].env.find((e: { name: string }) => e.name === 'MESHLIGHT_APP_PROBES');
    expect(JSON.parse(env.value)).toEqual({
      '/app-health/app/readyz': { httpGet: { path: '/ready', port: 8080, scheme: 'HTTP' }, timeoutSeconds: 1 },
      '/app-health/app/livez': { tcpSocket: { port: 8080 }, timeoutSeconds: 1 },
    });
  });

  test('annotates the pod for Prometheus and kubectl, and leaves other documents alone', () => {
    expect(pod.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '15020', 'prometheus.io/path': '/metrics', 'kubectl.kubernetes.io/default-container': 'app' });
    expect(service).toEqual(parse(DEPLOYMENT.split(/^---$/m)[1]!));
  });

  test('the injected manifest is valid against the Kubernetes schema', () => {
    for (const d of docs(out.text)) validateKubeObject(d);
  });

  test('injecting twice changes nothing', () => {
    const again = injectManifest(out.text, 'app.yaml', settings);
    expect(again.text).toBe(out.text);
    expect(again.notes).toEqual(['Deployment/orders: not injected (already injected)']);
  });

  test('a pod that opts out is left alone; CronJobs, Pods and Lists are found', () => {
    const text = `
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: tool, annotations: {sidecar.meshlight.dev/inject: "false"}}
    spec: {containers: [{name: t, image: busybox}]}
  - apiVersion: batch/v1
    kind: CronJob
    metadata: {name: nightly}
    spec: {schedule: "0 1 * * *", jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: job, image: busybox}]}}}}}
`;
    const r = injectManifest(text, 'list.yaml', settings);
    expect(r.notes).toEqual(['Pod/tool: not injected (pod sidecar.meshlight.dev/inject: "false")', 'CronJob/nightly: injected']);
    const list = parse(r.text);
    expect(list.items[0].spec.initContainers).toBeUndefined();
    const job = list.items[1].spec.jobTemplate.spec.template;
    expect(job.spec.initContainers[1].args).toContain('nightly');
    for (const item of list.items) validateKubeObject(item);
  });

  test('bad YAML and a probe on an undeclared named port are clear errors', () => {
    expect(() => injectManifest('kind: [', 'bad.yaml', settings)).toThrow(/^bad\.yaml:1:\d+: /);
    const t: PodTemplate = { spec: { containers: [{ name: 'a', readinessProbe: { httpGet: { port: 'web' } } }] } };
    expect(() => injectTemplate(t, settings)).toThrow(InjectError);
  });
});

describe('who is injected (Istio rules)', () => {
  const pod = (labels: Record<string, string> = {}, annotations: Record<string, string> = {}): PodTemplate => ({ metadata: { labels, annotations }, spec: { containers: [{ name: 'a' }] } });
  test.each([
    ['namespace enabled', pod(), { 'meshlight-injection': 'enabled' }, true],
    ['namespace unlabelled', pod(), {}, false],
    ['pod label true, namespace unlabelled', pod({ 'sidecar.meshlight.dev/inject': 'true' }), {}, true],
    ['pod annotation false, namespace enabled', pod({}, { 'sidecar.meshlight.dev/inject': 'false' }), { 'meshlight-injection': 'enabled' }, false],
    ['namespace disabled beats the pod', pod({ 'sidecar.meshlight.dev/inject': 'true' }), { 'meshlight-injection': 'disabled' }, false],
    ['explicit (inject -f)', pod(), undefined, true],
  ])('%s', (_name, t, ns, expected) => {
    expect(decide(t, ns).inject).toBe(expected);
  });
  test("a bare pod without app labels is its own service (kubectl run)", () => {
    const t = injectTemplate({ metadata: { name: 'client', labels: { run: 'client' } }, spec: { containers: [{ name: 'c' }] } }, settings);
    expect(t.spec.initContainers![1]!.args).toEqual(expect.arrayContaining(['--service', 'client']));
    expect(t.spec.initContainers![1]!.args).not.toContain('--app-port');
  });
  test('a hostNetwork pod never', () => {
    expect(decide({ spec: { hostNetwork: true, containers: [{ name: 'a' }] } }, undefined).inject).toBe(false);
  });
});

describe('the webhook answer', () => {
  const log = createLogger('error');
  const podObject = { apiVersion: 'v1', kind: 'Pod', metadata: { generateName: 'orders-5d8f7c9b4-', labels: { app: 'orders' } }, spec: { containers: [{ name: 'app', image: 'x', ports: [{ containerPort: 9090 }] }] } };
  const admission = (object: unknown) => JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'shop', operation: 'CREATE', object } });

  test('is a JSONPatch that turns the pod into the injected pod', () => {
    const answer = review(admission(podObject), settings, log) as { response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    expect(answer.response).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    const ops = JSON.parse(Buffer.from(answer.response.patch, 'base64').toString()) as PatchOp[];
    const patched = applyAdds(structuredClone(podObject), ops);
    expect(patched).toEqual(injectTemplate(podObject as PodTemplate, settings));
    validateKubeObject(patched);
  });

  test('an opted-out pod, another kind, and a pod already injected get no patch', () => {
    const out = { ...podObject, metadata: { ...podObject.metadata, annotations: { 'sidecar.meshlight.dev/inject': 'false' } } };
    expect(review(admission(out), settings, log)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } });
    const injected = injectTemplate(podObject as PodTemplate, settings);
    expect((review(admission(injected), settings, log) as { response: object }).response).toEqual({ uid: 'u-1', allowed: true });
    expect(podPatch(injected as never, injected as never)).toEqual([]);
  });

  test('what is not an AdmissionReview is refused with a reason', () => {
    expect(review('{', settings, log)).toMatch(/^not JSON/);
    expect(review('{"kind":"Pod"}', settings, log)).toMatch(/AdmissionReview/);
  });
});

/** RFC 6902 `add` (the only op the webhook sends). */
function applyAdds(doc: Record<string, unknown>, ops: readonly PatchOp[]): Record<string, unknown> {
  for (const op of ops) {
    const parts = op.path.split('/').slice(1);
    let at: Record<string, unknown> = doc;
    for (const p of parts.slice(0, -1)) at = at[p] as Record<string, unknown>;
    at[parts.at(-1)!] = op.value;
  }
  return doc;
}
