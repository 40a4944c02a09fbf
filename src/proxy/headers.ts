// Header lists as the proxy keeps them: flat `[name, value, name, value, ...]` with lower-case names
// and values as their bytes came (latin1 text), so no per-request objects are built.
export type HeaderList = string[];

/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1, plus proxy-connection). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

export function getHeader(list: HeaderList, name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

export function removeHeader(list: HeaderList, name: string): void {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    if (list[r] === name) continue;
    list[w] = list[r]!;
    list[w + 1] = list[r + 1]!;
    w += 2;
  }
  list.length = w;
}

export function setHeader(list: HeaderList, name: string, value: string): void {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i] === name) {
      list[i + 1] = value;
      removeAfter(list, name, i + 2);
      return;
    }
  }
  list.push(name, value);
}

function removeAfter(list: HeaderList, name: string, from: number): void {
  for (let i = from; i < list.length; i += 2) {
    if (list[i] === name) {
      list.splice(i, 2);
      i -= 2;
    }
  }
}

/** `name: value\r\n` lines, as latin1 text for the socket. */
export function serializeHeaders(list: HeaderList): string {
  let out = '';
  for (let i = 0; i < list.length; i += 2) out += `${list[i]}: ${list[i + 1]}\r\n`;
  return out;
}
