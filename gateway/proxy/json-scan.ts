/**
 * The scan under `json-members.ts`: keeps track of strings and nesting byte by byte, and keeps slices of the
 * chunks that hold each wanted top-level member's value, without parsing the rest or copying the body.
 */
import type { ResponseObserver } from '../plugin.ts';
import { NEWLINE } from './observe.ts';

/** A piece of a chunk; cut out only when its text is asked for. */
interface Slice {
  chunk: Buffer;
  from: number;
  to: number;
}

/** Raw JSON of the members a `jsonMembersObserver` was asked for, copied or decoded on demand. */
export interface JsonMembers {
  /** The member's JSON bytes; undefined when absent, cut off, or over the limit. */
  bytes(name: string): Buffer | undefined;
  /** The member's JSON text; undefined when absent, cut off, or over the limit. */
  text(name: string): string | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
export const COLON = 0x3a;
const COMMA = 0x2c;
export const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
export const OPEN_ARRAY = 0x5b;
export const CLOSE_ARRAY = 0x5d;
/** JSON's whitespace: space, tab, line feed, carriage return. */
export const isJsonSpace = (byte: number | undefined) =>
  byte === 0x20 || byte === 0x09 || byte === NEWLINE || byte === 0x0d;

/**
 * The scan's state lives in fields, its loop in locals: it reads every byte it is given (a paid answer's
 * tail from its usage key on; a whole answer only when that is not enough, or one over the hold limit).
 */
export class JsonMembersScan implements ResponseObserver {
  private readonly found = new Map<string, Slice[] | null>();
  private depth = 0;
  private notAnObject = false;
  private inString = false;
  /** The string's next byte is escaped: the chunk before ended in an odd run of backslashes. */
  private escaped = false;
  private expectingKey = false;
  private readingKey = false;
  /** The wanted name the last top-level key spells, else ''. */
  private key = '';
  /** The raw bytes (latin1) of a key split between chunks, so far. */
  private keyPart = '';
  private capture: { name: string; parts: Slice[]; size: number } | undefined;
  private captureFrom = 0;
  /**
   * Where the top-level object first ended, as an index in the chunk it ended in, else -1. Read only for one
   * whole buffer (`endsTopLevelObject`).
   */
  private closedAt = -1;

  constructor(
    private readonly names: readonly string[],
    private readonly limit: number,
    private readonly onEndScan: (members: JsonMembers, info: { complete: boolean }) => void,
  ) {}

  onData(chunk: Buffer, from = 0): void {
    if (this.notAnObject) return;
    this.captureFrom = from;
    const end = chunk.length;
    let depth = this.depth;
    let i = from;
    while (i < end) {
      if (this.inString) {
        i = this.skipString(chunk, i);
        continue;
      }
      const b = chunk[i]!;
      if (b === QUOTE) {
        this.inString = true;
        if (depth === 1 && this.expectingKey) {
          this.readingKey = true;
          this.expectingKey = false;
          this.key = this.keyPart = '';
        }
      } else if (b === OPEN_OBJECT || b === OPEN_ARRAY) {
        if (depth === 0) {
          this.notAnObject = b !== OPEN_OBJECT;
          if (this.notAnObject) return;
          this.expectingKey = true;
        }
        depth++;
      } else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        if (--depth === 0) {
          this.endCapture(chunk, i);
          if (this.closedAt === -1) this.closedAt = i;
        }
      } else if (depth === 1) {
        if (b === COLON && this.key !== '') {
          this.capture = { name: this.key, parts: [], size: 0 };
          this.captureFrom = i + 1;
        } else if (b === COMMA) {
          this.endCapture(chunk, i);
          this.expectingKey = true;
        }
      }
      i++;
    }
    this.depth = depth;
    if (this.capture) this.keep(chunk, this.captureFrom, end);
  }

  onEnd(info: { complete: boolean }): void {
    this.onEndScan(this.members(), info);
  }

