/**
 * The proxy path as small named passes around http-proxy-3, the proxy engine (after its own `passes/`),
 * each testable alone:
 *   prepareHeaders → sendAttempt here, then writeHead → pipeBody (respond.ts)
 * The engine makes the upstream call and stops it when the client leaves; the passes decide its headers,
 * retry on another target before the first byte, and hand the answer to the plugins' observers.
 */
import {
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import type { AttemptFailure, UpstreamRequest, UpstreamTarget } from '../plugin.ts';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and client credentials that must never travel upstream. */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'host',
  // A client's promise of trailers the upstream request will never carry (http-proxy-3 drops it too:
  // node-http-proxy#1647).
  'trailer',
  // A browser's cookies of the gateway's site (no upstream API reads them; a third party must not).
  'cookie',
]);

/**
 * Pass 1: the upstream request headers: client headers minus hop-by-hop and the client's host, plus plugin
 * and target overrides. Merged in a fresh object; the client's own headers stay as they came.
 */
export function prepareHeaders(
  req: IncomingMessage,
  options: {
    upstream: UpstreamRequest;
    target: UpstreamTarget;
    body: Buffer | undefined;
    requestId: string;
    /** Who asked, as far as the gateway can tell: the client's address, scheme and host. */
    forwarded: { for: string; proto: string; host: string | undefined };
  },
): IncomingHttpHeaders {
  const { headers: overrides } = options.upstream;
  const source = req.headers;
  const headers: IncomingHttpHeaders = {};
  for (const name in source) {
    if (!NOT_FORWARDED.has(name) && !(name in overrides)) headers[name] = source[name];
  }
  for (const name in overrides) {
    const value = overrides[name];
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const targetHeaders = options.target.headers;
  if (targetHeaders) for (const name in targetHeaders) headers[name.toLowerCase()] = targetHeaders[name];
  if (options.body) headers['content-length'] = String(options.body.length);
  headers['x-request-id'] = options.requestId;
  const { forwarded } = options;
  headers['x-forwarded-for'] = forwarded.for;
  headers['x-forwarded-proto'] = forwarded.proto;
  headers['x-forwarded-host'] = forwarded.host;
  // The upstream's own host, with its port when the URL names one.
  headers.host = options.target.url.host;
  // The gateway's connection to the upstream, kept for the next request whatever the client said of its own.
  headers.connection = 'keep-alive';
  return headers;
}

export type AttemptOutcome =
  | { kind: 'response'; response: IncomingMessage }
  | { kind: 'failure'; failure: AttemptFailure; error: Error };

const agents = new Map<string, HttpAgent>();

/** How long an upstream connection may sit idle when a target says nothing: under Node's own 5 s. */
export const DEFAULT_IDLE_TIMEOUT_MS = 4000;

/**
 * One keep-alive agent per upstream origin (and idle time), so connections are reused across requests. An
 * idle connection is closed after `idleMs`, before the upstream would close it on its own clock: a request
 * then never meets a connection that is closing under it, which it could not safely be sent again on.
 */
export function agentFor(url: URL, idleMs: number = DEFAULT_IDLE_TIMEOUT_MS): HttpAgent {
  const name = `${url.origin} ${idleMs}`;
  let agent = agents.get(name);
  if (!agent) {
    // Node's agent sets `timeout` on every connection it keeps free, and destroys one that stays idle.
    const options = { keepAlive: true, timeout: idleMs };
    agent = url.protocol === 'https:' ? new HttpsAgent(options) : new HttpAgent(options);
    agents.set(name, agent);
  }
  return agent;
}

export function destroyAgents(): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

/** The engine: one for every request, each attempt giving it its own target, agent and headers. */
const engine = createProxyServer({ ignorePath: true, selfHandleResponse: true });

/** What one attempt tells the engine beyond its options (found again by its request in the engine's events). */
interface Attempt {
  headers: IncomingHttpHeaders;
  onResponse(response: IncomingMessage): void;
}

const attempts = new WeakMap<IncomingMessage, Attempt>();

// The engine copies the client's headers; the attempt's own set replaces them before any is sent (most
// are the client's, unchanged, and are left as the engine set them).
engine.on('proxyReq', (proxyReq, req) => {
  const attempt = attempts.get(req);
  if (!attempt) return;
  const { headers } = attempt;
  for (const name of proxyReq.getHeaderNames()) if (!(name in headers)) proxyReq.removeHeader(name);
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && proxyReq.getHeader(name) !== value) proxyReq.setHeader(name, value);
  }
});
engine.on('proxyRes', (response, req) => attempts.get(req)?.onResponse(response));

/**
 * Pass 2: one attempt against one target. Resolves when response headers arrive or the attempt fails; a
 * silence of the target's time-out (before the headers or between body chunks) destroys the upstream
 * request and reports `timeout`; a client that leaves destroys it too. A request is sent once: an upstream
 * that may have read it is never sent it again (idle connections are retired early instead, `agentFor`).
 */
export function sendAttempt(
  req: IncomingMessage,
  res: ServerResponse,
  options: {
    target: UpstreamTarget;
    /** From `prepareHeaders`. */
    headers: IncomingHttpHeaders;
    /** The body as read, or `undefined` to pipe it from the client as it comes. */
    body: Buffer | undefined;
    defaultTimeoutMs: number;
    /** Registers the one callback to run if the client leaves during the attempt. */
    onClientAbort: (callback: (() => void) | undefined) => void;
  },
): Promise<AttemptOutcome> {
  // The closures below live as long as the upstream request: they capture only what they use (never the
  // headers or the body, which would then live as long too), so the engine is called out here.
  const { target, onClientAbort } = options;
  const timeoutMs = target.timeoutMs ?? options.defaultTimeoutMs;
  let resolve!: (outcome: AttemptOutcome) => void;
  const outcome = new Promise<AttemptOutcome>((r) => (resolve = r));
  let settled = false;
  const settle = (result: AttemptOutcome) => {
    if (settled) return;
    settled = true;
    attempts.delete(req);
    onClientAbort(undefined);
    resolve(result);
  };
  const started = performance.now();
  attempts.set(req, {
    headers: options.headers,
    onResponse: (response) => settle({ kind: 'response', response }),
  });
  onClientAbort(() => settle({ kind: 'failure', failure: 'reset', error: new Error('client went away') }));
  const engineOptions = {
    target: target.url,
    agent: agentFor(target.url, target.idleTimeoutMs),
    proxyTimeout: timeoutMs,
    ...(options.body === undefined ? {} : { buffer: bodyStream(options.body) }),
  };
  engine.web(req, res, engineOptions, (error) => {
    const code = (error as NodeJS.ErrnoException).code;
    // A time-out destroys the request, which surfaces as a reset: the elapsed time tells them apart.
    const timedOut = performance.now() - started >= timeoutMs - 1;
    const failure: AttemptFailure = timedOut ? 'timeout' : isConnectError(code) ? 'connect' : 'reset';
    settle({ kind: 'failure', failure, error });
  });
  return outcome;
}

/**
 * A body read already, as the stream the engine pipes upstream. It is given out when first read, as the
 * engine's pipe starts flowing: by then the attempt's headers are in place (`proxyReq`).
 */
function bodyStream(body: Buffer): Readable {
  // Handed over once: the stream outlives the sending (the engine keeps it with the attempt), the body need not.
  let unsent: Buffer | undefined = body;
  return new Readable({
    read() {
      if (unsent) this.push(unsent);
      unsent = undefined;
      this.push(null);
    },
  });
}

function isConnectError(code: string | undefined): boolean {
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH';
}
