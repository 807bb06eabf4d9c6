/**
 * An upstream's own accounting in an answer's usage (OpenRouter's `cost`, `cost_details`, `is_byok`): what the
 * request cost the operator, in US dollars. The operator's clients pay in credits at the operator's prices;
 * the operator's cost is not theirs to read. The gateway's billing reads it from the upstream's bytes, before
 * this. Used by `openrouter` and `balancer`.
 */
import { isJsonObject, parseJsonObject } from '../gateway/context.ts';
import type { UpstreamResponse } from '../gateway/plugin.ts';
import { rewriteAnswer } from '../gateway/rewrite-answer.ts';
import { changeEventData } from '../gateway/sse-events.ts';

const ACCOUNTING = ['cost', 'cost_details', 'is_byok'];

/** The JSON text without its usage's accounting; `undefined` when it has none (or is no JSON object). */
function withoutCost(text: string): string | undefined {
  const json = parseJsonObject(text);
  if (!json || !isJsonObject(json.usage)) return undefined;
  const usage = json.usage;
  if (!ACCOUNTING.some((name) => name in usage)) return undefined;
  for (const name of ACCOUNTING) delete usage[name];
  return JSON.stringify(json);
}

/** Bytes that may hold the accounting: only those are parsed. */
const mayHoldCost = (bytes: Buffer) => bytes.includes('"cost"') || bytes.includes('"is_byok"');

/** A stream's whole events without the accounting. */
const eventsWithoutCost = (events: Buffer) =>
  mayHoldCost(events) ? changeEventData(events, withoutCost) : events;

/** A JSON answer without the accounting. */
function answerWithoutCost(bytes: Buffer): Buffer {
  const changed = mayHoldCost(bytes) ? withoutCost(bytes.toString('utf8')) : undefined;
  return changed === undefined ? bytes : Buffer.from(changed);
}

/** Takes the accounting out of a successful answer on its way to the client. */
export function withoutOperatorCost(response: UpstreamResponse): void {
  if (response.status < 400) rewriteAnswer(response, { events: eventsWithoutCost, whole: answerWithoutCost });
}
