// Strict HTTP/1.1 head parsing (RFC 9112), for requests from clients and responses from upstreams.
// A proxy that reads a message differently from the server behind it is a smuggling vector, so every
// ambiguity is refused rather than repaired (the README's table lists where this is stricter than llhttp).
// Heads are parsed from a latin1 string: one byte per character, so values keep their exact bytes.
import { quote as quoteValue } from '../../diagnostics.js';
import type { HeaderList } from '../headers.js';

/** Why a head was refused; `status` is the answer a client gets (an upstream's is always 502). */
export class HeadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface HeadLimits {
  /** Head bytes (start line + fields); past this, 431. */
  readonly maxHeadBytes: number;
  /** Header lines; past this, 431 (Envoy's default is 100). */
  readonly maxHeaders: number;
}

/** No body, a Content-Length body, a chunked body, or (responses only) a body that ends with the connection. */
export const enum Framing {
  NONE = 0,
  LENGTH = 1,
  CHUNKED = 2,
  CLOSE = 3,
}

/** What both kinds of head carry: the fields (lower-case names, values as sent) and how the body is framed. */
export class Head {
  /** `[name, value, ...]`, names lower-cased, values without surrounding whitespace, in order. */
  readonly headers: HeaderList = [];
  framing: Framing = Framing.NONE;
  contentLength = 0;
  /** The Connection header's value (lists joined), '' when absent. */
  connection = '';
  /** HTTP/1.x minor version. */
  minor = 1;
}

export class RequestHead extends Head {
  method = '';
  target = '';
  host: string | undefined = undefined;
  expect: string | undefined = undefined;
  upgrade: string | undefined = undefined;
}

export class ResponseHead extends Head {
  status = 0;
  /** The status line after the code (` OK`), kept as sent. */
  reason = '';
}

// RFC 9110 5.6.2 tchar; field values: HTAB, SP, VCHAR and obs-text, nothing else (no CR, LF, NUL, DEL).
/** A client's text in a message: escaped, and cut to a readable length. */
const quote = (s: string): string => quoteValue(s, 100);

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const FIELDS = new RegExp(`^(?:${TOKEN}:[\\t\\x20-\\x7e\\x80-\\xff]*\\r\\n)*\\r\\n$`);
const TOKEN_RE = new RegExp(`^${TOKEN}$`);
const METHOD_RE = /^[A-Z][A-Z-]*$/;
/** A request target: visible ASCII, no fragment (Envoy refuses `#` too). */
const TARGET_RE = /^[\x21-\x22\x24-\x7e]+$/;
const DIGITS_RE = /^[0-9]{1,15}$/;
const STATUS_RE = /^HTTP\/1\.([01]) ([1-9][0-9][0-9])((?: [\t\x20-\x7e\x80-\xff]*)?)$/;

/** A Connection value says `close` (as a word: the safe side where lists are written loosely). */
export function saysClose(connection: string): boolean {
  return connection !== '' && /(?:^|[\s,])close(?:$|[\s,])/i.test(connection);
}

/** A Connection value has `keep-alive` as one of its list elements (what HTTP/1.0 needs to stay open). */
export function saysKeepAlive(connection: string): boolean {
  return connection !== '' && /(?:^|,)[\t ]*keep-alive[\t ]*(?:,|$)/i.test(connection);
}

/** Index just past the blank line that ends a head in `buf` (searching from `from`), or -1. */
export function findHeadEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf('\r\n\r\n', Math.max(0, from - 3), 'latin1');
  return i === -1 ? -1 : i + 4;
}

/** Parses a request head (`text` ends with the blank line). Throws HeadError with the client's answer. */
export function parseRequestHead(text: string, limits: HeadLimits): RequestHead {
  const eol = text.indexOf('\r\n');
  const line = text.slice(0, eol);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || line.indexOf(' ', sp2 + 1) !== -1) throw new HeadError(400, `malformed request line ${quote(line)}`);
  const head = new RequestHead();
  head.method = line.slice(0, sp1);
  head.target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!METHOD_RE.test(head.method)) throw new HeadError(400, `malformed method ${quote(head.method)} (methods are upper-case tokens)`);
  if (!TARGET_RE.test(head.target)) throw new HeadError(400, `malformed request target ${quote(head.target)}`);
  if (version === 'HTTP/1.1') head.minor = 1;
  else if (version === 'HTTP/1.0') head.minor = 0;
  else if (/^HTTP\/[0-9]\.[0-9]$/.test(version)) throw new HeadError(505, `HTTP version ${quote(version)} is not supported (HTTP/1.0 and HTTP/1.1 are)`);
  else throw new HeadError(400, `malformed HTTP version ${quote(version)}`);
  parseFields(text, eol + 2, head, limits, true);
  if (head.framing === Framing.CHUNKED && head.minor === 0) throw new HeadError(400, 'Transfer-Encoding in an HTTP/1.0 request');
  return head;
}

