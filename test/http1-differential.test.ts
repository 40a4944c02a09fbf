// meshlight's HTTP/1.1 engine (head parser + chunked decoder) against llhttp, Node's own parser, on generated,
// mutated and corpus inputs: both must accept or refuse the same bytes and, when they accept, read the same
// method, target, version, fields, framing and body, message after message. Where meshlight is deliberately
// different, a row of KNOWN says so and why; any other disagreement fails, with the input escaped so it can
// be added to test/fuzz-corpus/. `npm run fuzz` runs the same property for minutes (MESHLIGHT_FUZZ_SECONDS).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cases, type Case } from './fuzz/arbitraries.js';
import { firstDifference, listenerDifference, type Difference } from './fuzz/compare.js';
import { addToCorpus, escapeBytes, readCorpus } from './fuzz/corpus.js';
import { parseWithEngine } from './fuzz/engine.js';
import { ListenerUnderTest } from './fuzz/listener.js';
import { LLHTTP_METHODS, LLHTTP_VERSION, parseWithLlhttp, type LlhttpOutcome } from './fuzz/llhttp.js';
import type { Outcome } from './fuzz/outcome.js';

interface Seen {
  readonly c: Case;
  readonly d: Difference;
  readonly ours: Outcome;
  readonly llhttp: LlhttpOutcome;
}

interface KnownDifference {
  readonly name: string;
  /** Why meshlight reads these bytes differently from llhttp on purpose. */
  readonly reason: string;
  readonly when: (s: Seen) => boolean;
}

const refusedByUs = (s: Seen, re: RegExp) => s.d.field === 'verdict' && s.d.llhttp.startsWith('accepted') && re.test(s.d.ours);
const acceptedByUs = (s: Seen, code: string) => s.d.field === 'verdict' && s.d.ours === 'accepted' && s.d.llhttp.startsWith(code);
/** The line (up to its LF) where meshlight stopped reading. */
const lineWeStoppedAt = (s: Seen) => {
  const at = s.ours.rejectedAt ?? 0;
  const lf = s.c.input.indexOf(10, at);
  return s.c.input.toString('latin1', at, lf === -1 ? s.c.input.length : lf + 1);
};

