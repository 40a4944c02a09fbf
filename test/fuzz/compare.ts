// The first point where meshlight's engine and llhttp read the same bytes differently.
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

function show(m: Message, field: (typeof FIELDS)[number]): string {
  const v = m[field];
  return typeof v === 'string' ? v : JSON.stringify(v);
}
