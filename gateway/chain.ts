import type { Context } from './context.ts';
import type { Answer, Outcome, PluginInstance, UpstreamRequest, UpstreamResponse } from './plugin.ts';

export interface ChainLink {
  /** Plugin name, for logs. */
  name: string;
  instance: PluginInstance;
}

export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
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

  /**
   * The phases below stay synchronous while the plugins are: a promise (and a turn of the event loop)
   * only when a plugin returns one. Callers await the result only when it is a promise.
   */
  onRequest(ctx: Context): Answer | void | Promise<Answer | void> {
    const links = this.requestLinks;
    for (let i = 0; i < links.length; i++) {
      const result = links[i]!.instance.onRequest!(ctx);
      if (isPromise(result)) return this.requestFrom(ctx, result, i + 1);
      if (result) return result;
    }
  }

  private async requestFrom(ctx: Context, pending: Promise<Answer | void>, next: number) {
    const links = this.requestLinks;
    let answer = await pending;
    for (let i = next; !answer && i < links.length; i++) {
      const result = links[i]!.instance.onRequest!(ctx);
      answer = isPromise(result) ? await result : result;
    }
    return answer;
  }

  onUpstream(ctx: Context, upstream: UpstreamRequest): void | Promise<void> {
    const links = this.upstreamLinks;
    for (let i = 0; i < links.length; i++) {
      const result = links[i]!.instance.onUpstream!(ctx, upstream);
      if (isPromise(result)) return this.upstreamFrom(ctx, upstream, result, i + 1);
    }
  }

  private async upstreamFrom(ctx: Context, upstream: UpstreamRequest, pending: Promise<void>, next: number) {
    await pending;
    const links = this.upstreamLinks;
    for (let i = next; i < links.length; i++) {
      const result = links[i]!.instance.onUpstream!(ctx, upstream);
      if (isPromise(result)) await result;
    }
  }

  onResponse(ctx: Context, response: UpstreamResponse): void {
    for (const { instance } of this.responseLinks) instance.onResponse!(ctx, response);
  }

  /** Every plugin's onFinish runs, even when an earlier one throws; failures are logged, never sent. */
  onFinish(ctx: Context, outcome: Outcome): void | Promise<void> {
    const links = this.finishLinks;
    for (let i = 0; i < links.length; i++) {
      const result = this.finishOne(ctx, outcome, links[i]!);
      if (result) return this.finishFrom(ctx, outcome, result, i + 1);
    }
  }

  private async finishFrom(ctx: Context, outcome: Outcome, pending: Promise<void>, next: number) {
    await pending;
    const links = this.finishLinks;
    for (let i = next; i < links.length; i++) await this.finishOne(ctx, outcome, links[i]!);
  }

  /** One plugin's onFinish; a promise only when the plugin returned one. Never throws or rejects. */
  private finishOne(ctx: Context, outcome: Outcome, { name, instance }: ChainLink): Promise<void> | undefined {
    const failed = (error: unknown) => ctx.log.error({ err: error, plugin: name }, 'onFinish failed');
    try {
      const result = instance.onFinish!(ctx, outcome);
      return isPromise(result) ? result.catch(failed) : undefined;
    } catch (error) {
      failed(error);
      return undefined;
    }
  }

  async close(): Promise<void> {
    for (const { instance } of this.links) await instance.close?.();
  }
}
