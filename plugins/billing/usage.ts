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

/** About four characters per token: the usual rule of thumb for estimates. */
export const estimateTokens = (chars: number) => Math.ceil(chars / 4);

export class UsageReader {
  reported: { prompt_tokens?: number; completion_tokens?: number } | undefined;
  completionChars = 0;
  readonly observer: ResponseObserver;

  constructor(kind: 'sse' | 'json') {
    this.observer =
      kind === 'sse'
        ? sseObserver((data) => {
            if (data === '[DONE]') return;
            try {
              this.take(JSON.parse(data) as UsageJson, 'delta');
            } catch {
              // not JSON: nothing to read
            }
          })
        : jsonMembersObserver(['usage', 'choices'], { limit: 4 * 1024 * 1024 }, (members) =>
            this.takeMembers(members),
          );
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