/** Where meshlight is stricter (or, for methods and target forms, leaves the check to another layer). */
const KNOWN: readonly KnownDifference[] = [
  {
    name: 'extension methods',
    reason: 'RFC 9110 9.1: methods are extensible; a proxy forwards upper-case methods it does not know (Envoy does), llhttp knows a fixed list',
    when: (s) => acceptedByUs(s, 'HPE_INVALID_METHOD') && !LLHTTP_METHODS.includes(s.ours.messages[s.d.message]!.method),
  },
  {
    name: 'target forms',
    reason: 'the head parser takes any visible-ASCII target; exchange.ts then answers 400 to all but a path and an http(s):// URL (CONNECT is not proxied)',
    when: (s) => acceptedByUs(s, 'HPE_INVALID_URL') && !/^(?:\/|https?:\/\/)/i.test(s.ours.messages[s.d.message]!.target),
  },
  {
    name: '#fragment',
    reason: 'a fragment is never sent (RFC 9112 3.2); Envoy refuses it, llhttp passes it on in the target',
    when: (s) => refusedByUs(s, /^400 malformed request target/) && (s.llhttp.messages[s.d.message]?.target.includes('#') ?? false),
  },
  {
    name: 'versions other than 1.0 and 1.1',
    reason: 'HTTP/0.9 (a request line without a version), HTTP/2.0 and HTTP/1.2 in an HTTP/1 head are refused (505 or 400); llhttp reads them',
    when: (s) => {
      const m = s.llhttp.messages[s.d.message];
      return s.d.field === 'verdict' && m !== undefined && (m.major !== 1 || m.minor > 1);
    },
  },
  {
    name: 'one Host',
    reason: 'RFC 9112 3.2: a request with more than one Host gets 400; llhttp leaves that to the server',
    when: (s) => refusedByUs(s, /^400 more than one Host header$/),
  },
  {
    name: 'header count',
    reason: 'past --max-request-headers (100; 200 from upstreams) the head is refused, 431 (issue 10: filler headers hid a Content-Length); llhttp limits bytes only',
    when: (s) => refusedByUs(s, /^(?:431|502) more than \d+ header fields$/),
  },
  {
    name: 'Transfer-Encoding other than chunked',
    reason: 'only `chunked` alone frames a body: a coding list (`gzip, chunked`) or an empty value is read differently by different servers; llhttp takes a list ending in chunked, and a response with another coding as read-until-close',
    when: (s) => refusedByUs(s, /^(?:400|502) unsupported Transfer-Encoding /),
  },
  {
    name: 'Transfer-Encoding in HTTP/1.0',
    reason: 'RFC 9112 6.1: TE in an HTTP/1.0 message means the framing is faulty; llhttp decodes it as chunked',
    when: (s) => refusedByUs(s, /^400 Transfer-Encoding in an HTTP\/1\.0 request$/),
  },
  {
    name: 'empty Transfer-Encoding',
    reason: 'a Transfer-Encoding field is one even when empty: with Content-Length it is refused as both, alone as not chunked; llhttp ignores an empty one',
    when: (s) => refusedByUs(s, /^(?:400|502) (?:both Content-Length and Transfer-Encoding|unsupported Transfer-Encoding "")$/),
  },
  {
    name: 'status codes below 100',
    reason: 'RFC 9110 15: a status code is 100-599 (meshlight takes 100-999); llhttp takes any three digits',
    when: (s) => refusedByUs(s, /^502 malformed status line/) && (s.llhttp.messages[s.d.message]?.status ?? 100) < 100,
  },
  {
    name: 'bare CR or another control in a status line',
    reason: `issue 10: \`HTTP/1.1 200 OK\\r\\rContent-Length: 4\` must be refused, and RFC 9112 4 allows no control but HTAB in a reason; llhttp ${LLHTTP_VERSION} reads a bare CR as the line end (9.4 refuses it) and takes DEL or NUL in a reason`,
    when: (s) => s.c.kind === 'response' && s.d.llhttp.startsWith('accepted') && /^[^\n]*?(?:\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f])/.test(lineWeStoppedAt(s)),
  },
  {
    name: 'one space between the parts of a request line',
    reason: 'RFC 9112 3: method SP target SP version; a proxy that splits on runs of whitespace could read a target the server behind it does not; llhttp skips extra spaces',
    when: (s) => refusedByUs(s, /^400 malformed request line/) && /^[^\r\n]*  /.test(lineWeStoppedAt(s)),
  },
  {
    name: 'chunk sizes of more than 13 hex digits',
    reason: 'sizes stop at 2^52 and digits are counted with leading zeros, so `0000000000000000005` is refused: no client sends one and it is the overflow attack\'s shape; llhttp takes any size below 2^64',
    when: (s) => refusedByUs(s, /^chunked: chunk size too large$/),
  },
  {
    name: 'a chunk extension without a name',
    reason: 'RFC 9112 7.1.1: an extension is `;name[=value]`; llhttp takes `5;=` (an empty name), meshlight refuses it',
    when: (s) => refusedByUs(s, /^chunked: malformed chunk extension$/) && /;=/.test(s.c.input.toString('latin1')),
  },
  {
    name: 'a quoted-pair or HTAB in a chunk extension',
    reason: 'a backslash or a tab in a quoted extension value is refused (an escaped quote is where two parsers disagree about where a value ends, and no client sends either); llhttp takes them (RFC 9110 5.6.4)',
    when: (s) => refusedByUs(s, /^chunked: malformed chunk extension$/) && /;[^\r\n]*"[^"\r\n]*[\\\t]/.test(s.c.input.toString('latin1')),
  },
  {
    name: 'bare CR or LF before a request line',
    reason: 'RFC 9112 2.2 lets a server skip empty lines (CRLF) before a request; a lone CR or LF there is not a line end, so the engine answers 400 where llhttp skips it',
    when: (s) => s.c.kind === 'request' && s.d.field === 'verdict' && s.d.llhttp.startsWith('accepted') && /^(?:\n|\r(?!\n))/.test(lineWeStoppedAt(s)),
  },
  {
    name: 'empty lines before a status line',
    reason: 'RFC 9112 2.2 lets a server skip empty lines before a request, not a client before a response: an upstream that sends CRLF after a 100 Continue or before its answer gets 502; llhttp skips them',
    when: (s) => s.c.kind === 'response' && s.d.field === 'verdict' && s.d.llhttp.startsWith('accepted') && /^\r?\n/.test(lineWeStoppedAt(s)),
  },
  {
    name: 'Content-Length past 15 digits',
    reason: 'a length must be exact in a JavaScript number (2^53), so more than 15 digits is refused as malformed; llhttp takes any length below 2^64',
    when: (s) => refusedByUs(s, /^(?:400|502) malformed Content-Length "[0-9]{16,}"$/),
  },
  {
    name: 'framing fields as trailers',
    reason: 'RFC 9110 6.5.1: Content-Length and Transfer-Encoding are never trailers (a server that merges trailers into the head would reframe); llhttp refuses both in a request, and in a response takes a Transfer-Encoding trailer that does not say chunked',
    when: (s) => refusedByUs(s, /^chunked: framing field in a trailer /),
  },
  {
    name: 'HTAB around a framing field value',
    reason: 'RFC 9110 5.6.3 makes HTAB optional whitespace, trimmed like a space: `chunked\\t` is chunked and `2\\t` is 2; llhttp refuses both in a request and reads such a chunked response until close. Safe here: the proxy writes its own `transfer-encoding: chunked` and the trimmed Content-Length, so the next hop reads clean framing',
    when: (s) => /\r\n(?:transfer-encoding|content-length):[^\r\n]*\t/i.test(s.c.input.toString('latin1')),
  },
  {
    name: 'the authority of an absolute-form target',
    reason: 'exchange.ts takes the authority of `http://authority/path` as the Host value, and Host values are checked by neither parser (routing answers an unknown one 404 NR); llhttp refuses some bytes in a URL authority',
    when: (s) => acceptedByUs(s, 'HPE_INVALID_URL') && /^https?:\/\//i.test(s.ours.messages[s.d.message]!.target),
  },
];

