import type { Context } from './context.ts';
import type { Answer, Outcome, PluginInstance, UpstreamRequest, UpstreamResponse } from './plugin.ts';

export interface ChainLink {
  /** Plugin name, for logs. */
  name: string;
  instance: PluginInstance;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/**
 * Runs one route's plugins phase by phase in declared order. Phases are pre-filtered once at build time
 * so a request only visits plugins that implement a phase, and synchronous plugins cost no promise.
 */
export class Chain {
  private readonly requestLinks: ChainLink[];
  private readonly upstreamLinks: ChainLink[];
  private readonly responseLinks: ChainLink[];
  private readonly finishLinks: ChainLink[];

  constructor(readonly links: readonly ChainLink[]) {
    this.requestLinks = links.filter((l) => l.instance.onRequest);
    this.upstreamLinks = links.filter((l) => l.instance.onUpstream);
    this.responseLinks = links.filter((l) => l.instance.onResponse);
    this.finishLinks = links.filter((l) => l.instance.onFinish);
  }

  get hasRequestPhase(): boolean {
    return this.requestLinks.length > 0;
  }

  get hasUpstreamPhase(): boolean {
    return this.upstreamLinks.length > 0;
  }

  async onRequest(ctx: Context): Promise<Answer | void> {
    for (const { instance } of this.requestLinks) {
      const result = instance.onRequest!(ctx);
      const answer = isPromise(result) ? await result : result;
      if (answer) return answer;
    }
  }

  async onUpstream(ctx: Context, upstream: UpstreamRequest): Promise<void> {
    for (const { instance } of this.upstreamLinks) {
      const result = instance.onUpstream!(ctx, upstream);
      if (isPromise(result)) await result;
    }
  }

  onResponse(ctx: Context, response: UpstreamResponse): void {
    for (const { instance } of this.responseLinks) instance.onResponse!(ctx, response);
  }

  /** Every plugin's onFinish runs, even when an earlier one throws; failures are logged, never sent. */
  async onFinish(ctx: Context, outcome: Outcome): Promise<void> {
    for (const { name, instance } of this.finishLinks) {
      try {
        const result = instance.onFinish!(ctx, outcome);
        if (isPromise(result)) await result;
      } catch (error) {
        ctx.log.error({ err: error, plugin: name }, 'onFinish failed');
      }
    }
  }

  async close(): Promise<void> {
    for (const { instance } of this.links) await instance.close?.();
  }
}
