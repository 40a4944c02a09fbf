import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder, ChunkedError } from './chunked.js';

/** Feeds `body` in pieces cut at `cuts`; returns the payload and where the body ended in the whole input. */
function decode(body: string, cuts: readonly number[] = []): { payload: string; end: number } {
  const bytes = Buffer.from(body, 'latin1');
  const decoder = new ChunkedDecoder();
  const parts: Buffer[] = [];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const stop of [...points, bytes.length]) {
    const end = decoder.feed(bytes.subarray(start, stop), 0, (d) => parts.push(Buffer.from(d)));
    if (end !== -1) {
      expect(decoder.done).toBe(true);
      return { payload: Buffer.concat(parts).toString('latin1'), end: start + end };
    }
    start = stop;
  }
  throw new Error('the body did not end');
}

function error(body: string): string {
  try {
    decode(body);
  } catch (err) {
    if (err instanceof ChunkedError) return err.message;
    throw err;
  }
  throw new Error('the body was accepted');
}

describe('chunked bodies a proxy can forward', () => {
  it('finds the end of the body and counts the payload, extensions and trailers included', () => {
    const body = '5;name=value;q="a b"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Checksum: 1\r\nHost: b\r\n\r\n';
    expect(decode(`${body}GET /next HTTP/1.1\r\n\r\n`)).toEqual({ payload: 'hello0123456789', end: body.length });
    const d = new ChunkedDecoder();
    d.feed(Buffer.from(body, 'latin1'), 0);
    expect(d.payload).toBe(15);
  });

  it('reads upper- and lower-case hex, and up to 13 digits', () => {
    expect(decode('a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n').payload).toBe('01234567890123456789');
    expect(decode('0000000000005\r\nhello\r\n0\r\n\r\n').payload).toBe('hello');
  });

  it('treats a request inside a chunk as the body bytes it is', () => {
    const inner = 'GET /inner HTTP/1.1\r\nA: b\r\n\r\n';
    expect(decode(`${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`).payload).toBe(inner);
  });

  it('reads the same body however the bytes are split', () => {
    const body = '3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n';
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 6 }), (cuts) => {
        expect(decode(body, cuts)).toEqual({ payload: 'abc0123456789abcdef', end: body.length });
      }),
      { seed: 1, numRuns: 300 },
    );
  });
});

describe('chunked bodies refused: sizes, extensions, line ends and trailers two parsers could read differently', () => {
  it.each([
    ['a negative size', '-1\r\nx\r\n0\r\n\r\n', 'malformed chunk size'],
    ['0x', '0x5\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
    ['a space before the size', ' 5\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
    ['a space after the size', '5 \r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
    ['a letter that is not hex', 'g\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
    ['an empty size line', '\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
    ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
    ['a bare CR after the size', '5\rhello\r\n0\r\n\r\n', 'bare CR in a chunk size line'],
    ['an overflowing size', 'fffffffffffffffff5\r\nhello\r\n0\r\n\r\n', 'chunk size too large'],
    ['14 digits, even leading zeros', '00000000000005\r\nhello\r\n0\r\n\r\n', 'chunk size too large'],
    ['a space in an extension', '5; a=b\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['an unterminated quote', '5;a="b\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['a control in a quote', '5;a="\x01"\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['a backslash in a quote', '5;a="\\""\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['obs-text in an extension', '5;\x80\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['extensions past 4 KiB', `5;a=${'b'.repeat(4096)}\r\nhello\r\n0\r\n\r\n`, 'chunk extensions too long'],
    ['data longer than its size', '3\r\nhello\r\n0\r\n\r\n', 'chunk data longer than its size'],
    ['a request smuggled behind a short size', '2\r\nGET /inner HTTP/1.1\r\n\r\n0\r\n\r\n', 'chunk data longer than its size'],
    ['data followed by a bare LF', '5\r\nhello\n0\r\n\r\n', 'chunk data longer than its size'],
    ['data followed by a bare CR', '5\r\nhello\r0\r\n\r\n', 'bare CR after chunk data'],
    ['a bare LF in a trailer', '0\r\nX: a\n\r\n', 'bare LF in a trailer'],
    ['a bare CR in a trailer', '0\r\nX: a\rb\r\n\r\n', 'bare CR in a trailer'],
    ['an obs-folded trailer', '0\r\nX: a\r\n b\r\n\r\n', 'malformed trailer field " b"'],
    ['a request line as a trailer', '0\r\nGET /smuggled HTTP/1.1\r\n\r\n', 'malformed trailer field "GET /smuggled HTTP/1.1"'],
    ['whitespace before a trailer colon', '0\r\nX : a\r\n\r\n', 'malformed trailer field "X : a"'],
    ['a NUL in a trailer value', '0\r\nX: a\x00\r\n\r\n', 'malformed trailer field "X: a\\u0000"'],
    ['a Content-Length trailer', '0\r\nContent-Length: 20\r\n\r\n', 'framing field in a trailer "Content-Length: 20"'],
    ['a Transfer-Encoding trailer', '0\r\ntransfer-encoding: gzip\r\n\r\n', 'framing field in a trailer "transfer-encoding: gzip"'],
    ['trailers past 16 KiB', `0\r\nX: ${'a'.repeat(16 * 1024)}\r\n\r\n`, 'trailers too large'],
    ['a bare CR at the end', '0\r\n\rX', 'bare CR at the end of a chunked body'],
  ])('%s', (_name, body, message) => {
    expect(error(body)).toBe(message);
  });

  it('reads a chunk size of 13 hex digits as the number it is (no overflow below 2^52)', () => {
    const d = new ChunkedDecoder();
    expect(d.feed(Buffer.from('fffffffffffff\r\nabc'), 0)).toBe(-1);
    expect(d.payload).toBe(3);
    expect(() => d.feed(Buffer.from('\r\n'), 0)).not.toThrow();
  });
});
