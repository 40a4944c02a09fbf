// How far a message body goes, for requests and responses alike: Content-Length counted down, chunked
// checked by the decoder, or (responses only) everything until the close. The caller forwards the bytes
// `read` marks as the body's, so the same framing code serves both sides of the engine.
import { ChunkedDecoder, ChunkedError } from './chunked.js';
import { Framing } from './head-parser.js';

/** `read`'s answer for a body whose framing broke. */
export const BROKEN = -2;

export class BodyReader {
  framing = Framing.NONE;
  private left = 0;
  private length = 0;
  private chunked: ChunkedDecoder | undefined = undefined;
  /** Payload-only chunked bodies, for a peer that needs them framed another way; rare, so a closure is fine. */
  onPayload: ((b: Buffer) => void) | undefined = undefined;
  /** What `read` marked for forwarding: `buf.subarray(from, to)`; empty when payload goes to onPayload. */
  from = 0;
  to = 0;
  /** Why `read` returned BROKEN. */
  error = '';

  start(framing: Framing, contentLength: number): void {
    this.framing = framing;
    this.left = contentLength;
    this.length = framing === Framing.CLOSE ? 0 : contentLength;
    this.chunked = framing === Framing.CHUNKED ? new ChunkedDecoder() : undefined;
    this.onPayload = undefined;
  }

  /** Whether the body is already complete (no body, or a zero length). */
  get empty(): boolean {
    return this.framing === Framing.NONE || (this.framing === Framing.LENGTH && this.left === 0);
  }

  /** The payload's size so far (chunked framing not counted). */
  get payload(): number {
    return this.chunked !== undefined ? this.chunked.payload : this.length - this.left;
  }

  /**
   * Reads `buf` from `from`: returns the index just past the body's end, -1 when all of it is the body's
   * and more is to come, or BROKEN (see `error`) when its chunked framing is malformed.
   */
  read(buf: Buffer, from: number): number {
    try {
      return this.frame(buf, from);
    } catch (err) {
      if (!(err instanceof ChunkedError)) throw err;
      this.error = err.message;
      this.to = this.from;
      return BROKEN;
    }
  }

  /** The bytes the last `read` marked as the body's, to forward; undefined when none. */
  forwarded(buf: Buffer): Buffer | undefined {
    if (this.to <= this.from) return undefined;
    return this.from === 0 && this.to === buf.length ? buf : buf.subarray(this.from, this.to);
  }

  private frame(buf: Buffer, from: number): number {
    this.from = from;
    switch (this.framing) {
      case Framing.LENGTH: {
        const n = Math.min(this.left, buf.length - from);
        this.left -= n;
        this.to = from + n;
        return this.left === 0 ? from + n : -1;
      }
      case Framing.CHUNKED: {
        const end = this.chunked!.feed(buf, from, this.onPayload);
        this.to = this.onPayload !== undefined ? from : end === -1 ? buf.length : end;
        return end;
      }
      case Framing.CLOSE:
        this.length += buf.length - from;
        this.to = buf.length;
        return -1;
      default:
        this.to = from;
        return from;
    }
  }
}
