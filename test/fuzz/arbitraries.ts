// Generated HTTP/1.1 messages for the differential test: well-formed messages built from parts that are
// each sometimes hostile (the smuggling classics of RFC 9112 section 11 and issue 10), then sometimes
// mutated byte by byte, or taken from the corpus and mutated.
import fc from 'fast-check';
import type { CorpusEntry } from './corpus.js';
import type { Kind } from './outcome.js';

export interface Case {
  readonly kind: Kind;
  readonly input: Buffer;
}

/** Bytes that change how a head or a chunk is read. */
const SHARP = ['\r', '\n', '\r\n', '\0', '\x7f', '\v', '\f', ' ', '\t', ':', ';', ',', '"', '=', '\\', '#', '0', 'a', 'F', 'x', '+', '-', '\x80', '\xff'];

const tokenChar = fc.constantFrom(...'abcxyzABCXYZ019-_.!#$%&\'*+^`|~');
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 8 });
const sharp = fc.constantFrom(...SHARP);
/** Mostly the usual, sometimes something odd. */
function usually<T>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: odd });
}

const method = usually(
  fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
  fc.constantFrom('get', 'Get', 'FOO', 'M-SEARCH', 'PROPFIND', 'PURGE', 'G\x00T', 'GET\t', '', 'POST /', 'QUERY'),
);
const target = usually(
  fc.constantFrom('/', '/a/b?c=d&e', '/%41%zz', '/~user/x.y', '*', 'http://h.example/x'),
  fc.oneof(
    fc.constantFrom('/p#frag', '/a b', '/\x7f', '/\xe9', 'foo', '//x', '/?q=[]{}', '/\t', '/\x00', 'h:80', '/"<>', '/^|'),
    fc.string({ unit: fc.constantFrom(...'/abc?=&%#@:;,[]{}\\"^`|<> '), minLength: 1, maxLength: 10 }).map((s) => `/${s}`),
  ),
);
const requestVersion = usually(fc.constantFrom('HTTP/1.1', 'HTTP/1.0'), fc.constantFrom('HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.10', 'HTTP/1', 'HTTP/11', 'HTTP/1.1 '));

/** A header's value; `LEN` stands for the body's real length, filled in when the message is put together. */
const LEN = '\u0001LEN';
const valueFor: Record<string, fc.Arbitrary<string>> = {
  'content-length': usually(fc.constant(LEN), fc.constantFrom('0', '5', `0${LEN}`, `+${LEN}`, '0x10', '-1', `${LEN}, ${LEN}`, `${LEN},${LEN}`, '99999999999999999999', '9007199254740993', ` ${LEN} `, '1e3', `${LEN}\v`, '')),
  'transfer-encoding': usually(fc.constant('chunked'), fc.constantFrom('Chunked', 'gzip, chunked', 'chunked, identity', 'xchunked', 'chunked,', 'identity', ' chunked', 'chunked, chunked', 'chunkedx', '"chunked"', 'chunked;q=1', '')),
  connection: fc.constantFrom('close', 'keep-alive', 'Keep-Alive', 'close, keep-alive', 'x-a', 'te'),
  host: usually(fc.constant('svc.example'), fc.constantFrom('', 'a b', 'h:80', '[::1]:8080', 'h\x00', 'h@x')),
  expect: fc.constantFrom('100-continue', 'x'),
};
const headerName = usually(
  fc.constantFrom('Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Expect', 'Accept', 'X-Request-Id', 'content-length', 'TRANSFER-ENCODING'),
  fc.oneof(token, fc.constantFrom('X A', 'X\x00A', 'X\x7fA', '\x80', 'Content-Length ', ' Content-Length', 'Content-Length\v', 'Transfer-Encoding\t', '(x)', 'x/y', '')),
);
const plainValue = usually(
  fc.constantFrom('v', 'text/html, */*;q=0.8', 'a b', ''),
  fc.oneof(fc.constantFrom('\x80\xff', 'a\x00b', 'a\rb', 'a\x7fb', 'a\vb', ' x ', '\tx\t', 'x\x01'), fc.string({ unit: fc.constantFrom('a', ' ', '\t', ...SHARP), maxLength: 6 })),
);
const separator = usually(fc.constant(': '), fc.constantFrom(':', ' : ', ':\t', ':  ', '\t:', '\v:', '::', ': \v'));
const lineEnd = usually(fc.constant('\r\n'), fc.constantFrom('\n', '\r', '\r\n ', '\r\n\t', '\r\r\n', '\n\r'));

