import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, configDir } from './helpers/processes.js';

const EXAMPLES = resolve(import.meta.dirname, '../config/examples');

describe('meshlight validate', () => {
  it.each(readdirSync(EXAMPLES))('accepts the annotated example %s', async (name) => {
    // http-route.yaml refers to the services in mesh-service.yaml, so each is checked together with it.
    const r = await cli(['validate', join(EXAMPLES, 'mesh-service.yaml'), join(EXAMPLES, name)]);
    expect(r.stdout).toMatch(/^ok: \d+ files, 3 services, /);
    expect(r.code).toBe(0);
  });

  it('accepts the examples directory as a whole', async () => {
    const r = await cli(['validate', EXAMPLES]);
    expect(r.stdout).toMatch(/^ok: 3 files, 3 services, 1 HTTPRoutes, 2 Telemetry \(version [0-9a-f]{12}\)\n$/);
    expect(r.code).toBe(0);
  });

  it('prints one FILE:LINE:COL line per problem and exits 1', async () => {
    const dir = await configDir({
      'a.yaml': 'apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: a}\nspec: {port: 0}\n',
      'b.yaml': 'apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec:\n  parentRefs: [{name: a}]\n  rules: [{backendRefs: [{name: ghost}]}]\n',
    });
    const r = await cli(['validate', dir]);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      `${join(dir, 'a.yaml')}:4:14: spec.port: must be an integer from 1 to 65535, got 0`,
      `${join(dir, 'b.yaml')}:6:33: spec.rules[0].backendRefs[0].name: unknown service "ghost.default" (known: a.default)`,
    ]);
    expect(r.stderr).toBe('2 problems\n');
    expect(r.code).toBe(1);
  });

  it('reads nested directories and skips hidden ones, as in a Kubernetes ConfigMap mount', async () => {
    const dir = await configDir({ 'svc.yaml': 'apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: a}\nspec: {}\n' });
    await mkdir(join(dir, 'more'));
    await writeFile(join(dir, 'more', 'b.yml'), 'apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: b}\nspec: {}\n');
    await mkdir(join(dir, '..2026_11_25'));
    await writeFile(join(dir, '..2026_11_25', 'svc.yaml'), 'broken: [');
    const r = await cli(['validate', dir]);
    expect(r.stdout).toMatch(/^ok: 2 files, 2 services, /);
    expect(r.code).toBe(0);
  });

  it('reads route.json in a directory as the YAML it is; an empty file and a file that is not text are problems', async () => {
    const dir = await configDir({
      'svc.yaml': 'apiVersion: meshlight.dev/v1alpha1\nkind: MeshService\nmetadata: {name: a}\nspec: {}\n',
      'route.json': JSON.stringify({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ name: 'a' }], rules: [{ backendRefs: [{ name: 'ghost' }] }] } }),
    });
    const r = await cli(['validate', dir]);
    expect(r.stdout).toMatch(/route\.json:1:\d+: spec\.rules\[0\]\.backendRefs\[0\]\.name: unknown service "ghost\.default"/);
    expect(r.code).toBe(1);
    const bad = await configDir({ 'empty.yaml': '', 'binary.yaml': '\u0000\u0001\u0002' });
    const b = await cli(['validate', bad]);
    expect(b.stdout.trimEnd().split('\n')).toEqual([
      `${join(bad, 'binary.yaml')}:1:1: not a text file (byte 0 is NUL): config is YAML or JSON text`,
      `${join(bad, 'empty.yaml')}:1:1: no documents in this file (it is empty or only comments)`,
    ]);
    expect(b.code).toBe(1);
  });

  it('reports a missing path or an empty directory as a problem, and no arguments as a usage error', async () => {
    const missing = await cli(['validate', '/nonexistent/routes.yaml']);
    expect(missing.stdout).toMatch(/^\/nonexistent\/routes\.yaml:1:1: cannot read: ENOENT/);
    expect(missing.code).toBe(1);
    const empty = await cli(['validate', await configDir({})]);
    expect(empty.stdout).toMatch(/:1:1: no \.yaml, \.yml or \.json files in this directory\n$/);
    expect(empty.code).toBe(1);
    const none = await cli(['validate']);
    expect(none.stderr).toBe('meshlight validate: name at least one FILE or DIR to check\n');
    expect(none.code).toBe(2);
  });
});
