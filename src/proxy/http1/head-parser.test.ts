import { describe, expect, it } from 'vitest';
import { findHeadEnd, Framing, HeadError, parseRequestHead, parseResponseHead, type HeadLimits } from './head-parser.js';

const LIMITS: HeadLimits = { maxHeadBytes: 60 * 1024, maxHeaders: 100 };

function request(head: string, limits = LIMITS) {
  return parseRequestHead(head, limits);
}

/** The refusal a head gets: its status and message. */
function refusal(parse: () => unknown): { status: number; message: string } {
  try {
    parse();
  } catch (err) {
    if (err instanceof HeadError) return { status: err.status, message: err.message };
    throw err;
  }
  throw new Error('the head was accepted');
}

const fields = (lines: string) => `POST / HTTP/1.1\r\nHost: a\r\n${lines}\r\n`;

describe('request heads a proxy can forward', () => {
  it('reads the request line, lower-cases names and trims values, keeping their bytes', () => {
    const h = request('GET /a/b?c=d HTTP/1.1\r\nHost: svc.example\r\nX-Latin1:  caf\xe9 \t\r\nX-Empty:\r\n\r\n');
    expect([h.method, h.target, h.minor, h.host, h.framing]).toEqual(['GET', '/a/b?c=d', 1, 'svc.example', Framing.NONE]);
    expect(h.headers).toEqual(['host', 'svc.example', 'x-latin1', 'caf\xe9', 'x-empty', '']);
  });

  it('frames a body by Content-Length (0 is no body) or chunked, in any letter case', () => {
    expect([request(fields('Content-Length: 5\r\n')).framing, request(fields('Content-Length: 5\r\n')).contentLength]).toEqual([Framing.LENGTH, 5]);
    expect(request(fields('Content-Length: 0\r\n')).framing).toBe(Framing.NONE);
    expect(request(fields('Content-Length:  7 \r\n')).contentLength).toBe(7);
    expect(request(fields('transfer-encoding: Chunked\r\n')).framing).toBe(Framing.CHUNKED);
  });

  it('takes HTTP/1.0, extension methods, methods with a hyphen and an absolute-form target', () => {
    expect(request('GET / HTTP/1.0\r\n\r\n').minor).toBe(0);
    expect(request('PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n').method).toBe('PURGE');
    expect(request('M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n').method).toBe('M-SEARCH');
    expect(request('GET http://h.example/x HTTP/1.1\r\nHost: h.example\r\n\r\n').target).toBe('http://h.example/x');
  });

  it('joins Connection fields and keeps Expect and Upgrade', () => {
    const h = request('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: x-a\r\nExpect: 100-continue\r\nUpgrade: websocket\r\n\r\n');
    expect([h.connection, h.expect, h.upgrade]).toEqual(['keep-alive, x-a', '100-continue', 'websocket']);
  });

  it('takes exactly the header count limit', () => {
    const filler = Array.from({ length: 99 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    expect(request(fields(filler)).headers.length).toBe(200);
  });
});

describe('request heads refused as RFC 9112 asks of a proxy (issue 10 item 1)', () => {
  it.each([
    ['Content-Length with Transfer-Encoding', 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n', /both Content-Length and Transfer-Encoding/],
    ['Transfer-Encoding with Content-Length', 'Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', /both Content-Length and Transfer-Encoding/],
    ['an empty Transfer-Encoding with Content-Length', 'Transfer-Encoding:\r\nContent-Length: 3\r\n', /both Content-Length and Transfer-Encoding/],
    ['differing Content-Length', 'Content-Length: 3\r\nContent-Length: 4\r\n', /more than one Content-Length/],
    ['duplicate Content-Length', 'Content-Length: 3\r\nContent-Length: 3\r\n', /more than one Content-Length/],
    ['a Content-Length list', 'Content-Length: 3, 3\r\n', /malformed Content-Length "3, 3"/],
    ['+5', 'Content-Length: +5\r\n', /malformed Content-Length "\+5"/],
    ['0x10', 'Content-Length: 0x10\r\n', /malformed Content-Length "0x10"/],
    ['-1', 'Content-Length: -1\r\n', /malformed Content-Length "-1"/],
    ['an empty Content-Length', 'Content-Length:\r\n', /malformed Content-Length ""/],
    ['an overflowing Content-Length', 'Content-Length: 99999999999999999999\r\n', /malformed Content-Length/],
    ['xchunked', 'Transfer-Encoding: xchunked\r\n', /unsupported Transfer-Encoding "xchunked"/],
    ['chunked, identity', 'Transfer-Encoding: chunked, identity\r\n', /unsupported Transfer-Encoding/],
    ['gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n', /unsupported Transfer-Encoding/],
    ['chunked twice, in two fields', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', /unsupported Transfer-Encoding "chunked, chunked"/],
    ['whitespace before the colon', 'Content-Length : 3\r\n', /whitespace before the colon/],
    ['a tab before the colon', 'Transfer-Encoding\t: chunked\r\n', /whitespace before the colon/],
    ['\\v before the colon', 'Content-Length\v: 3\r\n', /malformed header name/],
    ['\\v before a name', '\vContent-Length: 3\r\n', /malformed header name/],
    ['a bare LF', 'X: a\nContent-Length: 3\r\n', /bare LF/],
    ['a bare CR', 'X: a\rContent-Length: 3\r\n', /bare CR/],
    ['obs-fold', 'X: a\r\n b\r\n', /obs-fold/],
    ['obs-fold hiding a Content-Length', 'X: a\r\n\tContent-Length: 3\r\n', /obs-fold/],
    ['NUL in a value', 'X: a\x00b\r\n', /forbidden character in the value of header "X"/],
    ['DEL in a value', 'X: a\x7fb\r\n', /forbidden character in the value/],
    ['another control in a value', 'X: a\x01b\r\n', /forbidden character in the value/],
    ['a line without a colon', 'Content-Length 3\r\n', /without a colon/],
    ['a second Host', 'Host: b\r\n', /more than one Host/],
  ])('%s', (_name, lines, message) => {
    expect(refusal(() => request(fields(lines)))).toEqual({ status: 400, message: expect.stringMatching(message) });
  });

  it.each([
    ['HTTP/1.2', 'GET / HTTP/1.2', 505, /HTTP version "HTTP\/1.2" is not supported/],
    ['HTTP/2.0', 'GET / HTTP/2.0', 505, /not supported/],
    ['a lower-case version', 'GET / http/1.1', 400, /malformed HTTP version/],
    ['a two-digit minor version', 'GET / HTTP/1.10', 400, /malformed HTTP version/],
    ['a lower-case method', 'get / HTTP/1.1', 400, /malformed method "get"/],
    ['a mixed-case method', 'Get / HTTP/1.1', 400, /malformed method/],
    ['a #fragment', 'GET /page#section HTTP/1.1', 400, /malformed request target "\/page#section"/],
    ['a DEL in the target', 'GET /\x7f HTTP/1.1', 400, /malformed request target/],
    ['two spaces', 'GET  / HTTP/1.1', 400, /malformed request line/],
    ['a space in the target', 'GET /a b HTTP/1.1', 400, /malformed request line/],
    ['tabs for spaces', 'GET\t/\tHTTP/1.1', 400, /malformed request line/],
    ['no version (HTTP/0.9)', 'GET /', 400, /malformed request line/],
  ])('%s', (_name, line, status, message) => {
    expect(refusal(() => request(`${line}\r\nHost: a\r\n\r\n`))).toEqual({ status, message: expect.stringMatching(message) });
  });

  it('refuses Transfer-Encoding in an HTTP/1.0 request', () => {
    expect(refusal(() => request('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n')).message).toMatch(/HTTP\/1.0/);
  });

  it('answers 431 past the header count, so a Content-Length hidden after 2,100 fillers is not dropped', () => {
    const filler = Array.from({ length: 2_100 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    expect(refusal(() => request(fields(`${filler}Content-Length: 5\r\n`), { maxHeadBytes: 1 << 20, maxHeaders: 100 }))).toEqual({ status: 431, message: 'more than 100 header fields' });
  });

  it('quotes the client\'s bytes in its message, escaped and cut short', () => {
    const { message } = refusal(() => request(`GET /${'a'.repeat(300)}\x00 HTTP/1.1\r\n\r\n`));
    expect(message).toMatch(/^malformed request target "\/a+\.\.\."$/);
    expect(message.length).toBeLessThan(140);
  });
});

describe('response heads, parsed as strictly as requests', () => {
  const response = (head: string) => parseResponseHead(head, LIMITS);

  it('reads status, reason and framing (no length: until the connection closes)', () => {
    const h = response('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
    expect([h.status, h.reason, h.minor, h.framing, h.contentLength]).toEqual([200, ' OK', 1, Framing.LENGTH, 4]);
    expect(response('HTTP/1.0 204\r\n\r\n').reason).toBe('');
    expect(response('HTTP/1.1 200 OK\r\n\r\n').framing).toBe(Framing.CLOSE);
    expect(response('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').framing).toBe(Framing.LENGTH);
    expect(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n').framing).toBe(Framing.CHUNKED);
    expect(response('HTTP/1.1 200 \x80\xff\r\n\r\n').reason).toBe(' \x80\xff');
  });

  it('refuses a status line ending in a bare CR (issue 10: it reached the client as a clean 200)', () => {
    const bytes = Buffer.from('HTTP/1.1 200 OK\r\rContent-Length: 4\r\n\r\nabcd', 'latin1');
    const end = findHeadEnd(bytes, 0);
    expect(refusal(() => response(bytes.toString('latin1', 0, end)))).toEqual({ status: 502, message: expect.stringMatching(/^malformed status line/) });
  });

  it.each([
    ['HTTP/1.2 200 OK'],
    ['HTTP/1.1 099 Odd'],
    ['HTTP/1.1 20 OK'],
    ['HTTP/1.1 2000 OK'],
    ['HTTP/1.1 200OK'],
    ['HTTP/1.1 200 O\x7fK'],
    ['HTTP/1.1 200 O\x00K'],
    ['http/1.1 200 OK'],
  ])('refuses the status line %j', (line) => {
    expect(refusal(() => response(`${line}\r\nContent-Length: 0\r\n\r\n`))).toEqual({ status: 502, message: expect.stringMatching(/^malformed status line/) });
  });

  it.each([
    ['Content-Length with Transfer-Encoding', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', /both/],
    ['differing Content-Length', 'Content-Length: 4\r\nContent-Length: 5\r\n', /more than one Content-Length/],
    ['a coding other than chunked', 'Transfer-Encoding: gzip\r\n', /unsupported Transfer-Encoding/],
    ['obs-fold', 'X: a\r\n b\r\n', /obs-fold/],
    ['NUL in a value', 'X: a\x00b\r\n', /forbidden character/],
  ])('refuses %s with 502', (_name, lines, message) => {
    expect(refusal(() => response(`HTTP/1.1 200 OK\r\n${lines}\r\n`))).toEqual({ status: 502, message: expect.stringMatching(message) });
  });

  it('refuses a response past the header count with 502', () => {
    const filler = Array.from({ length: 101 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    expect(refusal(() => response(`HTTP/1.1 200 OK\r\n${filler}\r\n`))).toEqual({ status: 502, message: 'more than 100 header fields' });
  });
});

describe('finding the end of a head', () => {
  it('finds the blank line, also when it straddles the bytes searched before', () => {
    const b = Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\nnext', 'latin1');
    expect(findHeadEnd(b, 0)).toBe(b.length - 4);
    expect(findHeadEnd(b, 25)).toBe(b.length - 4);
    expect(findHeadEnd(b.subarray(0, 26), 0)).toBe(-1);
  });

  it('does not take bare LFs for the end', () => {
    expect(findHeadEnd(Buffer.from('GET / HTTP/1.1\nHost: a\n\n'), 0)).toBe(-1);
  });
});
