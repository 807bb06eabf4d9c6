/**
 * Takes the usage event out of a stream whose client did not ask for it. Billing asks the upstream for usage
 * on every stream (`stream_options.include_usage`); OpenAI's contract sends that event (`choices` empty,
 * `usage` set) only to a client that asked, and a client that reads `choices[0]` of every chunk fails on it.
 */
import { WholeEvents } from '../../gateway/sse-events.ts';

/** The blank line that ends an event, with either line ending. */
const EVENT_END = /\r?\n\r?\n/g;
/**
 * A `usage` member whose value is not null. OpenAI's stream says `"usage": null` in every chunk when usage is
 * asked for, so only the events that hold one are worth parsing.
 */
const USAGE_SET = /"usage"\s*:\s*(?!\s|null\b)/;

export class UsageEventRemover extends WholeEvents {
  constructor() {
    super(withoutUsageEvents);
  }
}

/**
 * The events, minus lone usage events. The bytes are cut only at blank lines, so the text is whole
 * characters, and what is kept is encoded back to the very same bytes.
 */
function withoutUsageEvents(events: Buffer): Buffer {
  // Latin-1 reads each byte as one character: the ASCII looked for is found as it is, never inside UTF-8.
  if (!USAGE_SET.test(events.toString('latin1'))) return events;
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
