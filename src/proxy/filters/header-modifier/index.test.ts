import { describe, expect, it } from 'vitest';
import type { HeaderList } from '../../headers.js';
import { applyHeaderModifier } from './index.js';

describe('header modifiers', () => {
  it('set replaces every value of a header, add appends, remove drops all of them', () => {
    const headers: HeaderList = ['x-env', 'dev', 'x-env', 'qa', 'x-tag', 'a', 'x-debug', '1', 'accept', '*/*'];
    applyHeaderModifier(
      { set: [{ name: 'x-env', value: 'prod' }], add: [{ name: 'x-tag', value: 'b' }], remove: ['x-debug'] },
      headers,
    );
    expect(headers).toEqual(['x-env', 'prod', 'x-tag', 'a', 'accept', '*/*', 'x-tag', 'b']);
  });

  it('set adds a header that is absent', () => {
    const headers: HeaderList = ['accept', '*/*'];
    applyHeaderModifier({ set: [{ name: 'x-route', value: 'canary' }], add: [], remove: [] }, headers);
    expect(headers).toEqual(['accept', '*/*', 'x-route', 'canary']);
  });
});