  /**
   * Scans `json` from `from`, the opening quote of a key taken to be in the top-level object. True when that
   * object then ends at the last byte of JSON (whitespace aside): the key was indeed a top-level one.
   */
  endsTopLevelObject(json: Buffer, from: number): boolean {
    this.depth = 1;
    this.expectingKey = true;
    this.onData(json, from);
    let last = json.length - 1;
    while (isJsonSpace(json[last])) last--;
    return this.closedAt === last;
  }

  hasFound(name: string): boolean {
    return this.found.has(name);
  }

  /** The members found so far; one still open (cut off) is not handed over. */
  members(): JsonMembers {
    this.capture = undefined;
    return new FoundMembers(this.found);
  }

  /** Skips string content from `from`: the index after the closing quote, or the chunk's end. */
  private skipString(chunk: Buffer, from: number): number {
    const end = chunk.length;
    let i = from;
    if (this.escaped && i < end) {
      this.escaped = false;
      i++;
    }
    // The next quote closes the string unless an odd run of backslashes escapes it.
    for (;;) {
      const quote = chunk.indexOf(QUOTE, i);
      if (quote === -1) {
        this.escaped = oddBackslashesBefore(chunk, i, end);
        i = end;
        break;
      }
      if (!oddBackslashesBefore(chunk, i, quote)) {
        i = quote;
        break;
      }
      i = quote + 1;
    }
    const closed = i < end;
    if (this.readingKey) this.readKey(chunk, from, closed ? i : end, closed);
    if (!closed) return end;
    this.inString = false;
    return i + 1;
  }

  /** Key bytes are compared raw: an escaped or non-ASCII key never spells an (ASCII) wanted name. */
  private readKey(chunk: Buffer, from: number, to: number, closed: boolean): void {
    if (!closed) {
      this.keyPart += chunk.toString('latin1', from, to);
      return;
    }
    this.readingKey = false;
    if (this.keyPart === '') {
      this.key = '';
      for (const name of this.names) if (spells(chunk, from, to, name)) this.key = name;
    } else {
      const whole = this.keyPart + chunk.toString('latin1', from, to);
      this.key = this.names.includes(whole) ? whole : '';
    }
  }

  private keep(chunk: Buffer, from: number, to: number): void {
    const { capture } = this;
    if (!capture) return;
    capture.size += to - from;
    if (capture.size <= this.limit) capture.parts.push({ chunk, from, to });
  }

  private endCapture(chunk: Buffer, at: number): void {
    const { capture } = this;
    if (!capture) return;
    this.keep(chunk, this.captureFrom, at);
    this.found.set(capture.name, capture.size <= this.limit ? capture.parts : null);
    this.capture = undefined;
  }
}

/** A class rather than closures per answer: a fresh closure costs V8 a lazy set-up on its first call. */
class FoundMembers implements JsonMembers {
  constructor(private readonly found: ReadonlyMap<string, Slice[] | null>) {}

  bytes(name: string): Buffer | undefined {
    const parts = this.found.get(name);
    if (!parts) return undefined;
    const [only] = parts;
    if (parts.length === 1) return only!.chunk.subarray(only!.from, only!.to);
    return Buffer.concat(parts.map((part) => part.chunk.subarray(part.from, part.to)));
  }

  text(name: string): string | undefined {
    return this.bytes(name)?.toString('utf8');
  }
}

/** Whether the bytes in [from, at) end in an odd run of backslashes, which escapes the byte at `at`. */
export function oddBackslashesBefore(chunk: Buffer, from: number, at: number): boolean {
  let run = 0;
  for (let k = at - 1; k >= from && chunk[k] === BACKSLASH; k--) run++;
  return run % 2 === 1;
}

/** Whether the bytes in [from, to) are exactly `name`. */
function spells(chunk: Buffer, from: number, to: number, name: string): boolean {
  if (to - from !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (chunk[from + k] !== name.charCodeAt(k)) return false;
  return true;
}
