import { describe, expect, it } from 'vitest';
import { redirectLocation, type RequestRedirectConfig } from './index.js';

const base: RequestRedirectConfig = { scheme: undefined, hostname: undefined, path: undefined, port: undefined, statusCode: 301 };

describe('RequestRedirect locations', () => {
  it('keeps the request host, port, path and query by default', () => {
    expect(redirectLocation(base, 'orders:8080', '/a', '?x=1', '/')).toBe('http://orders:8080/a?x=1');
  });
  it('a scheme without a port drops to the scheme port', () => {
    expect(redirectLocation({ ...base, scheme: 'https' }, 'orders:8080', '/a', '', '/')).toBe('https://orders/a');
  });
  it('an explicit port and hostname win; the well-known port is left out', () => {
    expect(redirectLocation({ ...base, hostname: 'shop.example', port: 9000 }, 'orders', '/a', '', '/')).toBe('http://shop.example:9000/a');
    expect(redirectLocation({ ...base, scheme: 'https', port: 443 }, 'orders', '/a', '', '/')).toBe('https://orders/a');
  });
  it('rewrites the path with the matched prefix', () => {
    const cfg = { ...base, path: { type: 'ReplacePrefixMatch' as const, value: '/new' } };
    expect(redirectLocation(cfg, 'orders', '/old/x', '', '/old')).toBe('http://orders/new/x');
  });
});
