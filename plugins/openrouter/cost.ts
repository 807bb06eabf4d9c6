/**
 * OpenRouter's own accounting in an answer's usage (`cost`, `cost_details`, `is_byok`): what the request cost
 * the operator, in US dollars. The operator's clients pay in credits at the operator's prices; the operator's
 * cost is not theirs to read. The gateway's billing reads it from the upstream's bytes, before this.
 */
import { isJsonObject, parseJsonObject } from '../../gateway/context.ts';
import type { ResponseRewriter } from '../../gateway/plugin.ts';
import { changeEventData, WholeEvents } from '../../gateway/sse-events.ts';
import { wholeAnswer } from '../../gateway/whole-answer.ts';

const ACCOUNTING = ['cost', 'cost_details', 'is_byok'];

/** A JSON answer larger than this is no chat completion: it passes as it came. */
const JSON_HOLD_LIMIT = 1024 * 1024;

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

const eventsWithoutCost = (events: Buffer) =>
  mayHoldCost(events) ? changeEventData(events, withoutCost) : events;

function answerWithoutCost(bytes: Buffer): Buffer {
  const changed = mayHoldCost(bytes) ? withoutCost(bytes.toString('utf8')) : undefined;
  return changed === undefined ? bytes : Buffer.from(changed);
}

/** What changes an answer on its way to the client: one for a stream, another for a JSON answer. */
export function costRemover(answer: { sse: boolean }): ResponseRewriter {
  if (answer.sse) return new WholeEvents(eventsWithoutCost);
  return wholeAnswer(answerWithoutCost, { limit: JSON_HOLD_LIMIT });
}
