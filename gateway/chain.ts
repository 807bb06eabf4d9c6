import type { Context } from './context.ts';
import { contractCheck } from './input.ts';
import type { Answer, Outcome, PluginInstance, UpstreamRequest, UpstreamResponse } from './plugin.ts';

export interface ChainLink {
  /** Plugin name, for logs. */
  name: string;
  instance: PluginInstance;
}

/**
 * Runs one route's plugins phase by phase in declared order, visiting only the plugins that implement a
 * phase.
 */
export class Chain {
  private readonly requestLinks: (ChainLink & { check?: (ctx: Context) => Promise<void> })[];
  private readonly upstreamLinks: ChainLink[];
  private readonly responseLinks: ChainLink[];
  private readonly finishLinks: ChainLink[];

  constructor(readonly links: readonly ChainLink[]) {
    this.requestLinks = links
      .filter((l) => l.instance.onRequest)
      .map((l) => ({ ...l, check: l.instance.contract && contractCheck(l.instance.contract) }));
    this.upstreamLinks = links.filter((l) => l.instance.onUpstream);
    this.responseLinks = links.filter((l) => l.instance.onResponse);
    this.finishLinks = links.filter((l) => l.instance.onFinish);
  }

  async onRequest(ctx: Context): Promise<Answer | void> {
    for (const { instance, check } of this.requestLinks) {
      if (check) await check(ctx);
      const answer = await instance.onRequest!(ctx);
      if (answer) return answer;
    }
  }

  async onUpstream(ctx: Context, upstream: UpstreamRequest): Promise<void> {
    for (const { instance } of this.upstreamLinks) await instance.onUpstream!(ctx, upstream);
  }

  onResponse(ctx: Context, response: UpstreamResponse): void {
    for (const { instance } of this.responseLinks) instance.onResponse!(ctx, response);
  }

  /** Every plugin's onFinish runs, even when an earlier one throws; failures are logged, never sent. */
  async onFinish(ctx: Context, outcome: Outcome): Promise<void> {
    for (const { name, instance } of this.finishLinks) {
      try {
        await instance.onFinish!(ctx, outcome);
      } catch (error) {
        ctx.log.error({ err: error, plugin: name }, 'onFinish failed');
      }
    }
  }

  async close(): Promise<void> {
    for (const { instance } of this.links) await instance.close?.();
  }
}
