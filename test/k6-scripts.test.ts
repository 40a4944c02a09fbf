import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

describe('bench/k6 scripts', () => {
  it('type-check against @types/k6', async () => {
    const tsc = resolve(ROOT, 'node_modules/typescript/bin/tsc');
    const r = await promisify(execFile)(process.execPath, [tsc, '-p', 'bench/k6/tsconfig.json'], { cwd: ROOT }).then(
      () => ({ code: 0, out: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, out: err.stdout }),
    );
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 60_000);
});