/** Parses an upstream's response head. Throws HeadError (the client then gets 502 UPE). */
export function parseResponseHead(text: string, limits: HeadLimits): ResponseHead {
  const eol = text.indexOf('\r\n');
  const m = STATUS_RE.exec(text.slice(0, eol));
  if (m === null) throw new HeadError(502, `malformed status line ${quote(text.slice(0, eol))}`);
  const head = new ResponseHead();
  head.minor = m[1] === '1' ? 1 : 0;
  head.status = +m[2]!;
  head.reason = m[3]!;
  parseFields(text, eol + 2, head, limits, false);
  if (head.framing === Framing.NONE) head.framing = Framing.CLOSE;
  return head;
}

function parseFields(text: string, start: number, head: Head, limits: HeadLimits, request: boolean): void {
  const fields = start === text.length - 2 ? '\r\n' : text.slice(start);
  if (!FIELDS.test(fields)) throw new HeadError(request ? 400 : 502, explainBadFields(fields));
  const out = head.headers;
  let lengthSeen = false;
  let te: string | undefined;
  let count = 0;
  let at = start;
  const end = text.length - 2;
  while (at < end) {
    const eol = text.indexOf('\r\n', at);
    if (++count > limits.maxHeaders) throw new HeadError(request ? 431 : 502, `more than ${limits.maxHeaders} header fields`);
    const colon = text.indexOf(':', at);
    const name = text.slice(at, colon).toLowerCase();
    const value = trimOws(text, colon + 1, eol);
    at = eol + 2;
    switch (name) {
      case 'content-length':
        // One decimal length only: a second one, or a list, is how requests are smuggled (RFC 9112 6.3).
        if (lengthSeen) throw new HeadError(request ? 400 : 502, 'more than one Content-Length');
        if (!DIGITS_RE.test(value)) throw new HeadError(request ? 400 : 502, `malformed Content-Length ${quote(value)}`);
        lengthSeen = true;
        head.contentLength = +value;
        break;
      case 'transfer-encoding':
        te = te === undefined ? value : `${te}, ${value}`;
        break;
      case 'connection':
        head.connection = head.connection === '' ? value : `${head.connection}, ${value}`;
        break;
      case 'host':
        if (request) {
          const r = head as RequestHead;
          if (r.host !== undefined) throw new HeadError(400, 'more than one Host header');
          r.host = value;
        }
        break;
      case 'expect':
        if (request) (head as RequestHead).expect = value;
        break;
      case 'upgrade':
        if (request) (head as RequestHead).upgrade = value;
        break;
    }
    out.push(name, value);
  }
  if (te !== undefined) {
    if (lengthSeen) throw new HeadError(request ? 400 : 502, 'both Content-Length and Transfer-Encoding');
    // Only `chunked` alone: a coding list is read differently by different servers, so none is taken.
    if (te.toLowerCase() !== 'chunked') throw new HeadError(request ? 400 : 502, `unsupported Transfer-Encoding ${quote(te)} (only chunked is accepted)`);
    head.framing = Framing.CHUNKED;
  } else if (lengthSeen) {
    head.framing = request && head.contentLength === 0 ? Framing.NONE : Framing.LENGTH;
  }
}

function trimOws(text: string, from: number, to: number): string {
  let a = from;
  let b = to;
  while (a < b && (text.charCodeAt(a) === 32 || text.charCodeAt(a) === 9)) a++;
  while (b > a && (text.charCodeAt(b - 1) === 32 || text.charCodeAt(b - 1) === 9)) b--;
  return text.slice(a, b);
}

/** Error path only: says which line broke the rules and how. */
function explainBadFields(fields: string): string {
  for (const line of fields.split('\r\n')) {
    if (line === '') continue;
    if (line.includes('\n')) return 'bare LF in the head (lines end with CRLF)';
    if (line.includes('\r')) return 'bare CR in the head';
    if (line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) return 'obs-fold (a header line starting with whitespace) is not allowed';
    const colon = line.indexOf(':');
    if (colon === -1) return `header line without a colon: ${quote(line)}`;
    const name = line.slice(0, colon);
    if (/[ \t]$/.test(name)) return `whitespace before the colon in header ${quote(name)}`;
    if (!TOKEN_RE.test(name)) return `malformed header name ${quote(name)}`;
    if (/^[\t\x20-\x7e\x80-\xff]*$/.test(line.slice(colon + 1))) continue;
    return `forbidden character in the value of header ${quote(name)}`;
  }
  return 'malformed header section';
}