/** Disagreements not yet decided either way: none now. A new one found by `npm run fuzz` goes here until it is. */
const OPEN: readonly KnownDifference[] = [];

const corpus = readCorpus();

function check(c: Case): { seen: Seen; known: KnownDifference | undefined } | undefined {
  const ours = parseWithEngine(c.kind, c.input);
  const llhttp = parseWithLlhttp(c.kind, c.input);
  const d = firstDifference(c.kind, ours, llhttp);
  if (d === undefined) return undefined;
  const seen = { c, d, ours, llhttp };
  return { seen, known: KNOWN.find((k) => k.when(seen)) ?? OPEN.find((k) => k.when(seen)) };
}

/** The failure text: every field a maintainer needs to decide "fix" or "deliberate", and a corpus line. */
function describeDifference(s: Seen): string {
  return [
    `meshlight and llhttp ${LLHTTP_VERSION} disagree on message ${s.d.message} (${s.d.field})`,
    `  ours:   ${s.d.ours}`,
    `  llhttp: ${s.d.llhttp}`,
    `  corpus line: ${s.c.kind} ${escapeBytes(s.c.input)}`,
  ].join('\n');
}

function unexplained(c: Case): string | undefined {
  const r = check(c);
  return r === undefined || r.known !== undefined ? undefined : describeDifference(r.seen);
}

const property = fc.property(cases(corpus), (c) => {
  const failure = unexplained(c);
  if (failure !== undefined) throw new Error(failure);
});

