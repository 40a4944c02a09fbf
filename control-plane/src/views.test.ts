import { describe, expect, it } from 'vitest';
import { parseConfig, YamlCache, type ConfigSource } from '../../src/config/load.js';
import { PUSH_NAMESPACE } from '../proto/index.js';
import { ConfigViews, MAX_CACHED_VIEWS } from './views.js';

const services: ConfigSource = {
  file: 'services.yaml',
  text: ['orders', 'orders-v1', 'orders-v2'].map((n) => `apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: ${n}}\nspec:\n  endpoints: [{address: 127.0.0.1:9000}]\n`).join('---\n'),
};

function route(v1: number, v2: number): ConfigSource {
  return {
    file: 'route.yaml',
    text: `apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: orders}\nspec:\n  parentRefs: [{kind: Service, name: orders, port: 80}]\n  rules:\n    - backendRefs:\n        - {name: orders-v1, port: 80, weight: ${v1}}\n        - {name: orders-v2, port: 80, weight: ${v2}}\n`,
  };
}

function views(sources: ConfigSource[], cache = new YamlCache()): ConfigViews {
  const parsed = parseConfig(sources, { defaultNamespace: PUSH_NAMESPACE, cache });
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.message).join('\n'));
  return new ConfigViews(parsed.snapshot, sources, cache);
}

describe('per-sidecar views across a config change', () => {
  it('carry the edited file\'s new text and a new version, and the unchanged files as they were', () => {
    const cache = new YamlCache();
    const before = views([services, route(90, 10)], cache);
    const after = views([services, route(50, 50)], cache);
    const old = before.viewFor(undefined, ['orders.default']);
    const now = after.viewFor(undefined, ['orders.default']);
    expect(now.version).not.toBe(old.version);
    expect(now.resources.find((r) => r.file === 'route.yaml')?.yaml).toContain('weight: 50');
    expect(now.resources.filter((r) => r.file === 'services.yaml')).toEqual(old.resources.filter((r) => r.file === 'services.yaml'));
    // Built from scratch, the same config gives the same view.
    expect(views([services, route(50, 50)]).viewFor(undefined, ['orders.default'])).toEqual(now);
  });

  it('keep a bounded cache: names the mesh does not have are no part of a view or its key', () => {
    const v = views([services, route(90, 10)]);
    const plain = v.viewFor(undefined, ['orders.default']);
    expect(v.viewFor(undefined, ['aaa.default', 'orders.default', 'zzz.default'])).toBe(plain);
    expect(plain.services).toEqual(['orders-v1.default', 'orders-v2.default', 'orders.default']);
    const first = v.viewFor('s0.default', []);
    for (let i = 1; i <= MAX_CACHED_VIEWS; i++) v.viewFor(`s${i}.default`, []);
    expect(v.viewFor('s0.default', [])).not.toBe(first); // the least recently used went first
    expect(v.viewFor('s0.default', [])).toEqual(first);
  });
});

describe('what a sidecar is sent', () => {
  const shop: ConfigSource = {
    file: 'shop.yaml',
    text: ['orders', 'orders-v1', 'orders-v2'].map((n) => `apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: ${n}, namespace: shop}\nspec:\n  endpoints: [{address: 127.0.0.1:9000}]\n`).join('---\n'),
  };
  const shopRoute: ConfigSource = { file: 'route.yaml', text: route(90, 10).text.replace('metadata: {name: orders}', 'metadata: {name: orders, namespace: shop}') };
  const kinds = (v: { resources: readonly { yaml: string }[] }) => v.resources.map((r) => /kind: (\w+)\nmetadata: \{name: ([\w-]+)/.exec(r.yaml)?.slice(1).join(' ')).sort();

  it("holds its own service's HTTPRoutes and their backends, so it can call itself by its routes", () => {
    const v = views([shop, shopRoute]).viewFor('orders.shop', []);
    expect(kinds(v)).toEqual(['HTTPRoute orders', 'MeshService orders', 'MeshService orders-v1', 'MeshService orders-v2']);
  });

  it('names every service of the mesh, so a 404 for a name in the wrong namespace can point to the right one', () => {
    const v = views([shop, shopRoute]).viewFor(undefined, ['orders.default']);
    expect(v.resources).toEqual([]);
    expect(v.services).toEqual(['orders-v1.shop', 'orders-v2.shop', 'orders.shop']);
  });
});
