// One HTTPRoute match compiled once per snapshot: regexes built, names lower-cased, precedence computed.
import type { RouteMatch, ValueMatch } from '../../config/types.js';
import { getHeader, type HeaderList } from '../headers.js';

const EXACT = 0;
const REGEX = 1;
const PREFIX = 2;

class ValueMatcher {
  private readonly regex: RegExp | undefined;
  readonly name: string;
  private readonly value: string;

  constructor(m: ValueMatch) {
    this.name = m.name;
    this.value = m.value;
    this.regex = m.type === 'RegularExpression' ? new RegExp(`^(?:${m.value})$`) : undefined;
  }

  test(actual: string | undefined | null): boolean {
    if (actual === undefined || actual === null) return false;
    return this.regex !== undefined ? this.regex.test(actual) : actual === this.value;
  }
}

export class CompiledMatch {
  private readonly pathKind: number;
  private readonly pathValue: string;
  private readonly pathRegex: RegExp | undefined;
  /** For PathPrefix: the prefix without its trailing slash, what ReplacePrefixMatch replaces. */
  readonly prefix: string;
  private readonly method: string | undefined;
  private readonly headers: readonly ValueMatcher[];
  readonly queryParams: readonly ValueMatcher[];

  constructor(m: RouteMatch) {
    this.pathKind = m.path.type === 'Exact' ? EXACT : m.path.type === 'RegularExpression' ? REGEX : PREFIX;
    this.pathValue = m.path.value;
    this.pathRegex = this.pathKind === REGEX ? new RegExp(`^(?:${m.path.value})$`) : undefined;
    this.prefix = this.pathKind === PREFIX ? m.path.value.replace(/\/+$/, '') : '';
    this.method = m.method;
    this.headers = m.headers.map((h) => new ValueMatcher(h));
    this.queryParams = m.queryParams.map((q) => new ValueMatcher(q));
  }

  /** `query` is consulted only for matches that have queryParams. */
  test(method: string, path: string, headers: HeaderList, query: URLSearchParams | undefined): boolean {
    if (this.method !== undefined && this.method !== method) return false;
    if (!this.testPath(path)) return false;
    for (const h of this.headers) if (!h.test(getHeader(headers, h.name))) return false;
    for (const q of this.queryParams) if (!q.test(query?.get(q.name))) return false;
    return true;
  }

  private testPath(path: string): boolean {
    if (this.pathKind === EXACT) return path === this.pathValue;
    if (this.pathKind === REGEX) return this.pathRegex!.test(path);
    // PathPrefix matches whole segments: /foo matches /foo and /foo/bar, not /foobar.
    const p = this.prefix;
    if (p === '') return true;
    return path.startsWith(p) && (path.length === p.length || path.charCodeAt(p.length) === 47 /* / */);
  }

  /**
   * Gateway API precedence: Exact, then (our choice for the implementation-specific case) regular
   * expressions, then the longest prefix; then a method match; then more header matches; then more
   * query matches. Negative = this match wins.
   */
  static compare(a: CompiledMatch, b: CompiledMatch): number {
    if (a.pathKind !== b.pathKind) return a.pathKind - b.pathKind;
    if (a.pathValue.length !== b.pathValue.length) return b.pathValue.length - a.pathValue.length;
    if ((a.method === undefined) !== (b.method === undefined)) return a.method !== undefined ? -1 : 1;
    if (a.headers.length !== b.headers.length) return b.headers.length - a.headers.length;
    return b.queryParams.length - a.queryParams.length;
  }
}
