// The request target of an HTTP request as a URL, for the servers that route by path (the control
// plane's API, the sidecar's admin and stats ports). `new URL(target, base)` takes `//x:99999` for a
// scheme-relative URL with a bad port and throws; a target is a path (origin-form) or an absolute URL.

/** The target's URL, or undefined when it is neither origin-form nor an http(s) absolute-form URL. */
export function parseTarget(target: string | undefined): URL | undefined {
  if (target === undefined || target === '') return undefined;
  try {
    if (target.startsWith('/')) return new URL(`http://target${target}`);
    const url = new URL(target);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}
