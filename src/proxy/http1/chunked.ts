// The chunked transfer coding (RFC 9112 7.1), checked byte by byte where it frames and skipped over in
// bulk where it carries data. The proxy forwards chunked bodies as the bytes that arrived, so this only
// has to find where the body ends and refuse what two parsers could read differently: sizes that are
// not hex or overflow, whitespace or bad tokens in extensions, a chunk not followed by CRLF, bare CR or
// LF, and malformed trailer fields.
import { quote } from '../../diagnostics.js';

const S_SIZE = 0;
const S_SIZE_CR = 1; // after the size line's CR, expecting LF
const S_EXT = 2;
const S_DATA = 3;
const S_DATA_CR = 4;
const S_DATA_LF = 5;
const S_TRAILER_START = 6; // at the start of a trailer line (or the final CRLF)
const S_TRAILER = 7;
const S_TRAILER_LF = 8;
const S_FINAL_LF = 9;
const S_DONE = 10;

/** Sizes up to 2^52: no real chunk is that large, and a longer hex string is an overflow attack. */
const MAX_SIZE_DIGITS = 13;
/** Bytes of extensions per chunk line and of trailers per body. */
const MAX_EXT_BYTES = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;

// tchar, for extension names and unquoted values; quoted values may hold any visible byte but DQUOTE and backslash.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

export class ChunkedError extends Error {}

export class ChunkedDecoder {
  private state = S_SIZE;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private extBytes = 0;
  /** Where in `;name[=token|"quoted"]` the extension reader is (RFC 9112 7.1.1). */
  private ext = X_NAME_START;
  private trailerBytes = 0;
  private trailerLine = '';
  /** Payload bytes seen (what a Content-Length would have said). */
  payload = 0;

  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Reads `buf` from `from`; returns the index just past the body's end, or -1 when all of it belongs to
   * the body and more is needed. Payload spans are given to `onData` when it is set (for a client that
   * cannot take chunked, HTTP/1.0); otherwise the caller forwards the raw bytes. Throws ChunkedError.
   */
  feed(buf: Buffer, from: number, onData?: (data: Buffer) => void): number {
    let i = from;
    const n = buf.length;
    while (i < n) {
      const c = buf[i]!;
      switch (this.state) {
        case S_SIZE:
          if (isHex(c)) {
            if (++this.digits > MAX_SIZE_DIGITS) throw new ChunkedError('chunk size too large');
            this.size = this.size * 16 + hexValue(c);
          } else if (this.digits === 0) {
            throw new ChunkedError('malformed chunk size');
          } else if (c === 13) {
            this.state = S_SIZE_CR;
          } else if (c === 59 /* ; */) {
            this.state = S_EXT;
            this.extBytes = 0;
            this.ext = X_NAME_START;
          } else {
            throw new ChunkedError('malformed chunk size');
          }
          i++;
          break;
        case S_EXT:
          if (++this.extBytes > MAX_EXT_BYTES) throw new ChunkedError('chunk extensions too long');
          this.ext = nextExt(this.ext, c);
          if (this.ext === X_END) this.state = S_SIZE_CR;
          i++;
          break;
        case S_SIZE_CR:
          if (c !== 10) throw new ChunkedError('bare CR in a chunk size line');
          i++;
          if (this.size === 0) {
            this.state = S_TRAILER_START;
            this.trailerBytes = 0;
          } else {
            this.state = S_DATA;
            this.remaining = this.size;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case S_DATA: {
          const take = Math.min(this.remaining, n - i);
          if (onData !== undefined) onData(buf.subarray(i, i + take));
          this.payload += take;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = S_DATA_CR;
          break;
        }
        case S_DATA_CR:
          if (c !== 13) throw new ChunkedError('chunk data longer than its size');
          this.state = S_DATA_LF;
          i++;
          break;
        case S_DATA_LF:
          if (c !== 10) throw new ChunkedError('bare CR after chunk data');
          this.state = S_SIZE;
          i++;
          break;
        case S_TRAILER_START:
          if (c === 13) {
            this.state = S_FINAL_LF;
          } else {
            this.state = S_TRAILER;
            this.trailerLine = String.fromCharCode(c);
            this.countTrailer();
          }
          i++;
          break;
        case S_TRAILER:
          this.countTrailer();
          if (c === 13) this.state = S_TRAILER_LF;
          else if (c === 10) throw new ChunkedError('bare LF in a trailer');
          else this.trailerLine += String.fromCharCode(c);
          i++;
          break;
        case S_TRAILER_LF:
          if (c !== 10) throw new ChunkedError('bare CR in a trailer');
          if (!TRAILER_RE.test(this.trailerLine)) throw new ChunkedError(`malformed trailer field ${quote(this.trailerLine, 100)}`);
          if (FRAMING_FIELD_RE.test(this.trailerLine)) throw new ChunkedError(`framing field in a trailer ${quote(this.trailerLine, 100)}`);
          this.state = S_TRAILER_START;
          i++;
          break;
        case S_FINAL_LF:
          if (c !== 10) throw new ChunkedError('bare CR at the end of a chunked body');
          this.state = S_DONE;
          return i + 1;
        default:
          return i;
      }
    }
    return -1;
  }

  private countTrailer(): void {
    if (++this.trailerBytes > MAX_TRAILER_BYTES) throw new ChunkedError('trailers too large');
  }
}

// The chunk-extension reader's states: a name must start after `;`; a value after `=` is a token or a
// quoted string (without quoted-pairs, which llhttp reads differently); the line ends at CR.
const X_NAME_START = 0;
const X_NAME = 1;
const X_VALUE_START = 2;
const X_TOKEN = 3;
const X_QUOTED = 4;
const X_AFTER_QUOTE = 5;
const X_END = 6;

function nextExt(state: number, c: number): number {
  switch (state) {
    case X_NAME_START:
      if (TCHAR[c] === 1) return X_NAME;
      break;
    case X_NAME:
    case X_TOKEN:
      if (TCHAR[c] === 1) return state;
      if (c === 59 /* ; */) return X_NAME_START;
      if (c === 13) return X_END;
      if (c === 61 /* = */ && state === X_NAME) return X_VALUE_START;
      break;
    case X_VALUE_START:
      if (c === 34) return X_QUOTED;
      if (TCHAR[c] === 1) return X_TOKEN;
      break;
    case X_QUOTED:
      if (c === 34) return X_AFTER_QUOTE;
      if (c !== 92 && c !== 127 && c >= 32) return X_QUOTED;
      break;
    case X_AFTER_QUOTE:
      if (c === 59) return X_NAME_START;
      if (c === 13) return X_END;
      break;
    default:
  }
  throw new ChunkedError('malformed chunk extension');
}

const TRAILER_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
/** RFC 9110 6.5.1: framing fields never come as trailers; a server that merges trailers into the head would reframe. */
const FRAMING_FIELD_RE = /^(?:content-length|transfer-encoding):/i;

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function hexValue(c: number): number {
  return c <= 57 ? c - 48 : (c | 32) - 87;
}
