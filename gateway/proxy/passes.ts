/**
 * The proxy path as small named passes (after http-proxy-3's own `passes/`), each testable alone:
 *   prepareHeaders → sendAttempt (http-proxy-3) here, then writeHead → pipeBody (respond.ts)
 */
import {
  Agent as HttpAgent,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Stream, Writable } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { outgoingLength, type OutgoingBody } from '../body.ts';
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
]);

/**
 * Pass 1: the upstream request headers: client headers minus hop-by-hop and the client's host, plus plugin
 * and target overrides.
 * Built as a fresh object (never `delete` on the client's): http-proxy-3 copies it again per request, and a
 * deleted-from object falls into V8's slow dictionary mode.
 */
export function prepareHeaders(
  req: IncomingMessage,
  options: {
    upstream: UpstreamRequest;
    target: UpstreamTarget;
    body: OutgoingBody | undefined;
    requestId: string;
  },
): void {
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
  if (options.body) headers['content-length'] = String(outgoingLength(options.body));
  headers['x-request-id'] = options.requestId;
  // The upstream's own host (http-proxy-3's changeOrigin writes the same). Set here so http-proxy-3 assigns
  // a member its copy already has: adding one to a spread copy made V8 build a new hidden class and key list
  // in the old generation on every request (measured: 130 → 12 bytes a stream reaching the old generation).
  headers.host = options.target.url.host;
  req.headers = headers;
}

export type AttemptOutcome =
  | { kind: 'response'; response: IncomingMessage }
  | { kind: 'failure'; failure: AttemptFailure; error: Error };

const agents = new Map<string, HttpAgent>();

/**
 * One keep-alive agent per upstream origin, so connections are reused across requests. Only `keepAlive` is
 * given (Node's defaults are 256 free sockets, newest first): Node copies the agent's options into each
 * request's options, and two more of them made that copy outgrow its hash table (~1.6 KB a request).
 */
export function agentFor(url: URL): HttpAgent {
  let agent = agents.get(url.origin);
  if (!agent) {
    const options = { keepAlive: true };
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
 * A read body sent on a kept-alive connection that the upstream closes under it goes once more, on a new
 * connection: an upstream closes idle connections on its own clock, so one may close just as it is reused.
 */
export function sendAttempt(
  req: IncomingMessage,
  res: ServerResponse,
  options: {
    target: UpstreamTarget;
    body: OutgoingBody | undefined;
    defaultTimeoutMs: number;
    /** Registers the one callback to run if the client leaves during the attempt. */
    onClientAbort: (callback: (() => void) | undefined) => void;
  },
): Promise<AttemptOutcome> {
  const { target, body } = options;
  const timeoutMs = target.timeoutMs ?? options.defaultTimeoutMs;
  let started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      options.onClientAbort(undefined);
      pending.delete(req);
      resolve(outcome);
    };
    // http-proxy-3 swallows the upstream error it causes itself when the client leaves; end the attempt here.
    options.onClientAbort(() =>
      settle({ kind: 'failure', failure: 'reset', error: new Error('client went away') }),
    );
    const attempt: PendingAttempt = { respond: (response) => settle({ kind: 'response', response }) };
    pending.set(req, attempt);
    const send = (kind: ServerKind) => {
      started = performance.now();
      const { proxy, path } = proxyFor(target, { timeoutMs, kind });
      // The server sends req.url as the path (`toProxy`): the target's own path, so no URL is parsed a request.
      req.url = path;
      // http-proxy-3 pipes `options.buffer` into the upstream request synchronously inside web(): the fixed
      // source of this server takes the body from here. Options per call would cost a merge (and slower
      // request objects downstream, ~60 µs measured) on every request.
      nextBody = body;
      try {
        proxy.web(req, res, onError);
      } finally {
        nextBody = undefined;
      }
    };
    const onError = (error: Error) => {
      if (settled) return;
      const code = (error as NodeJS.ErrnoException).code;
      // proxyTimeout destroys the request, which surfaces as a reset: the elapsed time tells them apart.
      const timedOut = performance.now() - started >= timeoutMs - 1;
      const stale = attempt.upstream?.reusedSocket === true && CLOSED_UNDER_REQUEST.has(code ?? '');
      if (stale && !timedOut && body !== undefined) {
        attempt.upstream = undefined;
        return send('fresh');
      }
      const failure: AttemptFailure = timedOut ? 'timeout' : isConnectError(code) ? 'connect' : 'reset';
      settle({ kind: 'failure', failure, error });
    };
    send(body === undefined ? 'piped' : 'read');
  });
}

/** How a request fails on a connection the upstream closed under it. */
const CLOSED_UNDER_REQUEST = new Set(['ECONNRESET', 'EPIPE']);

/**
 * A body piped from the client, a body already read, or a read body resent on a connection of its own (no
 * pool, closed after its one request).
 */
type ServerKind = 'piped' | 'read' | 'fresh';

/** Per target: its path, and its server of each kind. */
const proxies = new WeakMap<UpstreamTarget, { path: string } & Partial<Record<ServerKind, ProxyServer>>>();

/**
 * One http-proxy-3 server per upstream target and body kind, options fixed at creation, as a bare proxy has
 * them. The request path is the target's, passed as req.url (`toProxy`, `prependPath: false`): with the
 * target path prepended to an ignored client path instead, http-proxy-3 parses two URLs a request.
 */
function proxyFor(
  target: UpstreamTarget,
  options: { timeoutMs: number; kind: ServerKind },
): { proxy: ProxyServer; path: string } {
  let servers = proxies.get(target);
  if (!servers) proxies.set(target, (servers = { path: `${target.url.pathname}${target.url.search}` }));
  const { kind } = options;
  let proxy = servers[kind];
  if (!proxy) {
    proxy = createProxyServer({
      target: target.url,
      agent: kind === 'fresh' ? false : agentFor(target.url),
      proxyTimeout: options.timeoutMs,
      prependPath: false,
      toProxy: true,
      changeOrigin: true,
      selfHandleResponse: true,
      xfwd: false,
      ...(kind === 'piped' ? {} : { buffer: readBodySource }),
    });
    proxy.on('proxyReq', (proxyReq, req) => {
      const attempt = pending.get(req);
      if (attempt) attempt.upstream = proxyReq;
    });
    proxy.on('proxyRes', (proxyRes, req) => pending.get(req)?.respond(proxyRes));
    servers[kind] = proxy;
  }
  return { proxy, path: servers.path };
}

/** The read body of the attempt being started; only set during a synchronous `proxy.web()` call. */
let nextBody: OutgoingBody | undefined;

/**
 * The already-read body where http-proxy-3 expects a stream: it only ever calls `buffer.pipe(upstreamRequest)`.
 * A real Readable here costs tens of microseconds a request for nothing.
 */
const readBodySource = {
  pipe(destination: Writable) {
    if (nextBody === undefined || Buffer.isBuffer(nextBody)) {
      destination.end(nextBody);
    } else {
      // Buffered until the request has its socket, then written with the headers in one go.
      const last = nextBody.length - 1;
      for (let i = 0; i < last; i++) destination.write(nextBody[i]);
      destination.end(nextBody[last]);
    }
    return destination;
  },
} as unknown as Stream;

interface PendingAttempt {
  respond: (response: IncomingMessage) => void;
  /** The upstream request, once it has a connection: was the connection kept alive from an earlier one? */
  upstream?: ClientRequest;
}

/** http-proxy-3 reports requests and responses on the proxy object; this routes them to their attempt. */
const pending = new WeakMap<IncomingMessage, PendingAttempt>();

function isConnectError(code: string | undefined): boolean {
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH';
}
