import { describe, expect, it } from 'vitest';
import { parseTarget } from './request-target.js';

describe('request targets of the path-routed servers', () => {
  it('takes a path as a path, even one that looks scheme-relative', () => {
    expect(parseTarget('/api/v1/graph?window=60s')?.pathname).toBe('/api/v1/graph');
    expect(parseTarget('/api/v1/graph?window=60s')?.searchParams.get('window')).toBe('60s');
    expect(parseTarget('//')?.pathname).toBe('//');
    expect(parseTarget('//x:99999')?.pathname).toBe('//x:99999');
  });

  it('takes an http absolute-form target and refuses the rest', () => {
    expect(parseTarget('http://cp:15014/metrics')?.pathname).toBe('/metrics');
    for (const bad of [undefined, '', '*', 'x:99999', 'file:///etc/passwd', 'http://[::1', 'javascript:alert(1)']) expect(parseTarget(bad)).toBeUndefined();
  });
});
