// Who a sidecar is, proven by a bearer token in the call's `authorization` metadata. With --token-file
// the control plane keeps one line per token, `SERVICE.NAMESPACE TOKEN`, and a sidecar holding a token
// is that service, whatever its node says. The file is read again when it changes, so tokens can be
// added or rotated without a restart. (In Kubernetes the token will be the pod's projected
// service-account token, checked with a TokenReview instead of this file: planned.)
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type * as grpc from '@grpc/grpc-js';
import { SERVICE_KEY } from '../../src/config/kinds/common.js';
import type { Logger } from '../../src/diagnostics.js';

/** What the credentials of a call prove. */
export type Proof =
  /** `service`: the `name.namespace` proven; undefined when nothing is checked (no --token-file). */
  | { readonly ok: true; readonly service: string | undefined }
  | { readonly ok: false; readonly why: string };

export interface Authenticator {
  /** True when a sidecar must prove its service; false when every client is believed. */
  readonly required: boolean;
  authenticate(metadata: grpc.Metadata): Promise<Proof>;
}

/** No --token-file: every client is taken at its word. */
export const NO_AUTH: Authenticator = { required: false, authenticate: () => Promise.resolve({ ok: true, service: undefined }) };

const MAX_TOKEN_BYTES = 16_384;

/** The parsed file: service by SHA-256 of its token (a lookup by hash leaks nothing about the tokens through timing). */
type Tokens = ReadonlyMap<string, string>;

export function parseTokenFile(text: string, file: string): Tokens {
  const tokens = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [service, token, ...rest] = line.split(/\s+/);
    if (!SERVICE_KEY.test(service!) || token === undefined || rest.length > 0) {
      throw new Error(`${file}:${i + 1}: expected 'SERVICE.NAMESPACE TOKEN' (e.g. 'orders.default 3f9c...')`);
    }
    tokens.set(digest(token), service!);
  });
  return tokens;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TokenFileAuthenticator implements Authenticator {
  readonly required = true;
  private tokens: Tokens = new Map();
  private stamp = '';
  private lastError = '';

  constructor(private readonly file: string, private readonly log: Logger) {}

  /** Reads the file; throws with FILE:LINE when it is unreadable or malformed. */
  async load(): Promise<void> {
    const s = await stat(this.file);
    const stamp = `${s.mtimeMs}/${s.size}/${s.ino}`;
    if (stamp === this.stamp) return;
    this.tokens = parseTokenFile(await readFile(this.file, 'utf8'), this.file);
    this.stamp = stamp;
  }

  async authenticate(metadata: grpc.Metadata): Promise<Proof> {
    const header = metadata.get('authorization')[0];
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (token === undefined || token === '' || token.length > MAX_TOKEN_BYTES) {
      return { ok: false, why: 'this control plane needs a token: start the sidecar with --token-file FILE' };
    }
    try {
      await this.load();
    } catch (err) {
      // A file being replaced or broken: the tokens read last keep working.
      const why = (err as Error).message;
      if (why !== this.lastError) this.log.error(`token file not reloaded (the tokens read before still apply): ${why}`);
      this.lastError = why;
    }
    const service = this.tokens.get(digest(token));
    return service === undefined ? { ok: false, why: 'the token is not one this control plane knows' } : { ok: true, service };
  }
}
