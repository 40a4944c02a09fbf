import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/diagnostics.js';
import { parseTokenFile, TokenFileAuthenticator } from './auth.js';

function bearer(token: string): Metadata {
  const m = new Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}

describe('sidecar tokens from a file', () => {
  it('reads one SERVICE.NAMESPACE TOKEN per line and names the line of a bad one', () => {
    expect([...parseTokenFile('# comment\n\norders.default abc\n  payments.shop   def  \n', 'tokens').values()]).toEqual(['orders.default', 'payments.shop']);
    expect(() => parseTokenFile('orders.default abc\norders abc\n', 'tokens')).toThrow(/^tokens:2: expected 'SERVICE.NAMESPACE TOKEN'/);
    expect(() => parseTokenFile('orders.default a b\n', 'tokens')).toThrow(/tokens:1/);
  });

  it('proves the service of a known token, refuses others, and takes a changed file', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'meshlight-auth-')), 'tokens');
    await writeFile(file, 'orders.default t-orders\n');
    const auth = new TokenFileAuthenticator(file, createLogger('error'));
    await auth.load();
    expect(await auth.authenticate(bearer('t-orders'))).toEqual({ ok: true, service: 'orders.default' });
    expect(await auth.authenticate(bearer('t-other'))).toMatchObject({ ok: false });
    expect(await auth.authenticate(new Metadata())).toMatchObject({ ok: false, why: expect.stringMatching(/--token-file/) });
    await writeFile(file, 'payments.default t-payments-longer\n');
    expect(await auth.authenticate(bearer('t-payments-longer'))).toEqual({ ok: true, service: 'payments.default' });
    expect(await auth.authenticate(bearer('t-orders'))).toMatchObject({ ok: false });
  });
});
