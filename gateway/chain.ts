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

  onRequest(ctx: Context): Answer | void | Promise<Answer | void> {
    const links = this.requestLinks;
    return inOrder<Answer>(links.length, (i) => links[i]!.instance.onRequest!(ctx));
  }

  onUpstream(ctx: Context, upstream: UpstreamRequest): void | Promise<void> {
    const links = this.upstreamLinks;
    return inOrder<never>(links.length, (i) => links[i]!.instance.onUpstream!(ctx, upstream));
  }

  onResponse(ctx: Context, response: UpstreamResponse): void {
    for (const { instance } of this.responseLinks) instance.onResponse!(ctx, response);
  }

  /** Every plugin's onFinish runs, even when an earlier one throws; failures are logged, never sent. */
  onFinish(ctx: Context, outcome: Outcome): void | Promise<void> {
    const links = this.finishLinks;
    return inOrder<never>(links.length, (i) => finishOne(ctx, outcome, links[i]!));
  }

  async close(): Promise<void> {
    for (const { instance } of this.links) await instance.close?.();
  }
}

/**
 * Runs `step(0)`, `step(1)`, … in order and stops at the first truthy result, which it returns. It stays
 * synchronous while the steps are: a promise (and a turn of the event loop) only once a step returns one.
 */
function inOrder<T>(
  count: number,
  step: (i: number) => T | void | Promise<T | void>,
): T | void | Promise<T | void> {
  for (let i = 0; i < count; i++) {
    const result = step(i);
    if (isPromise(result)) return inOrderFrom(count, step, result, i + 1);
    if (result) return result;
  }
}

async function inOrderFrom<T>(
  count: number,
  step: (i: number) => T | void | Promise<T | void>,
  pending: Promise<T | void>,
  next: number,
): Promise<T | void> {
  let result: T | void = await pending;
  for (let i = next; !result && i < count; i++) {
    const current = step(i);
    result = isPromise(current) ? await current : current;
  }
  return result;
}

/** One plugin's onFinish; a promise only when the plugin returned one. Never throws or rejects. */
function finishOne(ctx: Context, outcome: Outcome, { name, instance }: ChainLink): Promise<void> | undefined {
  const failed = (error: unknown) => ctx.log.error({ err: error, plugin: name }, 'onFinish failed');
  try {
    const result = instance.onFinish!(ctx, outcome);
    return isPromise(result) ? result.catch(failed) : undefined;
  } catch (error) {
    failed(error);
    return undefined;
  }
}
