/**
 * Takes the usage event out of a stream whose client did not ask for it. Billing asks the upstream for usage
 * on every stream (`stream_options.include_usage`); OpenAI's contract sends that event (`choices` empty,
 * `usage` set) only to a client that asked, and a client that reads `choices[0]` of every chunk fails on it.
 */
import type { ResponseRewriter } from '../../gateway/plugin.ts';

/** A partial event held back longer than this is sent on as it is: it is not a small usage event. */
const HOLD_LIMIT = 64 * 1024;

/** The blank line that ends an event, with either line ending. */
const EVENT_END = /\r?\n\r?\n/g;

/**
 * Passes whole events only (a client acts on none before its blank line anyway), holding back the unfinished
 * one at a chunk's end, so an event split between chunks is judged whole.
 */
export class UsageEventRemover implements ResponseRewriter {
  private held: Buffer | undefined;

  onData(chunk: Buffer): Buffer {
    const data = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    const whole = wholeEventsEnd(data);
    if (data.length - whole > HOLD_LIMIT) return data;
    if (whole < data.length) this.held = data.subarray(whole);
    return withoutUsageEvents(data.subarray(0, whole));
  }

  /** An unfinished event at the end: the stream ended without its blank line. */
  onEnd(): Buffer | undefined {
    const held = this.held;
    this.held = undefined;
    return held && withoutUsageEvents(held);
  }
}

/** Where the last whole event ends (after its blank line); 0 when none is whole. */
function wholeEventsEnd(bytes: Buffer): number {
  const lf = bytes.lastIndexOf('\n\n');
  const crlf = bytes.lastIndexOf('\n\r\n');
  return Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 3);
}

/**
 * The events, minus lone usage events. The bytes are cut only at blank lines, so the text is whole
 * characters, and what is kept is encoded back to the very same bytes.
 */
function withoutUsageEvents(events: Buffer): Buffer {
  if (events.indexOf('"usage"') === -1) return events;
  const text = events.toString('utf8');
  let kept = '';
  let from = 0;
  let removed = false;
  for (const end of [...text.matchAll(EVENT_END)].map((m) => m.index + m[0].length).concat(text.length)) {
    const event = text.slice(from, end);
    if (isUsageEvent(event)) removed = true;
    else kept += event;
    from = end;
  }
  return removed ? Buffer.from(kept) : events;
}

/** An event of data lines only (no name, no comment) whose data is `{"choices": [], "usage": {…}}`. */
function isUsageEvent(event: string): boolean {
  const lines = event.split(/\r?\n/).filter((line) => line !== '');
  if (lines.length === 0 || !lines.every((line) => line.startsWith('data:'))) return false;
  const data = lines.map((line) => line.slice(line.startsWith('data: ') ? 6 : 5)).join('\n');
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return false;
  }
  if (typeof json !== 'object' || json === null) return false;
  const { usage, choices } = json as { usage?: unknown; choices?: unknown };
  const noChoices = choices === undefined || (Array.isArray(choices) && choices.length === 0);
  return noChoices && typeof usage === 'object' && usage !== null;
}
