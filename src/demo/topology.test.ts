import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { CANARY, DEMO_PORTS } from './topology.js';

describe('the demo topology and config/demo agree', async () => {
  const result = await loadConfig([resolve(import.meta.dirname, '../../config/demo')], { defaultNamespace: 'default' });
  if (!result.ok) throw new Error(`config/demo is invalid: ${JSON.stringify(result.errors)}`);
  const { services, httpRoutes } = result.snapshot;
  const endpointsOf = (name: string) => services.get(`${name}.default`)?.endpoints.map((e) => e.port) ?? [];

  it.each(DEMO_PORTS.instances.map((a) => [a.instance, a] as const))('%s is reached through its sidecar inbound port', (_name, app) => {
    expect(endpointsOf(app.service)).toContain(app.inbound);
    expect(endpointsOf(app.instance)).toEqual([app.inbound]);
  });

  it('every service an app calls exists', () => {
    for (const app of DEMO_PORTS.instances) for (const c of app.calls) expect(services.has(`${c.service}.default`)).toBe(true);
  });

  it('the orders route splits by the canary weights', () => {
    const route = httpRoutes.find((r) => r.name === CANARY.service)!;
    const weights = Object.fromEntries(route.rules[0]!.backendRefs.map((b) => [b.service.replace('.default', ''), b.weight]));
    expect(weights).toEqual(CANARY.subsets);
  });
});
