import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const TSC = resolve(ROOT, 'node_modules/typescript/bin/tsc');

async function tsc(...args: string[]): Promise<{ code: number; out: string }> {
  return promisify(execFile)(process.execPath, [TSC, ...args], { cwd: ROOT }).then(
    () => ({ code: 0, out: '' }),
    (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
  );
}

describe('bench/k6 scripts', () => {
  it('type-check against @types/k6', async () => {
    const r = await tsc('-p', 'bench/k6/tsconfig.json');
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);

  it('compile to ES2019 modules for a k6 without TypeScript support, as bench/README.md says', async () => {
    const out = await mkdtemp(join(tmpdir(), 'meshlight-k6-'));
    const r = await tsc('-p', 'bench/k6/tsconfig.es2019.json', '--outDir', out);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
    for (const name of ['demo-mesh.js', 'sidecar.js']) {
      const js = await readFile(join(out, name), 'utf8');
      expect(js).toMatch(/^import http from 'k6\/http';$/m);
      expect(js).toContain('export const options');
      expect(js).toContain('export default function');
      // ES2020 syntax that an ES2019 runtime (k6 before 0.57) cannot parse.
      expect(js).not.toMatch(/\?\?|\?\./);
      expect(js).not.toContain(': Options');
    }
  }, 60_000);
});
