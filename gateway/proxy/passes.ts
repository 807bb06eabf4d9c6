/**
 * The proxy path as small named passes (after http-proxy-3's own `passes/`), each testable alone:
 *   prepareHeaders → sendAttempt here, then writeHead → pipeBody (respond.ts)
 *
 * The upstream call is Node's own `http.request` with six options. Through http-proxy-3 (sessions 1–15),
 * each request had its ~17 outgoing options built and then copied three times by Node (`ClientRequest`,
 * `Agent.addRequest`), beside a copy of the proxy's options and its event plumbing: measured interleaved,
 * 0.671 → 0.722 × bare http-proxy-3 for the paid chain, 0.957 → 1.045 for the proxy-only one (callgrind:
 * 453 k → 391 k instructions a paid request). Everything else it did for us — headers, path, body, the
 * response, retries — these passes did already.
 */
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { outgoingLength, type OutgoingBody } from '../body.ts';
import { addHeader } from './header-list.ts';
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
]);

/**
 * Pass 1: the upstream request headers: client headers minus hop-by-hop and the client's host, plus plugin
 * and target overrides, as Node's flat `[name, value, …]` list.
 * Merged in a fresh object (never `delete` on the client's: a deleted-from object falls into V8's slow
 * dictionary mode); the client's own headers stay as they came.
 */
export function prepareHeaders(
  req: IncomingMessage,
  options: {
    upstream: UpstreamRequest;
    target: UpstreamTarget;
    body: OutgoingBody | undefined;
    requestId: string;
    /** Who asked, as far as the gateway can tell: the client's address, scheme and host. */
    forwarded: { for: string; proto: string; host: string | undefined };
  },
): string[] {
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
  const { forwarded } = options;
  headers['x-forwarded-for'] = forwarded.for;
  headers['x-forwarded-proto'] = forwarded.proto;
  headers['x-forwarded-host'] = forwarded.host;
  // The upstream's own host, with its port when the URL names one.
  headers.host = options.target.url.host;
  // Measured interleaved (6 × 3 s) against an object: paid chain 0.762 → 0.798 × bare.
  const list: string[] = [];
  for (const name in headers) addHeader(list, name, headers[name]);
  return list;
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

/**
 * Pass 2: one attempt against one target. Resolves when response headers arrive or the attempt fails; a
 * silence of the target's time-out (before the headers or between body chunks) destroys the upstream
 * request and reports `timeout`; a client that leaves destroys it too. A request is sent once: an upstream
 * that may have read it is never sent it again (idle connections are retired early instead, `agentFor`).
 */
export function sendAttempt(
  req: IncomingMessage,
  options: {
    target: UpstreamTarget;
    /** From `prepareHeaders`. */
    headers: readonly string[];
    /** The body as read, or `undefined` to pipe it from the client as it comes. */
    body: OutgoingBody | undefined;
    defaultTimeoutMs: number;
    /** Registers the one callback to run if the client leaves during the attempt. */
    onClientAbort: (callback: (() => void) | undefined) => void;
  },
): Promise<AttemptOutcome> {
  const { target, body } = options;
  const destination = destinationOf(target);
  const timeoutMs = target.timeoutMs ?? options.defaultTimeoutMs;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      options.onClientAbort(undefined);
      resolve(outcome);
    };
    const started = performance.now();
    const upstream = destination.request({
      host: destination.host,
      port: destination.port,
      method: req.method,
      path: destination.path,
      headers: options.headers,
      agent: destination.agent,
    });
    options.onClientAbort(() => {
      upstream.destroy();
      settle({ kind: 'failure', failure: 'reset', error: new Error('client went away') });
    });
    upstream.setTimeout(timeoutMs, () => upstream.destroy());
    upstream.on('response', (response) => settle({ kind: 'response', response }));
    upstream.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code;
      // A time-out destroys the request, which surfaces as a reset: the elapsed time tells them apart.
      const timedOut = performance.now() - started >= timeoutMs - 1;
      const failure: AttemptFailure = timedOut ? 'timeout' : isConnectError(code) ? 'connect' : 'reset';
      settle({ kind: 'failure', failure, error });
    });
    if (body === undefined) req.pipe(upstream);
    else sendBody(upstream, body);
  });
}

/** What every request to one target shares, worked out once. */
interface Destination {
  request: typeof httpRequest;
  /** The host as a socket wants it: an IPv6 address without the brackets a URL writes around it. */
  host: string;
  port: string;
  /** The target's own path: the client's path is not appended. */
  path: string;
  agent: HttpAgent;
}

const destinations = new WeakMap<UpstreamTarget, Destination>();

function destinationOf(target: UpstreamTarget): Destination {
  let destination = destinations.get(target);
  if (!destination) {
    const { url } = target;
    const bracketed = url.hostname.startsWith('[');
    destination = {
      request: url.protocol === 'https:' ? httpsRequest : httpRequest,
      host: bracketed ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      agent: agentFor(url, target.idleTimeoutMs),
    };
    destinations.set(target, destination);
  }
  return destination;
}

/** A read body: held by the request until it has its socket, then written with the headers in one go. */
function sendBody(upstream: ClientRequest, body: OutgoingBody): void {
  if (Buffer.isBuffer(body)) {
    upstream.end(body);
    return;
  }
  const last = body.length - 1;
  for (let i = 0; i < last; i++) upstream.write(body[i]);
  upstream.end(body[last]);
}

function isConnectError(code: string | undefined): boolean {
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH';
}
