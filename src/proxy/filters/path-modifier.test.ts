import { describe, expect, it } from 'vitest';
import { applyPathModifier } from './path-modifier.js';

describe('Gateway API path modifiers', () => {
  const prefix = (value: string) => ({ type: 'ReplacePrefixMatch' as const, value });
  it('ReplacePrefixMatch keeps what follows the matched prefix', () => {
    expect(applyPathModifier(prefix('/v2'), '/api/users', '/api')).toBe('/v2/users');
    expect(applyPathModifier(prefix('/v2'), '/api', '/api')).toBe('/v2');
    expect(applyPathModifier(prefix('/'), '/api/users', '/api')).toBe('/users');
    expect(applyPathModifier(prefix('/'), '/api', '/api')).toBe('/');
    expect(applyPathModifier(prefix('/v2/'), '/api/users', '/api')).toBe('/v2/users');
  });
  it('ReplaceFullPath replaces the whole path', () => {
    expect(applyPathModifier({ type: 'ReplaceFullPath', value: '/x' }, '/api/users', '/api')).toBe('/x');
  });
});
