// deploy/kubernetes/: every manifest valid against the Kubernetes schema, the kustomization complete,
// RBAC read-only, the CRDs the meshlight.dev kinds, and the containers' args flags the CLI takes.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { formatIssue, parseConfig } from '../src/config/load.js';
import { PORTS } from '../src/kube/names.js';
import { validateKubeObject } from './helpers/kube-schema.js';
import { cli } from './helpers/processes.js';

const DIR = resolve(import.meta.dirname, '../deploy/kubernetes');
const kustomization = parse(readFileSync(resolve(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[]; secretGenerator: { files: string[]; namespace: string }[]; replacements: { targets: { select: { kind: string; name: string } }[] }[] };
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: any; rules?: any[]; webhooks?: any[] };
const objects: Obj[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(readFileSync(resolve(DIR, file), 'utf8')).map((d) => d.toJS() as Obj),
);
const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

describe('deploy/kubernetes', () => {
  test('every object is valid against the Kubernetes schema', () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) validateKubeObject(o);
  });

  test('the kustomization names files that exist, and what its replacement targets', () => {
    for (const file of kustomization.resources) expect(existsSync(resolve(DIR, file)), file).toBe(true);
    for (const r of kustomization.replacements) for (const t of r.targets) expect(find(t.select.kind, t.select.name), t.select.name).toBeDefined();
    expect(kustomization.secretGenerator[0]!.namespace).toBe('meshlight-system');
  });

  test('the control plane: two replicas spread over nodes, a disruption budget, read-only RBAC', () => {
    const cp = find('Deployment', 'meshlight-control-plane')!;
    expect(cp.spec.replicas).toBe(2);
    expect(cp.spec.template.spec.topologySpreadConstraints[0].topologyKey).toBe('kubernetes.io/hostname');
    expect(find('PodDisruptionBudget', 'meshlight-control-plane')!.spec.minAvailable).toBe(1);
    const role = find('ClusterRole', 'meshlight-control-plane')!;
    for (const rule of role.rules!) expect(rule.verbs).toEqual(['get', 'list', 'watch']);
    // Exactly what the control plane watches (control-plane/src/kube/cluster-feed.ts), nothing more.
    expect(role.rules!.flatMap((r) => r.resources).sort()).toEqual(['endpointslices', 'httproutes', 'meshservices', 'services', 'telemetries']);
  });

  test('the webhook configuration reaches the webhook container through its Service', () => {
    const hooks = find('MutatingWebhookConfiguration', 'meshlight-sidecar-injector')!.webhooks!;
    const svc = find('Service', hooks[0].clientConfig.service.name)!;
    const port = svc.spec.ports.find((p: { port: number }) => p.port === hooks[0].clientConfig.service.port);
    expect(port.targetPort).toBe(PORTS.webhook);
    expect(hooks.map((h) => h.namespaceSelector.matchExpressions[0].operator)).toEqual(['In', 'DoesNotExist']);
  });

  test('the CRDs are the meshlight.dev kinds', () => {
    const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(['AuthorizationPolicy', 'MeshService', 'Telemetry', 'TrafficPolicy']);
    for (const c of crds) {
      expect(c.metadata.name).toBe(`${c.spec.names.plural}.meshlight.dev`);
      expect(c.spec.versions.map((v: { name: string }) => v.name)).toEqual(['v1alpha1']);
    }
  });

  test("every container's args are flags the meshlight CLI takes, and the mounted config is valid", async () => {
    const containers = find('Deployment', 'meshlight-control-plane')!.spec.template.spec.containers as { name: string; args: string[] }[];
    for (const c of containers) {
      const r = await cli([...c.args, '--help']);
      expect(r.code, `${c.name}: ${r.stderr}`).toBe(0);
    }
    const config = find('ConfigMap', 'meshlight-config') as unknown as { data: Record<string, string> };
    const result = parseConfig(Object.entries(config.data).map(([file, text]) => ({ file, text })), { defaultNamespace: 'meshlight-system' });
    expect(result.ok ? [] : result.errors.map(formatIssue)).toEqual([]);
  });
});
