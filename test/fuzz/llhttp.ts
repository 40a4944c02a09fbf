// The reference: llhttp, the parser behind node:http, through Node's own binding (what node:http uses), strict
// (no lenient flags). `_http_common` is documented as deprecated from Node 25 but still exports HTTPParser on
// Node 20, 22 and 24; if a Node drops it, this import fails loudly rather than the comparison passing.
import { createRequire } from 'node:module';
import type { FramingName, Kind, Message, Outcome } from './outcome.js';

interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | (Error & { code: string; reason: string; bytesParsed: number });
  finish(): undefined | (Error & { code: string; reason: string });
  close(): void;
  [key: number]: unknown;
}
interface ParserClass {
  new (): Parser;
  REQUEST: number;
  RESPONSE: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}

const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass; methods: string[] };

/** The methods llhttp knows (it refuses any other). */
export const LLHTTP_METHODS: readonly string[] = methods;
/** `methods` is a list, indexed by llhttp's method code up to 33; QUERY's code is 46, past RTSP's codes
 * (node:http names it from an internal table that `_http_common` does not export). */
const methodName = (code: number) => (code === 46 ? 'QUERY' : (methods[code] ?? `llhttp method ${code}`));

/** The llhttp version this Node carries: its verdicts differ between versions (see the differences table). */
export const LLHTTP_VERSION = process.versions.llhttp;

/** A message as llhttp read it, plus what decides whether more messages may follow on the connection. */
export interface LlhttpMessage extends Message {
  readonly major: number;
  readonly keepAlive: boolean;
  readonly upgrade: boolean;
}

export interface LlhttpOutcome extends Outcome {
  readonly messages: readonly LlhttpMessage[];
}

/** Reads `input` as a stream of requests (or responses) until it ends or llhttp refuses it. */
export function parseWithLlhttp(kind: Kind, input: Buffer): LlhttpOutcome {
  const parser = new HTTPParser();
  // No head-size limit here: head limits are meshlight's own choice (a row of the differences table).
  parser.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 1 << 24, HTTPParser.kLenientNone);
  const messages: LlhttpMessage[] = [];
  // Past 32 fields node's binding hands headers (and the target) over in batches before the head completes.
  let batched: string[] = [];
  let url = '';
  let current: Omit<LlhttpMessage, 'body'> | undefined;
  let body: Buffer[] = [];
  let stop = false;
  parser[HTTPParser.kOnHeaders] = (headers: string[], part: string) => {
    if (current === undefined) {
      batched.push(...headers);
      url += part;
    }
  };
  parser[HTTPParser.kOnHeadersComplete] = (
    major: number,
    minor: number,
    headers: string[] | undefined,
    method: number | undefined,
    target: string | undefined,
    status: number | undefined,
    _reason: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number => {
    const all = headers ?? batched;
    const lower = all.map((v, i) => (i % 2 === 0 ? v.toLowerCase() : v));
    current = {
      method: kind === 'request' ? methodName(method ?? -1) : '',
      target: kind === 'request' ? (target ?? url) : '',
      status: status ?? 0,
      major,
      minor,
      headers: lower,
      framing: framingOf(kind, status ?? 0, lower),
      keepAlive,
      upgrade,
    };
    batched = [];
    url = '';
    return 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
    body.push(Buffer.from(chunk));
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (current === undefined) return;
    messages.push({ ...current, body: Buffer.concat(body).toString('latin1') });
    if (current.upgrade) stop = true;
    current = undefined;
    body = [];
  };
  try {
    const ret = parser.execute(input);
    if (typeof ret !== 'number') return { messages, rejected: `${ret.code}: ${ret.reason}` };
    if (stop) return { messages, rejected: undefined };
    const end = parser.finish();
    if (end !== undefined) return { messages, rejected: `${end.code}: ${end.reason}` };
    if (current !== undefined) return { messages, rejected: 'message incomplete at the end of the input' };
    const final = kind === 'request' || messages.some((m) => m.status >= 200 || m.status === 101);
    return { messages, rejected: final ? undefined : 'no final answer before the end of the input' };
  } finally {
    parser.close();
  }
}

/** How llhttp framed an accepted message, from the fields it accepted (RFC 9112 6.3, as llhttp applies it). */
function framingOf(kind: Kind, status: number, headers: readonly string[]): FramingName {
  if (kind === 'response' && (status < 200 || status === 204 || status === 304)) return 'none';
  let te: string | undefined;
  let length: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'transfer-encoding') te = te === undefined ? headers[i + 1]! : `${te}, ${headers[i + 1]!}`;
    else if (headers[i] === 'content-length') length = headers[i + 1];
  }
  if (te !== undefined) return /(?:^|,)[\t ]*chunked[\t ]*$/i.test(te) ? 'chunked' : 'close';
  if (length !== undefined) return kind === 'request' && +length === 0 ? 'none' : 'length';
  return kind === 'request' ? 'none' : 'close';
}
