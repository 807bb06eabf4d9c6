/**
 * Takes the usage event out of a stream whose client did not ask for it. Billing asks the upstream for usage
 * on every stream (`stream_options.include_usage`); OpenAI's contract sends that event (`choices` empty,
 * `usage` set) only to a client that asked, and a client that reads `choices[0]` of every chunk fails on it.
 */
import { parseJsonObject } from '../../gateway/context.ts';
import { changeEventData, WholeEvents } from '../../gateway/sse-events.ts';

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

/** The events, minus lone usage events; what is kept is the very same bytes. */
function withoutUsageEvents(events: Buffer): Buffer {
  // Latin-1 reads each byte as one character: the ASCII looked for is found as it is, never inside UTF-8.
  if (!USAGE_SET.test(events.toString('latin1'))) return events;
  return changeEventData(events, (data) => (isUsageEvent(data) ? null : undefined));
}

/** An event whose data is `{"choices": [], "usage": {…}}`. */
function isUsageEvent(data: string): boolean {
  const json = parseJsonObject(data);
  if (!json) return false;
  const { usage, choices } = json;
  const noChoices = choices === undefined || (Array.isArray(choices) && choices.length === 0);
  return noChoices && typeof usage === 'object' && usage !== null;
}
