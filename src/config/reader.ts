// A cursor over one YAML node that knows its file and position. Every accessor reports what is wrong
// at the offending node and returns undefined, so a kind parser reads top to bottom and collects
// all problems in one pass instead of stopping at the first.
import { isMap, isScalar, isSeq, type LineCounter, type Node as YamlNode } from 'yaml';
import type { ConfigIssue } from './types.js';

export class IssueList {
  readonly items: ConfigIssue[] = [];
  add(file: string, line: number, col: number, message: string): void {
    this.items.push(Object.freeze({ file, line, col, message }));
  }
}

export interface SourcePos {
  readonly file: string;
  readonly lines: LineCounter;
  readonly issues: IssueList;
}

function describe(node: YamlNode | null): string {
  if (node === null) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'null' : `${typeof node.value} ${JSON.stringify(node.value)}`;
  return 'an alias';
}

export class Field {
  constructor(
    readonly src: SourcePos,
    readonly node: YamlNode | null,
    /** Dotted path for messages, e.g. `spec.rules[0].matches`. */
    readonly path: string,
    /** Where to point when the node is absent: the parent's position. */
    private readonly fallbackOffset = 0,
  ) {}

  get present(): boolean {
    return this.node !== null && !(isScalar(this.node) && this.node.value === null);
  }

  private get offset(): number {
    return this.node?.range?.[0] ?? this.fallbackOffset;
  }

  /** `FILE:LINE` of this node. */
  get where(): string {
    return `${this.src.file}:${this.src.lines.linePos(this.offset).line}`;
  }

  error(message: string): undefined {
    const { line, col } = this.src.lines.linePos(this.offset);
    this.src.issues.add(this.src.file, line, col, message);
    return undefined;
  }

  private wrong(expected: string): undefined {
    return this.error(`${this.path || 'the document'}: expected ${expected}, got ${describe(this.node)}`);
  }

  /**
   * The mapping's fields by name. Keys outside `known` are reported (a typo must not be ignored);
   * `ignored` keys are accepted and skipped.
   */
  fields(known: readonly string[], ignored: readonly string[] = []): Map<string, Field> | undefined {
    if (!this.present) return new Map();
    if (!isMap(this.node)) return this.wrong('a mapping');
    const out = new Map<string, Field>();
    for (const pair of this.node.items) {
      const keyNode = pair.key as YamlNode | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const keyField = new Field(this.src, keyNode, this.path, this.offset);
      if (ignored.includes(key)) continue;
      if (!known.includes(key)) {
        keyField.error(`${this.join(key)}: unknown field (expected one of: ${known.join(', ')})`);
        continue;
      }
      if (out.has(key)) {
        keyField.error(`${this.join(key)}: duplicate field`);
        continue;
      }
      out.set(key, new Field(this.src, (pair.value as YamlNode | null) ?? null, this.join(key), keyNode?.range?.[0] ?? this.offset));
    }
    return out;
  }

  /** Reads one field of a mapping already split by `fields()`: absent fields come back empty. */
  static of(fields: Map<string, Field> | undefined, name: string, parent: Field): Field {
    return fields?.get(name) ?? new Field(parent.src, null, parent.join(name), parent.offset);
  }

  join(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  list(): Field[] | undefined {
    if (!this.present) return [];
    if (!isSeq(this.node)) return this.wrong('a list');
    return this.node.items.map((item, i) => new Field(this.src, (item as YamlNode | null) ?? null, `${this.path}[${i}]`, this.offset));
  }

  string(): string | undefined {
    if (!this.present) return undefined;
    if (!isScalar(this.node) || typeof this.node.value !== 'string') return this.wrong('a string');
    return this.node.value;
  }

  requiredString(): string | undefined {
    if (!this.present) return this.error(`${this.path}: required`);
    return this.string();
  }

  number(): number | undefined {
    if (!this.present) return undefined;
    if (!isScalar(this.node) || typeof this.node.value !== 'number') return this.wrong('a number');
    return this.node.value;
  }

  /** An integer within [min, max]. */
  integer(min: number, max: number): number | undefined {
    const n = this.number();
    if (n === undefined) return undefined;
    if (!Number.isInteger(n) || n < min || n > max) return this.error(`${this.path}: must be an integer from ${min} to ${max}, got ${n}`);
    return n;
  }

  boolean(): boolean | undefined {
    if (!this.present) return undefined;
    if (!isScalar(this.node) || typeof this.node.value !== 'boolean') return this.wrong('true or false');
    return this.node.value;
  }

  oneOf<T extends string>(allowed: readonly T[]): T | undefined {
    const s = this.string();
    if (s === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(s)) return this.error(`${this.path}: must be one of ${allowed.join(', ')}, got "${s}"`);
    return s as T;
  }

  /** A mapping of string to string, e.g. labels. */
  stringMap(): Record<string, string> | undefined {
    if (!this.present) return {};
    if (!isMap(this.node)) return this.wrong('a mapping of strings');
    const out: Record<string, string> = {};
    for (const pair of this.node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const value = new Field(this.src, (pair.value as YamlNode | null) ?? null, this.join(key), this.offset).string();
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
}
