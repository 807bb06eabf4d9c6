/** Reads token usage from an OpenAI-style response as it streams by, and estimates it when absent. */
import { jsonObserver, sseObserver } from '../../gateway/proxy/observe.ts';
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
        : jsonObserver(4 * 1024 * 1024, (value) => {
            if (value && typeof value === 'object') this.take(value as UsageJson, 'message');
          });
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
    if (r && Number.isInteger(r.prompt_tokens) && Number.isInteger(r.completion_tokens)) {
      return { promptTokens: r.prompt_tokens!, completionTokens: r.completion_tokens!, estimated: false };
    }
    return {
      promptTokens: promptEstimate,
      completionTokens: estimateTokens(this.completionChars),
      estimated: true,
    };
  }
}
