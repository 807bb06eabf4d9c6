/**
 * Reads token usage from an OpenAI-style answer as it streams by, and estimates it when absent: a JSON
 * answer is parsed whole at its end; an event stream is parsed event by event (eventsource-parser), so only
 * the event in progress is held, whatever the stream's length.
 */
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { isJsonObject, parseJsonObject } from '../../gateway/context.ts';
import type { ResponseObserver } from '../../gateway/plugin.ts';
import { decodingObserver, isUnencoded } from './decode.ts';
import { textWeight, tokensOf } from './estimate.ts';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
  /** What the upstream says it charged, in US dollars (OpenRouter's `usage.cost`), when it says so. */
  upstreamCostUsd?: number;
}

/**
 * What a model writes: text, its reasoning (OpenRouter's `reasoning`; `reasoning_content` as DeepSeek's API
 * and vLLM write it), and the names and arguments of the tools it calls. Reasoning is billed as completion.
 */
interface Written {
  content?: unknown;
  reasoning?: unknown;
  reasoning_content?: unknown;
  tool_calls?: { function?: { name?: unknown; arguments?: unknown } }[];
}

interface AnswerJson {
  usage?: unknown;
  error?: unknown;
  choices?: { delta?: Written; message?: Written }[];
}

interface Counts {
  prompt_tokens: number;
  completion_tokens: number;
  cost?: number;
}

/** What an upstream said went wrong, as far as it is kept. */
const ERROR_WORDS = 500;

function wordsOf(error: unknown): string {
  const said = isJsonObject(error) ? error.message : error;
  return (typeof said === 'string' ? said : JSON.stringify(error)).slice(0, ERROR_WORDS);
}

/** A JSON answer held for reading at its end, at most this long; a stream's event in progress too. */
const READ_LIMIT = 4 * 1024 * 1024;

/**
 * The counts of a `usage` object, when both are whole numbers; an embedding's names the prompt alone, with a
 * total that equals it.
 */
function countsOf(usage: unknown): Counts | undefined {
  if (typeof usage !== 'object' || usage === null) return undefined;
  const {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: total,
  } = usage as Record<string, unknown>;
  if (!Number.isSafeInteger(prompt)) return undefined;
  const { cost } = usage as Record<string, unknown>;
  const charged = typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? { cost } : {};
  if (Number.isSafeInteger(completion))
    return { prompt_tokens: prompt as number, completion_tokens: completion as number, ...charged };
  return completion === undefined && total === prompt
    ? { prompt_tokens: prompt as number, completion_tokens: 0, ...charged }
    : undefined;
}

/** An event stream: each event's data parsed as it completes; usage comes in the last one. */
class EventObserver implements ResponseObserver {
  private readonly decoder = new TextDecoder();
  private readonly parser: EventSourceParser;
  /** An event (or line) longer than the limit is dropped, not held: the parser stops, and starts afresh. */
  private overflowed = false;

  constructor(take: (data: string) => void) {
    this.parser = createParser({
      onEvent: (event) => take(event.data),
      maxBufferSize: READ_LIMIT,
      onError: () => (this.overflowed = true),
    });
  }

  onData(chunk: Buffer): void {
    this.feed(this.decoder.decode(chunk, { stream: true }));
  }

  onEnd(): void {
    this.feed(this.decoder.decode());
    // The last event may end without its blank line.
    this.parser.reset({ consume: true });
  }

  private feed(text: string): void {
    if (this.overflowed) this.parser.reset();
    this.overflowed = false;
    this.parser.feed(text);
  }
}

export class UsageReader {
  private reported: Counts | undefined;
  /** What the upstream said went wrong, when the answer carries an error. */
  private error: string | undefined;
  /** The answer's text so far, as an estimate's weight (`estimate.ts`). */
  private completionWeight = 0;
  private writtenAt: number | undefined;
  private readonly readAsItComes: boolean;
  readonly observer: ResponseObserver;

  constructor(answer: { kind: 'sse' | 'json'; contentEncoding: string | undefined }) {
    this.readAsItComes = isUnencoded(answer.contentEncoding);
    const observer =
      answer.kind === 'sse' ? new EventObserver((data) => this.take(data, 'delta')) : this.answerObserver();
    // A compressed answer (an upstream that ignored `accept-encoding: identity`) is read decoded, at its end.
    this.observer = decodingObserver(answer.contentEncoding, observer, { limit: READ_LIMIT });
  }

  /** A JSON answer: parsed whole at its end (a client that left mid-way leaves it to the estimate). */
  private answerObserver(): ResponseObserver {
    const chunks: Buffer[] = [];
    let size = 0;
    return {
      onData(chunk) {
        size += chunk.length;
        if (size <= READ_LIMIT) chunks.push(chunk);
      },
      onEnd: () => {
        if (size <= READ_LIMIT) this.take(Buffer.concat(chunks, size).toString('utf8'), 'message');
      },
    };
  }

  private take(text: string, part: 'delta' | 'message'): void {
    if (text === '[DONE]') return;
    const json = parseJsonObject(text) as AnswerJson | undefined;
    if (!json) return;
    if (json.error !== undefined && json.error !== null) this.error ??= wordsOf(json.error);
    this.reported = countsOf(json.usage) ?? this.reported;
    if (this.reported || !Array.isArray(json.choices)) return;
    for (const choice of json.choices) {
      const written = choice?.[part];
      this.count(written?.content);
      this.count(written?.reasoning);
      this.count(written?.reasoning_content);
      if (!Array.isArray(written?.tool_calls)) continue;
      for (const call of written.tool_calls) {
        this.count(call?.function?.name);
        this.count(call?.function?.arguments);
      }
    }
  }

  private count(text: unknown): void {
    if (typeof text !== 'string' || text === '') return;
    this.completionWeight += textWeight(text);
    if (this.readAsItComes) this.writtenAt ??= performance.now();
  }

  /**
   * When (`performance.now()`) the model's first written token went by: a stream's first bytes may be a
   * comment or a chunk with nothing written (OpenRouter's `: OPENROUTER PROCESSING` while its provider thinks).
   * Not known for a compressed answer: it is read at its end.
   */
  get firstWrittenAt(): number | undefined {
    return this.writtenAt;
  }

  /**
   * The upstream's words when it answered with an error in place of an answer and wrote nothing: a failed
   * call, not a delivery. OpenRouter, once it has answered 200, tells of a provider's failure so: in the JSON
   * answer, or in an event of the stream.
   */
  failure(): string | undefined {
    if (this.error === undefined || this.completionWeight > 0) return undefined;
    return (this.reported?.completion_tokens ?? 0) > 0 ? undefined : this.error;
  }

  /** The upstream's own usage when it sent it; otherwise an estimate, marked as such. */
  usage(promptEstimate: number): Usage {
    const r = this.reported;
    if (r)
      return {
        promptTokens: r.prompt_tokens,
        completionTokens: r.completion_tokens,
        estimated: false,
        ...(r.cost !== undefined ? { upstreamCostUsd: r.cost } : {}),
      };
    return {
      promptTokens: promptEstimate,
      completionTokens: tokensOf(this.completionWeight),
      estimated: true,
    };
  }
}
