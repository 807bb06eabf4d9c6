/**
 * Incremental readers for the streamed response body, for plugins' `onResponse` observers: the body
 * still flows to the client chunk by chunk; these only look.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ResponseObserver } from '../plugin.ts';

/** Calls `onEvent` with the data of each `data:` line of a server-sent event stream, as lines complete. */
export function sseObserver(
  onEvent: (data: string) => void,
  onEnd?: (info: { complete: boolean }) => void,
): ResponseObserver {
  let partial = '';
  // A character split between two chunks is decoded whole.
  const decoder = new StringDecoder('utf8');
  return {
    onData(chunk) {
      const text = partial + decoder.write(chunk);
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('data:')) onEvent(line.slice(5).trim());
      }
    },
    onEnd(info) {
      partial += decoder.end();
      if (partial.startsWith('data:')) onEvent(partial.slice(5).trim());
      partial = '';
      onEnd?.(info);
    },
  };
}

/** Raw text of the members a `jsonMembersObserver` was asked for, decoded on demand. */
export interface JsonMembers {
  /** The member's JSON text; undefined when absent, cut off, or over the limit. */
  text(name: string): string | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/**
 * Picks chosen top-level members out of a JSON object body as it streams by, without parsing the rest or
 * copying the body: a scan keeps track of strings and nesting, and keeps slices of the chunks that hold
 * each wanted member's value (up to `limit` bytes each). A key inside a nested object or a string never
 * matches. Unlike parsing the whole body, this costs no objects and has no size limit for small members.
 * String contents, most of an answer, are skipped with `indexOf` rather than looked at byte by byte.
 */
export function jsonMembersObserver(
  names: readonly string[],
  options: { limit: number },
  onEnd: (members: JsonMembers, info: { complete: boolean }) => void,
): ResponseObserver {
  const found = new Map<string, Buffer[] | null>();
  let depth = 0;
  let notAnObject = false;
  let inString = false;
  /** The string's next byte is escaped (the chunk before ended in an odd run of backslashes). */
  let escaped = false;
  let expectingKey = false;
  let readingKey = false;
  /** The wanted name the last top-level key equals, else ''. */
  let key = '';
  /** The raw bytes (latin1) of a key split between chunks, so far. */
  let keyStart = '';
  const wanted = names.map((name) => Buffer.from(name, 'latin1'));
  /** The wanted name that the key bytes in [start, end) spell, else ''. */
  const wantedName = (chunk: Buffer, start: number, end: number): string => {
    for (let n = 0; n < wanted.length; n++) {
      const name = wanted[n]!;
      if (name.length === end - start && chunk.compare(name, 0, name.length, start, end) === 0)
        return names[n]!;
    }
    return '';
  };
  let capture: { name: string; parts: Buffer[]; size: number } | undefined;
  let captureFrom = 0;

  const keep = (part: Buffer) => {
    if (!capture) return;
    capture.size += part.length;
    if (capture.size <= options.limit) capture.parts.push(part);
  };
  const endCapture = (chunk: Buffer, at: number) => {
    if (!capture) return;
    keep(chunk.subarray(captureFrom, at));
    found.set(capture.name, capture.size <= options.limit ? capture.parts : null);
    capture = undefined;
  };
  /** Skips string content from `from`: the index after the closing quote, or the chunk's end. */
  const skipString = (chunk: Buffer, from: number): number => {
    let i = from;
    if (escaped) {
      if (i === chunk.length) return i;
      escaped = false;
      i++;
    }
    for (;;) {
      const quote = nextQuote(chunk, i);
      if (quote === -1) {
        escaped = oddBackslashesBefore(chunk, i, chunk.length);
        // Key bytes are compared raw: an escaped or non-ASCII key never equals an (ASCII) wanted name.
        if (readingKey) keyStart += chunk.toString('latin1', from, chunk.length);
        return chunk.length;
      }
      if (oddBackslashesBefore(chunk, i, quote)) {
        i = quote + 1;
        continue;
      }
      if (readingKey) {
        if (keyStart === '') key = wantedName(chunk, from, quote);
        else {
          const whole = keyStart + chunk.toString('latin1', from, quote);
          key = names.includes(whole) ? whole : '';
        }
      }
      inString = readingKey = false;
      return quote + 1;
    }
  };

  return {
    onData(chunk) {
      if (notAnObject) return;
      captureFrom = 0;
      let i = 0;
      while (i < chunk.length) {
        if (inString) {
          i = skipString(chunk, i);
          continue;
        }
        const b = chunk[i]!;
        switch (b) {
          case QUOTE:
            inString = true;
            if (depth === 1 && expectingKey) {
              readingKey = true;
              expectingKey = false;
              key = keyStart = '';
            }
            break;
          case OPEN_OBJECT:
          case OPEN_ARRAY:
            if (depth === 0) {
              notAnObject = b !== OPEN_OBJECT;
              if (notAnObject) return;
              expectingKey = true;
            }
            depth++;
            break;
          case CLOSE_OBJECT:
          case CLOSE_ARRAY:
            if (--depth === 0) endCapture(chunk, i);
            break;
          case COLON:
            if (depth === 1 && key !== '') {
              capture = { name: key, parts: [], size: 0 };
              captureFrom = i + 1;
            }
            break;
          case COMMA:
            if (depth === 1) {
              endCapture(chunk, i);
              expectingKey = true;
            }
            break;
        }
        i++;
      }
      keep(chunk.subarray(captureFrom));
    },
    onEnd(info) {
      // A member still open at the end was cut off: it is not handed over.
      capture = undefined;
      onEnd(
        {
          text(name) {
            const parts = found.get(name);
            return parts ? Buffer.concat(parts).toString('utf8') : undefined;
          },
        },
        info,
      );
    },
  };
}

/** The index of the next quote from `from`, or -1. Short strings (most keys and ids) are scanned in place. */
function nextQuote(chunk: Buffer, from: number): number {
  const near = Math.min(chunk.length, from + 32);
  for (let i = from; i < near; i++) if (chunk[i] === QUOTE) return i;
  return near === chunk.length ? -1 : chunk.indexOf(QUOTE, near);
}

/** Whether the bytes in [from, at) end in an odd run of backslashes, which escapes the byte at `at`. */
function oddBackslashesBefore(chunk: Buffer, from: number, at: number): boolean {
  let run = 0;
  for (let k = at - 1; k >= from && chunk[k] === BACKSLASH; k--) run++;
  return run % 2 === 1;
}
