// Gateway API path modifiers, shared by URLRewrite and RequestRedirect.
import type { PathModifier } from '../../config/types.js';

/**
 * `matchedPrefix` is the PathPrefix value the request matched (without a trailing slash).
 * ReplacePrefixMatch keeps the path below the prefix: `/foo` -> `/bar` turns `/foo/x` into `/bar/x`.
 */
export function applyPathModifier(mod: PathModifier, path: string, matchedPrefix: string): string {
  if (mod.type === 'ReplaceFullPath') return mod.value;
  const rest = path.slice(matchedPrefix.length);
  if (rest === '') return mod.value;
  if (mod.value.endsWith('/')) return mod.value + rest.slice(1);
  return mod.value + rest;
}
