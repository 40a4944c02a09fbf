// The first point where meshlight's engine and llhttp read the same bytes differently.
import type { ListenerOutcome } from './listener.js';
import type { LlhttpOutcome } from './llhttp.js';
import type { Kind, Message, Outcome } from './outcome.js';

export interface Difference {
  /** Which message of the stream (0: the first). */
  readonly message: number;
  /** `verdict` (one accepts, the other refuses) or the field that differs. */
  readonly field: 'verdict' | 'method' | 'target' | 'status' | 'minor' | 'headers' | 'framing' | 'body';
  /** Each side's reading: the field's value, or for a verdict `accepted` / the refusal's reason. */
  readonly ours: string;
  readonly llhttp: string;
}

const FIELDS = ['method', 'target', 'status', 'minor', 'headers', 'framing', 'body'] as const;

export function firstDifference(kind: Kind, ours: Outcome, theirs: LlhttpOutcome): Difference | undefined {
  for (let i = 0; ; i++) {
    const a = ours.messages[i];
    const b = theirs.messages[i];
    if (a === undefined || b === undefined) {
      if (a === undefined && b === undefined && (ours.rejected === undefined) === (theirs.rejected === undefined)) return undefined;
      return { message: i, field: 'verdict', ours: a === undefined ? (ours.rejected ?? 'accepted (nothing more)') : 'accepted', llhttp: b === undefined ? (theirs.rejected ?? 'accepted (nothing more)') : 'accepted' };
    }
    for (const field of FIELDS) {
      if (field === 'body' && b.upgrade) continue;
      const x = show(a, field);
      const y = show(b, field);
      if (x !== y) return { message: i, field, ours: x, llhttp: y };
    }
    // Nothing after a message that ends the connection (Connection: close, HTTP/1.0, an upgrade) is read by
    // the engine, and for responses nothing after the final answer: llhttp would go on, so stop comparing.
    if (!b.keepAlive || b.upgrade || (kind === 'response' && (b.status >= 200 || b.status === 101))) return undefined;
  }
}

/**
 * Where the running listener did not do what the parser read (`engine`) and llhttp's keep-alive decision
 * say: a request handed on that the parser refused or read otherwise, body bytes handed on that are not
 * exactly the body, a request read after one that closes the connection, a refusal the parser did not make.
 */
export function listenerDifference(l: ListenerOutcome, engine: Outcome, llhttp: LlhttpOutcome): string | undefined {
  if (l.forwarding.length > 0) return l.forwarding.join('; ');
  const n = l.messages.length;
  for (let i = 0; i < n; i++) {
    const b = engine.messages[i];
    if (b === undefined) return `the listener handed on request ${i}; the parser refused it: ${engine.rejected}`;
    for (const field of FIELDS) {
      const x = show(l.messages[i]!, field);
      const y = show(b, field);
      if (x !== y) return `request ${i} ${field}: listener ${x}, parser ${y}`;
    }
  }
  // Whether request i closes the connection, as llhttp reads it (unknown where llhttp refused it: a known difference).
  const closes = (i: number) => (i < 0 ? false : llhttp.messages[i] === undefined ? undefined : !llhttp.messages[i]!.keepAlive);
  for (let i = 0; i < n - 1; i++) if (closes(i) === true) return `the listener read request ${i + 1} after request ${i}, which closes the connection`;
  const last = closes(n - 1);
  if (l.refused !== undefined) {
    if (last === true) return `the listener read on after request ${n - 1}, which closes the connection, and refused: ${l.refused}`;
    if (last === undefined) return undefined;
    if (engine.messages.length !== n || engine.rejected === undefined) return `the listener refused request ${n} (${l.refused}); the parser read it`;
    return undefined;
  }
  if (last !== false) return undefined;
  // Deliberate: `close` wins over `keep-alive` (llhttp keeps an HTTP/1.0 connection that says both), and the
  // engine takes `close` as a word, not only as a list element: closing more is the safe side.
  if (saysClose(l.messages[n - 1])) return undefined;
  if (engine.messages.length > n) return `the listener stopped after request ${n - 1} (keep-alive, says llhttp) without reading request ${n}`;
  if (engine.rejected !== undefined && !engine.rejected.startsWith('head incomplete')) return `the parser refused request ${n} (${engine.rejected}); the listener closed without an answer`;
  return undefined;
}

function saysClose(m: Message | undefined): boolean {
  if (m === undefined) return false;
  for (let i = 0; i < m.headers.length; i += 2) if (m.headers[i] === 'connection' && /(?:^|[\s,])close(?:$|[\s,])/i.test(m.headers[i + 1]!)) return true;
  return false;
}

function show(m: Message, field: (typeof FIELDS)[number]): string {
  const v = m[field];
  return typeof v === 'string' ? v : JSON.stringify(v);
}
