// RequestHeaderModifier / ResponseHeaderModifier: set, add, remove, applied in Gateway API order.
import type { HeaderModifier } from '../../../config/types.js';
import type { Exchange } from '../../exchange.js';
import { removeHeader, setHeader, type HeaderList } from '../../headers.js';
import type { HttpFilter } from '../filter.js';

export function applyHeaderModifier(mod: HeaderModifier, headers: HeaderList): void {
  for (const { name, value } of mod.set) setHeader(headers, name, value);
  for (const { name, value } of mod.add) headers.push(name, value);
  for (const name of mod.remove) removeHeader(headers, name);
}

export function createRequestHeaderModifier(mod: HeaderModifier): HttpFilter {
  return {
    name: 'request-header-modifier',
    onRequest(ex: Exchange) {
      applyHeaderModifier(mod, ex.headers);
      return undefined;
    },
  };
}

export function createResponseHeaderModifier(mod: HeaderModifier): HttpFilter {
  return {
    name: 'response-header-modifier',
    onResponseHeaders(_ex: Exchange, headers: HeaderList) {
      applyHeaderModifier(mod, headers);
    },
  };
}
