import { describe, expect, it } from 'vitest';
import { getHeader, removeHeader, setHeader } from './headers.js';

describe('flat header lists', () => {
  it('set replaces every value of a name with one, keeping its place', () => {
    const l = ['a', '1', 'b', '2', 'a', '3'];
    setHeader(l, 'a', 'x');
    expect(l).toEqual(['a', 'x', 'b', '2']);
    setHeader(l, 'c', 'y');
    expect(l).toEqual(['a', 'x', 'b', '2', 'c', 'y']);
  });
  it('remove drops every value of a name', () => {
    const l = ['a', '1', 'b', '2', 'a', '3'];
    removeHeader(l, 'a');
    expect(l).toEqual(['b', '2']);
    expect(getHeader(l, 'b')).toBe('2');
    expect(getHeader(l, 'a')).toBeUndefined();
  });
});
