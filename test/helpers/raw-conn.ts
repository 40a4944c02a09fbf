// A raw client connection for tests that speak HTTP/1.1 byte by byte: keep-alive, pipelining, broken framing.
import { connect, type Socket } from 'node:net';

/** A client connection whose responses are read as they come, for keep-alive and pipelining. */
export class RawConn {
  readonly socket: Socket;
  data = '';
  closed = false;
  private waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setEncoding('latin1');
    this.socket.on('data', (d: string) => {
      this.data += d;
      this.wake();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on('error', () => undefined);
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  write(s: string): void {
    this.socket.write(s);
  }

  /** Waits until `check(data)` holds, the socket closes, or `ms` pass; returns the data so far. */
  async until(check: (data: string) => boolean, ms = 3_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!check(this.data) && !this.closed && Date.now() < deadline) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    return this.data;
  }

  /** Waits for `n` complete responses whose bodies are framed by Content-Length (or have none). */
  async responses(n: number, ms = 3_000): Promise<ParsedResponse[]> {
    let parsed: ParsedResponse[] = [];
    await this.until((d) => (parsed = parseResponses(d)).length >= n, ms);
    return parsed;
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface ParsedResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Splits a byte stream into responses framed by Content-Length; a response without one has no body here. */
export function parseResponses(data: string, headRequests = new Set<number>()): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end === -1) return out;
    const lines = data.slice(at, end).split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!)?.[1] ?? 0);
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
    }
    const len = headRequests.has(out.length) || status === 204 || status === 304 ? 0 : Number(headers.get('content-length') ?? 0);
    if (data.length < end + 4 + len) return out;
    out.push({ status, headers, body: data.slice(end + 4, end + 4 + len) });
    at = end + 4 + len;
  }
}

export const statusOf = (raw: string): number => Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw)?.[1] ?? 0);
export const flagOf = (raw: string): string | undefined => /\r\nx-meshlight-flags: ([^\r]*)\r\n/i.exec(raw)?.[1];
