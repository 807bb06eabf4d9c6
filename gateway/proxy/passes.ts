/**
 * The proxy path as small named passes (after http-proxy-3's own `passes/`), each testable alone:
 *   prepareHeaders → sendAttempt (http-proxy-3) → writeHead → pipeBody
 */
import { Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import type { AttemptFailure, ResponseObserver, UpstreamRequest, UpstreamTarget } from '../plugin.ts';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and client credentials that must never travel upstream. */
const NOT_FORWARDED = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'host',
];
const NOT_RETURNED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

/** Pass 1: the upstream request headers: client headers minus hop-by-hop, plus plugin and target overrides. */
export function prepareHeaders(
  req: IncomingMessage,
  options: { upstream: UpstreamRequest; target: UpstreamTarget; body: Buffer; requestId: string },
): void {
  const headers = req.headers;
  for (const name of NOT_FORWARDED) delete headers[name];
  for (const [name, value] of Object.entries(options.upstream.headers)) {
    if (value === undefined) delete headers[name.toLowerCase()];
    else headers[name.toLowerCase()] = value;
  }
  for (const [name, value] of Object.entries(options.target.headers ?? {}))
    headers[name.toLowerCase()] = value;
  headers['content-length'] = String(options.body.length);
  headers['x-request-id'] = options.requestId;
}

export type AttemptOutcome =
  | { kind: 'response'; response: IncomingMessage }
  | { kind: 'failure'; failure: AttemptFailure; error: Error };

const agents = new Map<string, HttpAgent>();

/** One keep-alive agent per upstream origin, so connections are reused across requests. */
export function agentFor(url: URL): HttpAgent {
  let agent = agents.get(url.origin);
  if (!agent) {
    const options = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
    agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    agents.set(url.origin, agent);
  }
  return agent;
}

export function destroyAgents(): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

/**
 * Pass 2: one attempt against one target through http-proxy-3. Resolves when response headers arrive or
 * the attempt fails; a time-out before the headers destroys the upstream request and reports `timeout`.
 */
export function sendAttempt(
  proxy: ProxyServer,
  req: IncomingMessage,
  res: ServerResponse,
  options: { target: UpstreamTarget; body: Buffer; defaultTimeoutMs: number; signal: AbortSignal },
): Promise<AttemptOutcome> {
  const { target, body } = options;
  return new Promise((resolve) => {
    let settled = false;
    let upstreamRequest: { destroy(): void } | undefined;
    let timedOut = false;
    const settle = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      pending.delete(req);
      resolve(outcome);
    };
    // http-proxy-3 swallows the upstream error it causes itself when the client leaves; end the attempt here.
    const onAbort = () => settle({ kind: 'failure', failure: 'reset', error: new Error('client went away') });
    options.signal.addEventListener('abort', onAbort);
    const timer = setTimeout(() => {
      timedOut = true;
      upstreamRequest?.destroy();
      settle({ kind: 'failure', failure: 'timeout', error: new Error('upstream timed out') });
    }, target.timeoutMs ?? options.defaultTimeoutMs);
    pending.set(req, {
      onRequest: (request) => (upstreamRequest = request),
      onResponse: (response) => settle({ kind: 'response', response }),
    });
    const source = new Readable({ read() {} });
    source.push(body);
    source.push(null);
    proxy.web(req, res, { target: target.url, agent: agentFor(target.url), buffer: source }, (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      const failure: AttemptFailure = timedOut ? 'timeout' : isConnectError(code) ? 'connect' : 'reset';
      settle({ kind: 'failure', failure, error });
    });
  });
}

interface PendingAttempt {
  onRequest(request: { destroy(): void }): void;
  onResponse(response: IncomingMessage): void;
}

/** http-proxy-3 reports requests and responses on the proxy object; this routes them to their attempt. */
const pending = new WeakMap<IncomingMessage, PendingAttempt>();

export function routeProxyEvents(proxy: ProxyServer): void {
  proxy.on('proxyReq', (proxyReq, req) => pending.get(req)?.onRequest(proxyReq));
  proxy.on('proxyRes', (proxyRes, req) => pending.get(req)?.onResponse(proxyRes));
}

function isConnectError(code: string | undefined): boolean {
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH';
}

/** Pass 3: status and headers to the client, minus hop-by-hop, plus the gateway's own response headers. */
export function writeHead(
  res: ServerResponse,
  response: IncomingMessage,
  extra: Record<string, string>,
): void {
  const raw = response.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!NOT_RETURNED.has(name.toLowerCase())) res.appendHeader(name, raw[i + 1]!);
  }
  for (const [name, value] of Object.entries(extra)) res.setHeader(name, value);
  res.writeHead(response.statusCode ?? 502);
  // Server-sent events must leave at once; the first chunk should not wait for the body to start.
  res.flushHeaders();
}

/**
 * Pass 4: the body, chunk by chunk as it arrives (no buffering); observers see each chunk on the way.
 * Resolves `complete: false` when either side went away before the end.
 */
export function pipeBody(
  response: IncomingMessage,
  res: ServerResponse,
  options: { observers: readonly ResponseObserver[]; idleTimeoutMs: number },
): Promise<{ complete: boolean }> {
  const { observers } = options;
  return new Promise((resolve) => {
    let done = false;
    const finish = (complete: boolean) => {
      if (done) return;
      done = true;
      for (const observer of observers) observer.onEnd?.({ complete });
      resolve({ complete });
    };
    if (observers.length > 0) {
      response.on('data', (chunk: Buffer) => {
        for (const observer of observers) observer.onData(chunk);
      });
    }
    response.setTimeout(options.idleTimeoutMs, () => response.destroy(new Error('upstream idle time-out')));
    response.on('error', () => undefined);
    response.on('close', () => {
      if (!response.complete) {
        res.destroy();
        finish(false);
      }
    });
    res.on('close', () => finish(response.complete && res.writableFinished));
    response.pipe(res);
  });
}
