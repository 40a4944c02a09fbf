// meshlight's side of the comparison: the engine's head parser and body reader read a byte stream the way
// the downstream and upstream connections drive them (leading blank lines skipped, one message after another;
// for responses, interim 1xx answers skipped and no body after 204, 304 or 101).
import { BodyReader, BROKEN } from '../../src/proxy/http1/body.js';
import { findHeadEnd, Framing, HeadError, parseRequestHead, parseResponseHead, type Head, type HeadLimits } from '../../src/proxy/http1/head-parser.js';
import { POOL_DEFAULTS } from '../../src/proxy/http1/upstream.js';
import type { FramingName, Kind, Message, Outcome } from './outcome.js';

/** The sidecar's defaults for requests (`--max-request-headers-kb 60`, `--max-request-headers 100`) and the pools' for responses. */
export const LIMITS: Record<Kind, HeadLimits> = { request: { maxHeadBytes: 60 * 1024, maxHeaders: 100 }, response: POOL_DEFAULTS.limits };

const FRAMING: Record<Framing, FramingName> = { [Framing.NONE]: 'none', [Framing.LENGTH]: 'length', [Framing.CHUNKED]: 'chunked', [Framing.CLOSE]: 'close' };

export function parseWithEngine(kind: Kind, input: Buffer): Outcome {
  const messages: Message[] = [];
  const limits = LIMITS[kind];
  let at = 0;
  for (;;) {
    if (kind === 'request') while (input[at] === 13 && input[at + 1] === 10) at += 2;
    if (at >= input.length) return { messages, rejected: kind === 'request' ? undefined : 'no final answer before the end of the input' };
    const rest = input.subarray(at);
    const end = findHeadEnd(rest, 0);
    if (end === -1 || end > limits.maxHeadBytes) return { messages, rejected: end === -1 ? 'head incomplete at the end of the input' : 'head too large', rejectedAt: at };
    let head: Head;
    let start: Omit<Message, 'headers' | 'framing' | 'body' | 'minor'>;
    try {
      if (kind === 'request') {
        const r = parseRequestHead(rest.toString('latin1', 0, end), limits);
        start = { method: r.method, target: r.target, status: 0 };
        head = r;
      } else {
        const r = parseResponseHead(rest.toString('latin1', 0, end), limits);
        start = { method: '', target: '', status: r.status };
        head = r;
      }
    } catch (err) {
      if (err instanceof HeadError) return { messages, rejected: `${err.status} ${err.message}`, rejectedAt: at };
      throw err;
    }
    const headAt = at;
    at += end;
    const status = start.status;
    const framing = kind === 'response' && (status < 200 || status === 204 || status === 304) ? Framing.NONE : head.framing;
    const body = readBody(framing, head.contentLength, input, at);
    if (typeof body === 'string') return { messages, rejected: body, rejectedAt: headAt };
    messages.push({ ...start, minor: head.minor, headers: head.headers, framing: FRAMING[framing], body: body.payload });
    at = body.end;
    // An upstream's connection carries one final answer (bytes after it close the connection); 101 starts a tunnel.
    if (kind === 'response' && (status >= 200 || status === 101)) return { messages, rejected: undefined };
  }
}

/** The body's payload and where it ends, or why it was refused, read by the engine's BodyReader. */
function readBody(framing: Framing, length: number, input: Buffer, at: number): { payload: string; end: number } | string {
  const reader = new BodyReader();
  reader.start(framing, length);
  const parts: Buffer[] = [];
  if (framing === Framing.CHUNKED) reader.onPayload = (data) => parts.push(data);
  const end = reader.read(input, at);
  if (end === BROKEN) return `chunked: ${reader.error}`;
  if (framing !== Framing.CHUNKED) parts.push(input.subarray(reader.from, reader.to));
  // A body framed by the close ends with the input; any other must end inside it.
  if (end === -1 && framing !== Framing.CLOSE) return `${FRAMING[framing]} body incomplete at the end of the input`;
  return { payload: Buffer.concat(parts).toString('latin1'), end: end === -1 ? input.length : end };
}
