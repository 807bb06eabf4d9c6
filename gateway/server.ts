/** The request lifecycle: route → context → chain (answer or proxy) → error → onFinish, exactly once. */
import { randomUUID } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { CompiledRoute, Runtime } from './config/build.ts';
import { Context } from './context.ts';
import { sendAnswer, sendError } from './answer.ts';
import { GatewayError, toGatewayError, type ErrorFormat, type ErrorMapper } from './errors.ts';
import type { AccessLog } from './log.ts';
import type { Metrics } from './metrics.ts';
import type { Outcome, UpstreamRequest } from './plugin.ts';
import { CLIENT_CLOSED, Proxy } from './proxy/proxy.ts';
import { destroyAgents } from './proxy/passes.ts';
import { BodyBudget, checkDeclaredLength } from './body.ts';
import type { LookupResult } from './router.ts';

export interface GatewayOptions {
  runtime: Runtime;
  log: Logger;
  /** Where the per-request access lines go (see log.ts). */
  accessLog: AccessLog;
  metrics: Metrics;
  /** Upstream time-out when a target sets none. */
  upstreamTimeoutMs?: number;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

const CLIENT_LEFT = new GatewayError(CLIENT_CLOSED, 'CLIENT_CLOSED', 'client closed the request');

/** How long requests cut at shutdown may take to finish (settle, record) before the store closes anyway. */
const FINISH_TIMEOUT_MS = 15_000;

/**
 * A connection quiet for the send time-out while a request is answered: cut when part of its answer waits for
 * a client that takes none of it; left alone while the gateway itself waits (on an upstream that thinks).
 */
function cutIfAnswerStalled(socket: Socket): void {
  if (socket.writableLength > 0) socket.destroy();
}

/**
 * A path no route has answers in the shape its neighbours would: a route's own format when only the method
 * was wrong, OpenAI's under `/v1/`, where OpenAI clients are the callers.
 */
function unroutedErrorFormat(path: string, lookup: LookupResult<CompiledRoute>): ErrorFormat {
  if (lookup.kind === 'method-not-allowed') return lookup.sameRoute.value.errorFormat;
  return path === '/v1' || path.startsWith('/v1/') ? 'openai' : 'cradle';
}

export class Gateway {
  readonly server: Server;
  private runtime: Runtime;
  private readonly proxy: Proxy;
  private readonly bodyBudget: BodyBudget;
  private readonly inFlight = new Map<Runtime, number>();
  private readonly retired = new Set<Runtime>();
  private draining = false;
  private drained: (() => void) | undefined;

  constructor(private readonly options: GatewayOptions) {
    this.runtime = options.runtime;
    this.proxy = new Proxy({
      metrics: options.metrics,
      defaultTimeoutMs: options.upstreamTimeoutMs ?? 120_000,
    });
    const limits = options.runtime.config.server;
    this.bodyBudget = new BodyBudget(limits.max_buffered_body_bytes);
    this.server = createServer(
      {
        keepAliveTimeout: limits.keep_alive_timeout_ms,
        headersTimeout: limits.headers_timeout_ms,
        // Node counts this from the request's start, its headers included.
        requestTimeout: Math.max(limits.body_timeout_ms, limits.headers_timeout_ms),
        // How often those time-outs are looked at: Node's default lets a slow client stay 30 s longer.
        connectionsCheckingInterval: 1000,
      },
      (req, res) => void this.handle(req, res),
    );
    this.server.maxConnections = limits.max_connections;
    // Node counts it from a connection's last read or write; see `cutIfAnswerStalled` for what it ends.
    this.server.timeout = limits.send_timeout_ms;
  }

  /** Swaps in a new runtime; the old one closes once the requests that started on it have finished. */
  swap(next: Runtime): void {
    const previous = this.runtime;
    this.runtime = next;
    this.retired.add(previous);
    this.closeIfIdle(previous);
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    return this.server.address() as AddressInfo;
  }

