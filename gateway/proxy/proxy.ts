/** Forwards one request upstream: attempts with retry on another target, then streams the response back. */
import type { Chain } from '../chain.ts';
import type { Context } from '../context.ts';
import { GatewayError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type {
  AttemptFailure,
  AttemptResult,
  ResponseObserver,
  ResponseRewriter,
  UpstreamRequest,
  UpstreamTarget,
} from '../plugin.ts';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { hasUndeclaredLength } from '../body.ts';
import { isWebPage } from '../content-type.ts';
import { prepareHeaders, sendAttempt } from './passes.ts';
import { pipeBody, writeHead } from './respond.ts';

export interface ProxyResult {
  status: number;
  target: UpstreamTarget;
  /** The whole upstream body reached the client. */
  complete: boolean;
  /** When (performance.now()) the first body bytes went to the client. */
  firstByteAt?: number;
}

/** The attempt whose answer reaches the client. */
interface Answered {
  target: UpstreamTarget;
  status: number;
  response: IncomingMessage;
}

export interface ProxyOptions {
  metrics: Metrics;
  /** Time the upstream may stay silent (before the headers or between body chunks) when a target sets none. */
  defaultTimeoutMs: number;
}

/**
 * Failures where the request provably never reached the upstream's work, so another target may be asked:
 * a refused connection, an error status (a Space pool member that is down or busy), a refusal of the
 * gateway's key, a web page in place of the API. A connection reset mid-request is not one: the upstream
 * may have read the request and be generating, and billing, its answer.
 */
const RETRYABLE_FAILURES = new Set<AttemptFailure>(['connect', 'status', 'refused', 'web-page']);

export const CLIENT_CLOSED = 499;

/**
 * A target that sends the gateway's own key (its Authorization) is refused by these for the gateway's sake,
 * not the client's: the key is wrong or revoked (401), or the account behind it is out of credit (402).
 * Passed on, they would tell the client that its own credentials or balance failed.
 */
const ACCOUNT_REFUSALS = new Set([401, 402]);

function refusesGateway(target: UpstreamTarget, status: number): boolean {
  if (!ACCOUNT_REFUSALS.has(status) || !target.headers) return false;
  return Object.keys(target.headers).some((name) => name.toLowerCase() === 'authorization');
}

/** How an answer failed, if it did: a refusal of the gateway, a web page, a status the route retries on. */
function failureOf(
  target: UpstreamTarget,
  response: IncomingMessage,
  retryStatuses: ReadonlySet<number> | undefined,
): AttemptFailure | undefined {
  const status = response.statusCode ?? 502;
  if (refusesGateway(target, status)) return 'refused';
  // No API read the request a web page answers, whatever its status: a CDN's, a proxy's or a sleeping Space's.
  if (isWebPage(response.headers['content-type'])) return 'web-page';
  return retryStatuses?.has(status) ? 'status' : undefined;
}

export class Proxy {
  constructor(private readonly options: ProxyOptions) {}

  async forward(ctx: Context, chain: Chain, upstream: UpstreamRequest): Promise<ProxyResult> {
    // Returned, not awaited: this frame is gone while the answer streams.
    return this.deliver(ctx, chain, await this.answer(ctx, upstream));
  }

  /**
   * Attempts, with retry on another target, until one answers with what reaches the client; its frame (and the
   * body it sent) is gone by the time that answer streams.
   */
  private async answer(ctx: Context, upstream: UpstreamRequest): Promise<Answered> {
    let target = upstream.target;
    if (!target) {
      throw new GatewayError(
        500,
        'NO_UPSTREAM',
        'this route has no upstream: its chain needs an upstream plugin',
      );
    }
    // A retry must send the body again, and a chunked body can only be held to the limit by reading it.
    if (upstream.retry || hasUndeclaredLength(ctx.req)) await ctx.body();
    const sending = { body: ctx.upstreamBody(), forwarded: forwardedOf(ctx) };
    for (let attempt = 1; ; attempt++) {
      const { result, response } = await this.attempt(ctx, upstream, { ...sending, target });
      const { failure } = result;
      if (failure) this.options.metrics.upstreamFailures.inc({ upstream: target.name, reason: failure });
      upstream.onAttempt?.(result);
      if (ctx.clientAborted) {
        response?.destroy();
        throw clientClosed();
      }
      const status = result.status ?? 502;
      if (response && !failure) {
        const meant = target.errorStatuses?.[status];
        if (meant) throw await refusalOf(response, { result, log: ctx.log, meant });
        return { target, status, response };
      }
      const next = failure && RETRYABLE_FAILURES.has(failure) ? upstream.retry?.(result, attempt) : undefined;
      if (next) {
        response?.resume();
        ctx.log.warn({ upstream: target.name, failure, next: next.name }, 'retrying on another upstream');
        target = next;
        continue;
      }
      // The last answer's own status, wait and words reach the client, as the upstream gave them.
      if (response) throw await refusalOf(response, { result, log: ctx.log });
      throw failureError(result);
    }
  }

  /** One attempt on one target: its result, and the upstream's answer when one came. */
  private async attempt(
    ctx: Context,
    upstream: UpstreamRequest,
    options: { target: UpstreamTarget; body: Buffer | undefined; forwarded: ReturnType<typeof forwardedOf> },
  ): Promise<{ result: AttemptResult; response?: IncomingMessage }> {
    const { target, forwarded } = options;
    const body = target.bodyFields ? ctx.upstreamBodyWith(target.bodyFields) : options.body;
    const headers = prepareHeaders(ctx.req, { upstream, target, body, requestId: ctx.id, forwarded });
    upstream.onAttemptStart?.(target);
    const started = performance.now();
    const outcome = await sendAttempt(ctx.req, ctx.res, {
      target,
      headers,
      body,
      defaultTimeoutMs: this.options.defaultTimeoutMs,
      onClientAbort: (callback) => ctx.onClientAbort(callback),
    });
    const durationMs = performance.now() - started;
    if (outcome.kind !== 'response') return { result: { target, failure: outcome.failure, durationMs } };
    const { response } = outcome;
    this.options.metrics.upstreamDuration.observe({ upstream: target.name }, durationMs / 1000);
    const failure = failureOf(target, response, upstream.retryStatuses);
    const status = response.statusCode ?? 502;
    return { response, result: { target, status, durationMs, ...(failure ? { failure } : {}) } };
  }

  private deliver(ctx: Context, chain: Chain, answered: Answered): Promise<ProxyResult> {
    const { target, status, response } = answered;
    const observers: ResponseObserver[] = [];
    const rewriters: ResponseRewriter[] = [];
    chain.onResponse(ctx, {
      status,
      headers: response.headers,
      target,
      observe: (o) => observers.push(o),
      rewrite: (r) => rewriters.push(r),
    });
    // No attempt follows the one answering: the plugins have seen the body, and it is let go.
    ctx.releaseBody();
    writeHead(ctx.res, response, { extra: ctx.responseHeaders, rewritten: rewriters.length > 0 });
    return pipeBody(response, ctx.res, { observers, rewriters }).then((piped) => ({
      status,
      target,
      ...piped,
    }));
  }
}

/**
 * Who asked: the client address the gateway resolved, and the scheme and host it was asked by. Those two
 * come from a proxy's X-Forwarded-Proto/-Host only when the address came through trusted proxies.
 */
function forwardedOf(ctx: Context): { for: string; proto: string; host: string | undefined } {
  const throughProxy = ctx.viaTrustedProxy;
  const encrypted = (ctx.req.socket as { encrypted?: boolean }).encrypted === true;
  return {
    for: ctx.clientIp,
    proto: (throughProxy ? ctx.header('x-forwarded-proto') : undefined) ?? (encrypted ? 'https' : 'http'),
    host: (throughProxy ? ctx.header('x-forwarded-host') : undefined) ?? ctx.header('host'),
  };
}

function clientClosed(): GatewayError {
  return new GatewayError(CLIENT_CLOSED, 'CLIENT_CLOSED', 'client closed the request');
}

/** Upstream error bodies are short; past this the rest is not read. */
const REFUSAL_BYTES = 16 * 1024;

/**
 * An upstream's error answer as the gateway's error: its status, `Retry-After` and message, or the status it
 * is `meant` as. A refusal of the gateway's own key or account is the operator's to read (logged), and a
 * failed upstream to the client.
 */
async function refusalOf(
  response: IncomingMessage,
  options: { result: AttemptResult; log: Logger; meant?: { status: number; code: string } },
): Promise<GatewayError> {
  const { target, failure } = options.result;
  const status = response.statusCode ?? 502;
  if (failure === 'web-page') {
    response.destroy();
    // The page is for a browser, and may name hosts behind the upstream: its status alone is told.
    const answered = status < 300 ? 'answered' : `answered ${status} with`;
    return new GatewayError(
      502,
      'UPSTREAM_ERROR',
      `upstream ${target.name} ${answered} a web page, not its API`,
    );
  }
  let text = '';
  try {
    for await (const chunk of response) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length >= REFUSAL_BYTES) break;
    }
  } catch {
    // A body cut off says no more than what came.
  }
  response.destroy();
  let message = text.trim().slice(0, 500);
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const said = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
    if (typeof said === 'string') message = said;
  } catch {
    // Not JSON: its text, as far as it goes.
  }
  const { meant } = options;
  if (meant)
    return new GatewayError(
      meant.status,
      meant.code,
      `upstream ${target.name} refused the request: ${message}`,
    );
  if (failure === 'refused') {
    options.log.error(
      { upstream: target.name, status, said: message },
      "an upstream refused the gateway's key",
    );
    return new GatewayError(502, 'UPSTREAM_ERROR', `upstream ${target.name} refused the gateway's account`);
  }
  const retryAfter = response.headers['retry-after'];
  return new GatewayError(
    status,
    status === 429 ? 'UPSTREAM_RATE_LIMITED' : 'UPSTREAM_ERROR',
    `upstream ${target.name} answered ${status}${message ? `: ${message}` : ''}`,
    typeof retryAfter === 'string' ? { headers: { 'retry-after': retryAfter } } : {},
  );
}

function failureError(result: AttemptResult): GatewayError {
  const name = result.target.name;
  switch (result.failure) {
    case 'timeout':
      return new GatewayError(504, 'UPSTREAM_TIMEOUT', `upstream ${name} did not answer in time`);
    case 'status':
      return new GatewayError(502, 'UPSTREAM_ERROR', `upstream ${name} answered ${result.status}`);
    case 'connect':
      return new GatewayError(502, 'UPSTREAM_UNREACHABLE', `upstream ${name} could not be reached`);
    default:
      return new GatewayError(502, 'UPSTREAM_ERROR', `upstream ${name} closed the connection`);
  }
}
