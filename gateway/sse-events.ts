/**
 * A rewriter of server-sent events that passes whole events only (a client acts on none before its blank
 * line anyway), holding back the unfinished one at a chunk's end, so an event split between chunks is
 * changed whole. `change` gets whole events and returns their bytes to send.
 */
import type { ResponseRewriter } from './plugin.ts';

/** A partial event held back longer than this is sent on as it is. */
const HOLD_LIMIT = 64 * 1024;

export class WholeEvents implements ResponseRewriter {
  private held: Buffer | undefined;

  constructor(private readonly change: (events: Buffer) => Buffer) {}

  onData(chunk: Buffer): Buffer {
    const data = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    const whole = wholeEventsEnd(data);
    if (data.length - whole > HOLD_LIMIT) return data;
    if (whole < data.length) this.held = data.subarray(whole);
    return this.change(data.subarray(0, whole));
  }

  /** An unfinished event at the end: the stream ended without its blank line. */
  onEnd(): Buffer | undefined {
    const held = this.held;
    this.held = undefined;
    return held && this.change(held);
  }
}

/** Where the last whole event ends (after its blank line); 0 when none is whole. */
function wholeEventsEnd(bytes: Buffer): number {
  const lf = bytes.lastIndexOf('\n\n');
  const crlf = bytes.lastIndexOf('\n\r\n');
  return Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 3);
}

/** The blank line that ends an event, with either line ending. */
const EVENT_END = /\r?\n\r?\n/g;

/**
 * Whole events with the data of each data-only event (no name, no comment) passed to `change`: a string it
 * returns is that event's new data, `null` takes the event out, `undefined` keeps it byte for byte. The
 * bytes are cut only at blank lines, so the text is whole characters.
 */
export function changeEventData(events: Buffer, change: (data: string) => string | null | undefined): Buffer {
  const text = events.toString('utf8');
  let out = '';
  let from = 0;
  let changed = false;
  for (const end of [...text.matchAll(EVENT_END)].map((m) => m.index + m[0].length).concat(text.length)) {
    const event = text.slice(from, end);
    from = end;
    const lines = event.split(/\r?\n/).filter((line) => line !== '');
    const dataOnly = lines.length > 0 && lines.every((line) => line.startsWith('data:'));
    const next = dataOnly
      ? change(lines.map((line) => line.slice(line.startsWith('data: ') ? 6 : 5)).join('\n'))
      : undefined;
    if (next === undefined) out += event;
    else {
      changed = true;
      if (next !== null) out += `data: ${next}\n\n`;
    }
  }
  return changed ? Buffer.from(out) : events;
}
