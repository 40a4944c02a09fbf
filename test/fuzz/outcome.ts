// What a parser made of a byte stream, in one shape for both parsers, so they can be compared field by field.

export type Kind = 'request' | 'response';
export type FramingName = 'none' | 'length' | 'chunked' | 'close';

export interface Message {
  /** Requests: method and target; responses: the status code (method and target empty). */
  readonly method: string;
  readonly target: string;
  readonly status: number;
  /** HTTP/1.x minor version. */
  readonly minor: number;
  /** `[name, value, ...]`, names lower-cased, values without surrounding whitespace. */
  readonly headers: readonly string[];
  readonly framing: FramingName;
  /** Payload bytes (chunked framing removed), latin1. */
  readonly body: string;
}

export interface Outcome {
  /** Messages read completely, in order. */
  readonly messages: readonly Message[];
  /** Whether all of the input was read into complete messages; if not, why (refused, or cut short). */
  readonly rejected: string | undefined;
  /** Where the message that was not read starts in the input (meshlight's side only). */
  readonly rejectedAt?: number;
}