  /**
   * Stops accepting and lets in-flight requests finish (up to `timeoutMs`); then cuts the rest, waits for
   * their onFinish (a cut request settles on what was delivered), and only then closes the runtime and the
   * resources its plugins share (the store among them).
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await this.idle(timeoutMs);
    this.server.closeAllConnections();
    if (!(await this.idle(FINISH_TIMEOUT_MS)))
      this.options.log.error({ requests: this.totalInFlight() }, 'requests still finishing at shutdown');
    await closed;
    for (const runtime of [this.runtime, ...this.retired]) await runtime.close();
    destroyAgents();
  }

  /** Resolves true once no request is in flight, or false after `ms`. */
  private idle(ms: number): Promise<boolean> {
    if (this.totalInFlight() === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.drained = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const runtime = this.runtime;
    this.inFlight.set(runtime, (this.inFlight.get(runtime) ?? 0) + 1);
    if (this.draining) res.setHeader('connection', 'close');
    res.on('timeout', cutIfAnswerStalled);
    const header = req.headers['x-request-id'];
    const id = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    try {
      await this.run(runtime, req, res, id);
    } finally {
      this.release(runtime);
    }
  }

  private async run(runtime: Runtime, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const routed = this.routed(runtime, req, res, id);
    if (!routed) return;
    const { route, ctx } = routed;
    const ended = await this.execute(ctx, route, runtime.errorMappers);
    // The answer is complete: its duration ends here, and the bookkeeping (plugins' onFinish, metrics, access
    // log) waits until the I/O ready now is handled, so other requests' next bytes do not queue behind it.
    const ms = ctx.elapsedMs;
    const outcome: Outcome = { ...ended, durationMs: ms };
    await setImmediate();
    await route.chain.onFinish(ctx, outcome);
    ctx.releaseBody();
    this.record(route.name, outcome.status || CLIENT_CLOSED, ms);
    if (runtime.config.logging.access_log) {
      this.options.accessLog.write({
        reqId: id,
        route: route.name,
        status: outcome.status,
        ms: Math.round(ms * 10) / 10,
        result: outcome.result,
      });
    }
  }

  /** The request's route and context; or, when no route takes it, its 404 or 405 answered and undefined. */
  private routed(
    runtime: Runtime,
    req: IncomingMessage,
    res: ServerResponse,
    id: string,
  ): { route: CompiledRoute; ctx: Context } | undefined {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const lookup = runtime.router.lookup(method, path);
    let route: CompiledRoute;
    let params: Record<string, string>;
    if (lookup.kind === 'found' || (lookup.kind === 'method-not-allowed' && method === 'OPTIONS')) {
      ({ value: route, params } = lookup.kind === 'found' ? lookup.match : lookup.sameRoute);
    } else {
      const error =
        lookup.kind === 'not-found'
          ? new GatewayError(404, 'NOT_FOUND', `no route for ${method} ${path}`, {
              type: 'invalid_request_error',
            })
          : new GatewayError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, {
              headers: { allow: lookup.allowed.join(', ') },
            });
      req.resume();
      res.setHeader('x-request-id', id);
      sendError(res, error, unroutedErrorFormat(path, lookup));
      this.record('unrouted', error.status, 0);
      return undefined;
    }
    const { log } = this.options;
    const ctx = new Context({
      id,
      req,
      res,
      path,
      query: q === -1 ? '' : url.slice(q + 1),
      params,
      routeName: route.name,
      bodyLimit: route.bodyLimit,
      log,
      client: runtime.clientAddress(req),
      bodyBudget: this.bodyBudget,
    });
    res.once('close', () => {
      if (!res.writableFinished) ctx.markClientAborted();
    });
    return { route, ctx };
  }

  private async execute(
    ctx: Context,
    route: CompiledRoute,
    errorMappers: readonly ErrorMapper[],
  ): Promise<Omit<Outcome, 'durationMs'>> {
    const { chain } = route;
    try {
      checkDeclaredLength(ctx.req, ctx.bodyLimit);
      const answer = await chain.onRequest(ctx);
      if (answer) {
        sendAnswer(ctx, answer);
        return { status: ctx.res.statusCode, result: 'answered', clientAborted: ctx.clientAborted };
      }
      const sent = await this.proxy.forward(ctx, chain, await upstreamRequest(ctx, chain));
      return {
        status: sent.status,
        result: ctx.clientAborted ? 'aborted' : 'proxied',
        upstream: {
          status: sent.status,
          target: sent.target.name,
          complete: sent.complete,
          ...(sent.firstByteAt === undefined ? {} : { firstByteMs: sent.firstByteAt - ctx.startedAt }),
        },
        clientAborted: ctx.clientAborted,
      };
    } catch (thrown) {
      // A client that left (its body cut off, its socket closed) is how clients are, not a gateway fault.
      const left = ctx.clientAborted || Boolean(ctx.req.errored);
      const error = left ? CLIENT_LEFT : toGatewayError(thrown, errorMappers);
      if (error.status >= 500 && error.code === 'INTERNAL') ctx.log.error({ err: thrown }, 'request failed');
      else if (left) ctx.log.debug({ err: (thrown as Error).message }, 'client went away');
      if (!ctx.res.headersSent && !ctx.res.destroyed) sendError(ctx.res, error, route.errorFormat, ctx);
      else if (!ctx.res.writableEnded) ctx.res.destroy();
      const aborted = left;
      return {
        status: aborted && !ctx.res.headersSent ? 0 : ctx.res.statusCode,
        result: aborted ? 'aborted' : 'failed',
        error,
        clientAborted: aborted,
      };
    }
  }

  private record(route: string, status: number, ms: number): void {
    this.options.metrics.recordRequest(route, status, ms / 1000);
  }

  private release(runtime: Runtime): void {
    this.inFlight.set(runtime, (this.inFlight.get(runtime) ?? 1) - 1);
    this.closeIfIdle(runtime);
    if (this.draining && this.totalInFlight() === 0) this.drained?.();
  }

  private closeIfIdle(runtime: Runtime): void {
    if (!this.retired.has(runtime) || (this.inFlight.get(runtime) ?? 0) > 0) return;
    this.retired.delete(runtime);
    this.inFlight.delete(runtime);
    runtime
      .close()
      .catch((error: unknown) => this.options.log.error({ err: error }, 'closing old config failed'));
  }

  private totalInFlight(): number {
    let total = 0;
    for (const count of this.inFlight.values()) total += count;
    return total;
  }
}

/** The upstream request as the chain's plugins shape it (target, headers). */
async function upstreamRequest(ctx: Context, chain: CompiledRoute['chain']): Promise<UpstreamRequest> {
  const upstream: UpstreamRequest = { target: undefined, headers: {} };
  await chain.onUpstream(ctx, upstream);
  return upstream;
}
