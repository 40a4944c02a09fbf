// URLRewrite: the upstream sees another Host and/or path; the client's view, and the access log's
// `authority` and `path` (the request as the client sent it), are unchanged.
import type { PathModifier } from '../../../config/types.js';
import type { Exchange } from '../../exchange.js';
import { setHeader } from '../../headers.js';
import type { HttpFilter } from '../filter.js';
import { applyPathModifier } from '../path-modifier.js';

export interface UrlRewriteConfig {
  readonly hostname: string | undefined;
  readonly path: PathModifier | undefined;
}

export function createUrlRewrite(cfg: UrlRewriteConfig): HttpFilter {
  const { hostname, path } = cfg;
  return {
    name: 'url-rewrite',
    onRequest(ex: Exchange) {
      if (hostname !== undefined) setHeader(ex.headers, 'host', hostname);
      if (path !== undefined) ex.path = applyPathModifier(path, ex.path, ex.matchedPrefix);
      return undefined;
    },
  };
}
