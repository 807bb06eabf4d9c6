/** Reads token usage from an OpenAI-style response as it streams by, and estimates it when absent. */
import {
  jsonMembersFromEnd,
  jsonMembersObserver,
  jsonMembersOf,
  type JsonMembers,
} from '../../gateway/proxy/json-members.ts';
import { isJsonSpace } from '../../gateway/proxy/json-scan.ts';
import { NEWLINE, sseLinesObserver } from '../../gateway/proxy/observe.ts';
import type { ResponseObserver } from '../../gateway/plugin.ts';
import { decodingObserver } from '../../gateway/proxy/decode.ts';
import { textWeight, tokensOf } from './estimate.ts';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
}

/** What a model writes: text, and the names and arguments of the tools it calls. */
interface Written {
  content?: unknown;
  tool_calls?: { function?: { name?: unknown; arguments?: unknown } }[];
}

interface UsageJson {
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  choices?: { delta?: Written; message?: Written }[];
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** How much of an answer is kept for reading usage: the JSON members, or the stream not yet read. */
const LIMITS = { limit: 4 * 1024 * 1024 };

export class UsageReader {
  reported: { prompt_tokens?: number; completion_tokens?: number } | undefined;
  /** The answer's text so far, as an estimate's weight (`estimate.ts`). */
  completionWeight = 0;
  readonly observer: ResponseObserver;

  constructor(answer: { kind: 'sse' | 'json'; contentEncoding: string | undefined }) {
    const observer =
      answer.kind === 'sse'
        ? sseLinesObserver(LIMITS, (lines) => this.takeEvents(lines))
        : jsonMembersObserver(['usage', 'choices'], LIMITS, (members) => this.takeMembers(members));
    // A compressed answer (an upstream that ignored `accept-encoding: identity`) is read decoded, at its end.
    this.observer = decodingObserver(answer.contentEncoding, observer, LIMITS);
  }

  /**
   * Stream events, in whole lines: usually the whole stream at its end. Usage comes last, so it is looked
   * for from the end, in the bytes, and only the event that holds it is scanned. A raw `"usage"` cannot come
   * from inside a string (its quotes would be escaped). Other events are decoded and parsed only when no
   * usage came: their content is then counted for the estimate.
   */
  private takeEvents(lines: Buffer): void {
    const usage = lastUsage(lines);
    if (usage) this.reported = usage;
    if (this.hasReported()) return;
    for (const line of lines.toString('utf8').split('\n')) {
      const data = line.startsWith(DATA_PREFIX) ? line.slice(DATA_PREFIX.length).trim() : undefined;
      if (data !== undefined && data !== '[DONE]')
        this.take(parseJson(data) as UsageJson | undefined, 'delta');
    }
  }

  /** A JSON answer: its `usage` alone is read; `choices` only when usage is missing (for the estimate). */
  private takeMembers(members: JsonMembers): void {
    const usage = usageOf(members.bytes('usage'));
    if (usage) this.reported = usage;
    if (this.hasReported()) return;
    const choices = parseJson(members.text('choices'));
    if (Array.isArray(choices)) this.take({ choices } as UsageJson, 'message');
  }

  private hasReported(): boolean {
    const r = this.reported;
    return !!r && Number.isInteger(r.prompt_tokens) && Number.isInteger(r.completion_tokens);
  }

  private take(json: UsageJson | undefined, part: 'delta' | 'message'): void {
    if (!json || typeof json !== 'object') return;
    if (json.usage) this.reported = json.usage;
    for (const choice of json.choices ?? []) {
      const written = choice?.[part];
      this.count(written?.content);
      if (!Array.isArray(written?.tool_calls)) continue;
      for (const call of written.tool_calls) {
        this.count(call?.function?.name);
        this.count(call?.function?.arguments);
      }
    }
  }

  private count(text: unknown): void {
    if (typeof text === 'string') this.completionWeight += textWeight(text);
  }

  /** The upstream's own usage when it sent it; otherwise an estimate, marked as such. */
  usage(promptEstimate: number): Usage {
    const r = this.reported;
    if (r && this.hasReported()) {
      return { promptTokens: r.prompt_tokens!, completionTokens: r.completion_tokens!, estimated: false };
    }
    return {
      promptTokens: promptEstimate,
      completionTokens: tokensOf(this.completionWeight),
      estimated: true,
    };
  }
}

export const USAGE_KEY = Buffer.from('"usage"');
/** An event stream's data field, as text (the estimate's decoded lines) and as bytes (the usage search). */
const DATA_PREFIX = 'data:';
export const DATA_FIELD = Buffer.from(DATA_PREFIX);

/** The `usage` object of the last event in `lines` that carries one. */
function lastUsage(lines: Buffer): UsageJson['usage'] | undefined {
  let at = lines.lastIndexOf(USAGE_KEY);
  while (at !== -1) {
    const start = lines.lastIndexOf(NEWLINE, at) + 1;
    const newline = lines.indexOf(NEWLINE, at);
    const end = newline === -1 ? lines.length : newline;
    const data = dataAt(lines, start, end);
    const usage = data && usageOf(jsonMembersFromEnd(data, ['usage'], LIMITS).bytes('usage'));
    if (usage) return usage;
    at = start === 0 ? -1 : lines.lastIndexOf(USAGE_KEY, start - 1);
  }
  return undefined;
}

/**
 * The data of the event stream line [start, end), or undefined when it is not a `data:` line. The member
 * scan passes over the whitespace around the JSON, so none is trimmed.
 */
function dataAt(lines: Buffer, start: number, end: number): Buffer | undefined {
  const from = start + DATA_FIELD.length;
  const isData = from < end && lines.compare(DATA_FIELD, 0, DATA_FIELD.length, start, from) === 0;
  return isData ? lines.subarray(from, end) : undefined;
}

const COUNTS = ['prompt_tokens', 'completion_tokens'];

/**
 * A `usage` object from its JSON: the two counts read as integer literals by the member scan, without
 * building the rest (details, cost…) — JSON.parse of it cost ~5 µs of every paid request. When either count
 * is missing or written another way, the object is parsed whole. Undefined when it is not an object.
 */
function usageOf(json: Buffer | undefined): UsageJson['usage'] | undefined {
  if (json === undefined) return undefined;
  const counts = jsonMembersOf(json, COUNTS, LIMITS);
  const prompt = integerIn(counts.bytes('prompt_tokens'));
  const completion = integerIn(counts.bytes('completion_tokens'));
  if (prompt !== undefined && completion !== undefined)
    return { prompt_tokens: prompt, completion_tokens: completion };
  const usage = parseJson(json.toString('utf8'));
  return usage && typeof usage === 'object' ? (usage as UsageJson['usage']) : undefined;
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/** The value of a JSON integer literal (no sign, fraction or exponent; JSON whitespace around it), else undefined. */
function integerIn(json: Buffer | undefined): number | undefined {
  if (json === undefined) return undefined;
  let i = 0;
  while (isJsonSpace(json[i])) i++;
  const start = i;
  let value = 0;
  for (let byte = json[i]; byte !== undefined && byte >= DIGIT_0 && byte <= DIGIT_9; byte = json[++i]) {
    value = value * 10 + byte - DIGIT_0;
  }
  const digits = i - start;
  // Up to 15 digits: always exact in a double. A leading zero is not JSON.
  if (digits === 0 || digits > 15 || (digits > 1 && json[start] === DIGIT_0)) return undefined;
  while (isJsonSpace(json[i])) i++;
  return i === json.length ? value : undefined;
}