const header = headerName.chain((name) =>
  fc.tuple(fc.constant(name), separator, valueFor[name.toLowerCase()] ?? plainValue, lineEnd).map((parts) => parts.join('')),
);
const headers = (extra: string[]) => fc.array(header, { maxLength: 8 }).map((hs) => extra.concat(hs));
/** Sometimes past the header-count limit (100), as the issue's filler attack did. */
const filler = usually(fc.constant([] as string[]), fc.integer({ min: 30, max: 130 }).map((n) => Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`)));

const data = fc.string({ unit: fc.constantFrom('a', 'b', '0', '\r', '\n', 'GET / HTTP/1.1\r\n', '\r\n0\r\n\r\n'), maxLength: 8 });
const chunkExt = usually(fc.constant(''), fc.constantFrom(';a', ';a=b', ';a="q q"', '; a=b', ';a =b', ';a="\\"', ';a="\x01"', ';', ';=', ';a=b;c', ' ', '\t', ';a=b ', ';\x80'));
const chunk = fc.record({ data, ext: chunkExt, size: usually(fc.constant('hex'), fc.constantFrom('HEX', 'zeros', 'plus', 'space', '0x', 'minus', 'huge', 'empty', 'short', 'long')), end: lineEnd });
const trailer = fc.tuple(usually(fc.constantFrom('X-Trailer', 'Content-Length', 'Transfer-Encoding', 'Host'), headerName), separator, plainValue, lineEnd).map((p) => p.join(''));

function sizeText(kind: string, n: number): string {
  const hex = n.toString(16);
  switch (kind) {
    case 'HEX': return hex.toUpperCase();
    case 'zeros': return `0000000000000000${hex}`;
    case 'plus': return `+${hex}`;
    case 'space': return ` ${hex}`;
    case '0x': return `0x${hex}`;
    case 'minus': return `-${hex}`;
    case 'huge': return `1${'0'.repeat(16)}${hex}`;
    case 'empty': return '';
    case 'short': return Math.max(0, n - 1).toString(16);
    case 'long': return (n + 1).toString(16);
    default: return hex;
  }
}

const chunkedBody = fc.record({ chunks: fc.array(chunk, { maxLength: 4 }), lastExt: chunkExt, trailers: fc.array(trailer, { maxLength: 2 }), final: lineEnd }).map(
  (b) => `${b.chunks.map((c) => `${sizeText(c.size, Buffer.byteLength(c.data, 'latin1'))}${c.ext}\r\n${c.data}${c.end}`).join('')}0${b.lastExt}\r\n${b.trailers.join('')}${b.final}`,
);
const body = fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 2, arbitrary: data }, { weight: 3, arbitrary: chunkedBody });

/** Puts a head and a body together, giving `LEN` its value. */
function message(startLine: string, fields: string[], bodyText: string, headEnd: string): string {
  const head = `${startLine}${fields.join('')}${headEnd}`.split(LEN).join(String(Buffer.byteLength(bodyText, 'latin1')));
  return head + bodyText;
}

const requestText: fc.Arbitrary<string> = fc
  .record({ method, target, version: requestVersion, lineEnd, host: usually(fc.constant<string[]>(['Host: svc.example\r\n']), fc.constant<string[]>([])), filler, body, headEnd: lineEnd })
  .chain((r) => headers([...r.host, ...r.filler]).map((hs) => message(`${r.method} ${r.target} ${r.version}${r.lineEnd}`, hs, r.body, r.headEnd)));

const statusLine = fc
  .record({
    version: usually(fc.constantFrom('HTTP/1.1', 'HTTP/1.0'), fc.constantFrom('HTTP/1.2', 'http/1.1', 'HTTP/2', 'HTTP/1.1 ')),
    code: usually(fc.constantFrom('200', '201', '204', '304', '404', '500', '100', '103'), fc.constantFrom('999', '20', '2000', '099', '-20', '2x0', '101')),
    reason: usually(fc.constantFrom(' OK', ' Not Found', ''), fc.constantFrom(' ', '  OK', ' \x80\xff', ' O\x00K', ' OK\r', '\r', ' O\x7fK', ' O\tK', '\tOK')),
    end: lineEnd,
  })
  .map((s) => `${s.version} ${s.code}${s.reason}${s.end}`);
const responseText: fc.Arbitrary<string> = fc
  .record({ interim: usually(fc.constant(''), fc.constantFrom('HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n')), status: statusLine, body, headEnd: lineEnd, filler })
  .chain((r) => headers(r.filler).map((hs) => r.interim + message(r.status, hs, r.body, r.headEnd)));

/** Up to three byte edits: insert, delete, replace or repeat, at positions anywhere in the input. */
const edits = fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('insert', 'delete', 'replace', 'repeat'), bytes: sharp, len: fc.integer({ min: 1, max: 12 }) }), { maxLength: 3 });

function mutate(input: Buffer, list: readonly { at: number; op: string; bytes: string; len: number }[]): Buffer {
  let b = input;
  for (const e of list) {
    const at = b.length === 0 ? 0 : e.at % b.length;
    const add = Buffer.from(e.bytes, 'latin1');
    if (e.op === 'insert') b = Buffer.concat([b.subarray(0, at), add, b.subarray(at)]);
    else if (e.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
    else if (e.op === 'replace') b = Buffer.concat([b.subarray(0, at), add, b.subarray(at + add.length)]);
    else b = Buffer.concat([b.subarray(0, at + e.len), b.subarray(at, at + e.len), b.subarray(at + e.len)]);
  }
  return b;
}

/** A request stream: one to three requests back to back (pipelined), maybe mutated. */
const requests = fc.array(requestText, { minLength: 1, maxLength: 3 }).map((rs) => Buffer.from(rs.join(''), 'latin1'));
const responses = responseText.map((r) => Buffer.from(r, 'latin1'));

/** Generated cases, some of them edited, plus corpus entries with edits (of one kind, or both). */
export function cases(corpus: readonly CorpusEntry[], only?: Kind): fc.Arbitrary<Case> {
  const kinds: Kind[] = only === undefined ? ['request', 'response'] : [only];
  const generated = fc.oneof(...kinds.map((kind) => (kind === 'request' ? requests : responses).map((input) => ({ kind, input }))));
  const seeds = fc.constantFrom(...corpus.filter((e) => kinds.includes(e.kind))).map((e) => ({ kind: e.kind, input: e.input }));
  return fc.tuple(fc.oneof({ weight: 3, arbitrary: generated }, { weight: 1, arbitrary: seeds }), fc.oneof(fc.constant([]), edits)).map(([c, e]) => ({ kind: c.kind, input: mutate(c.input, e) }));
}
