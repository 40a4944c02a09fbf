// RequestRedirect: answer with a Location built from the request and the filter's overrides.
import type { PathModifier } from '../../../config/types.js';
import type { Exchange } from '../../exchange.js';
import type { LocalReply } from '../../respond.js';
import type { HttpFilter } from '../filter.js';
import { applyPathModifier } from '../path-modifier.js';

export interface RequestRedirectConfig {
  readonly scheme: 'http' | 'https' | undefined;
  readonly hostname: string | undefined;
  readonly path: PathModifier | undefined;
  readonly port: number | undefined;
  readonly statusCode: number;
}

const WELL_KNOWN_PORT: Readonly<Record<string, number>> = { http: 80, https: 443 };

export function createRequestRedirect(cfg: RequestRedirectConfig): HttpFilter {
  return {
    name: 'request-redirect',
    onRequest(ex: Exchange): LocalReply {
      const location = redirectLocation(cfg, ex.authority, ex.path, ex.query, ex.matchedPrefix);
      return { status: cfg.statusCode, body: `redirecting to ${location}\n`, flag: undefined, headers: ['location', location] };
    },
  };
}

/**
 * Gateway API port rules: an explicit port wins; with a scheme and no port, the scheme's well-known
 * port (left out of the URL); with neither, the port the request came in on.
 */
export function redirectLocation(cfg: RequestRedirectConfig, authority: string, path: string, query: string, matchedPrefix: string): string {
  const scheme = cfg.scheme ?? 'http';
  const { host, port: requestPort } = splitAuthority(authority);
  const hostname = cfg.hostname ?? host;
  const port = cfg.port ?? (cfg.scheme !== undefined ? undefined : requestPort);
  const portPart = port === undefined || port === WELL_KNOWN_PORT[scheme] ? '' : `:${port}`;
  const newPath = cfg.path !== undefined ? applyPathModifier(cfg.path, path, matchedPrefix) : path;
  return `${scheme}://${hostname}${portPart}${newPath}${query}`;
}

function splitAuthority(authority: string): { host: string; port: number | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(authority);
  if (m === null) return { host: authority, port: undefined };
  return { host: m[1]!, port: m[2] !== undefined ? Number(m[2]) : undefined };
}