const seconds = Number(process.env.MESHLIGHT_FUZZ_SECONDS ?? 0);

describe('the HTTP/1.1 engine reads bytes as llhttp does, but where the table says', () => {
  test('the reference works: llhttp refuses a smuggling classic and reads a pipelined pair', () => {
    expect(parseWithLlhttp('request', Buffer.from('POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).rejected).toMatch(/^HPE_/);
    const two = parseWithLlhttp('request', Buffer.from('POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n'));
    expect(two.messages.map((m) => [m.method, m.target, m.body])).toEqual([['POST', '/a', 'abc'], ['GET', '/b', '']]);
  });

  test.each(corpus.map((e) => [e.where, e] as const))('corpus %s', (_where, entry) => {
    expect(unexplained(entry)).toBeUndefined();
  });

  test('every row of the table is still needed: a corpus entry shows each', () => {
    const shown = new Set(corpus.map((e) => check(e)?.known?.name));
    expect([...KNOWN, ...OPEN].map((k) => k.name).filter((n) => !shown.has(n))).toEqual([]);
  });

  test('generated and mutated messages: a fixed seed, then fresh ones', () => {
    fc.assert(property, { seed: 20_251_202, numRuns: 3_000 });
    fc.assert(property, { numRuns: 1_500 });
  });

  test('the generator reaches accepted messages, not only garbage both refuse', () => {
    const sample = fc.sample(cases(corpus), { seed: 7, numRuns: 1_000 });
    const accepted = sample.filter((c) => parseWithEngine(c.kind, c.input).messages.length > 0).length;
    expect(accepted).toBeGreaterThan(120);
  });

  describe('the running listener hands on what the parser reads, request after request, closing when llhttp says so', () => {
    const listener = new ListenerUnderTest();
    beforeAll(() => listener.start());
    afterAll(() => listener.close());
    const run = async (c: Case) => {
      const failure = listenerDifference(await listener.run(c.input), parseWithEngine('request', c.input), parseWithLlhttp('request', c.input));
      if (failure !== undefined) throw new Error(`${failure}\n  corpus line: request ${escapeBytes(c.input)}`);
    };

    test('corpus requests', async () => {
      for (const e of corpus.filter((x) => x.kind === 'request')) await run(e);
    });

    test('generated and mutated requests over loopback connections', { timeout: 30_000 + seconds * 1_000 }, async () => {
      // About 1,500 connections a second; `npm run fuzz` gives it a share of its time, with fresh seeds.
      const runs = seconds > 0 ? { numRuns: seconds * 300 } : { seed: 20_251_202, numRuns: 300 };
      await fc.assert(fc.asyncProperty(cases(corpus, 'request'), run), runs);
    });
  });

  test.runIf(seconds > 0)(`fuzz for ${seconds} s: new disagreements are added to test/fuzz-corpus/found.txt`, { timeout: seconds * 1_000 + 60_000 }, () => {
    const stopAt = Date.now() + seconds * 1_000;
    const found: string[] = [];
    const signatures = new Set<string>();
    let runs = 0;
    while (Date.now() < stopAt) {
      const r = fc.check(property, { numRuns: 2_000 });
      runs += r.numRuns;
      if (!r.failed || r.counterexample === null) continue;
      const c = r.counterexample[0];
      const s = check(c)!.seen;
      // One corpus line per kind of disagreement, not one per seed that ran into it.
      const signature = `${c.kind} ${s.d.field} ${s.d.ours.replace(/".*"/, '""')} ${s.d.llhttp}`;
      if (signatures.has(signature)) continue;
      signatures.add(signature);
      addToCorpus('found.txt', c.kind, c.input, `found by npm run fuzz (seed ${r.seed}): ours ${s.d.ours}; llhttp ${s.d.llhttp}`);
      found.push(describeDifference(s));
    }
    process.stderr.write(`fuzz: ${runs} cases in ${seconds} s, ${found.length} new disagreements\n`);
    expect(found).toEqual([]);
  });
});
