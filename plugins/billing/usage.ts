/** Reads token usage from an OpenAI-style response as it streams by, and estimates it when absent. */
import { jsonMembersObserver, sseObserver, type JsonMembers } from '../../gateway/proxy/observe.ts';
import type { ResponseObserver } from '../../gateway/plugin.ts';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
}

interface UsageJson {
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
  choices?: { delta?: { content?: unknown }; message?: { content?: unknown } }[];
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** How much of an answer is kept for reading usage: the JSON members, or the stream events not yet read. */
const READ_LIMIT = 4 * 1024 * 1024;

/** About four characters per token: the usual rule of thumb for estimates. */
export const estimateTokens = (chars: number) => Math.ceil(chars / 4);

export class UsageReader {
  reported: { prompt_tokens?: number; completion_tokens?: number } | undefined;
  completionChars = 0;
  readonly observer: ResponseObserver;

  /** Stream events kept unparsed until the end, in case usage never comes and they must be counted. */
  private unread: string[] = [];
  private unreadChars = 0;

  constructor(kind: 'sse' | 'json') {
    this.observer =
      kind === 'sse'
        ? sseObserver(
            (data) => this.takeEvent(data),
            () => this.countUnread(),
          )
        : jsonMembersObserver(['usage', 'choices'], { limit: READ_LIMIT }, (members) =>
            this.takeMembers(members),
          );
  }

  /**
   * A stream event: parsed at once only when it may hold usage. A raw `"usage"` cannot come from inside a
   * string (its quotes would be escaped), so every event that holds usage is parsed. The others wait:
   * their content is counted only if the stream ends without usage, or when too many wait.
   */
  private takeEvent(data: string): void {
    if (data === '[DONE]') return;
    if (data.includes('"usage"')) {
      this.takeEventJson(data);
      return;
    }
    this.unread.push(data);
    this.unreadChars += data.length;
    if (this.unreadChars > READ_LIMIT) this.countUnread();
  }

  private countUnread(): void {
    if (!this.hasReported()) for (const data of this.unread) this.takeEventJson(data);
    this.unread = [];
    this.unreadChars = 0;
  }

  private takeEventJson(data: string): void {
    const json = parseJson(data);
    if (json && typeof json === 'object') this.take(json as UsageJson, 'delta');
  }

  /** A JSON answer: its `usage` alone is parsed; `choices` only when usage is missing (for the estimate). */
  private takeMembers(members: JsonMembers): void {
    const usage = parseJson(members.text('usage')) as UsageJson['usage'];
    if (usage && typeof usage === 'object') this.reported = usage;
    if (this.hasReported()) return;
    const choices = parseJson(members.text('choices'));
    if (Array.isArray(choices)) this.take({ choices } as UsageJson, 'message');
  }

  private hasReported(): boolean {
    const r = this.reported;
    return !!r && Number.isInteger(r.prompt_tokens) && Number.isInteger(r.completion_tokens);
  }

  private take(json: UsageJson, part: 'delta' | 'message'): void {
    if (json.usage) this.reported = json.usage;
    for (const choice of json.choices ?? []) {
      const content = choice[part]?.content;
      if (typeof content === 'string') this.completionChars += content.length;
    }
  }

  /** The upstream's own usage when it sent it; otherwise an estimate, marked as such. */
  usage(promptEstimate: number): Usage {
    const r = this.reported;
    if (r && this.hasReported()) {
      return { promptTokens: r.prompt_tokens!, completionTokens: r.completion_tokens!, estimated: false };
    }
    return {
      promptTokens: promptEstimate,
      completionTokens: estimateTokens(this.completionChars),
      estimated: true,
    };
  }
}
