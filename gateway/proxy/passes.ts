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
 * Pass 2: one attempt against one target. Resolves when response headers arrive or the attempt fails; a
 * silence of the target's time-out (before the headers or between body chunks) destroys the upstream
 * request and reports `timeout`; a client that leaves destroys it too.
 * A read body sent on a kept-alive connection that the upstream closes under it goes once more, on a new
 * connection: an upstream closes idle connections on its own clock, so one may close just as it is reused.
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
    let upstream: ClientRequest;
    let started = 0;
    const settle = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      options.onClientAbort(undefined);
      resolve(outcome);
    };
    options.onClientAbort(() => {
      upstream.destroy();
      settle({ kind: 'failure', failure: 'reset', error: new Error('client went away') });
    });
    const onResponse = (response: IncomingMessage) => settle({ kind: 'response', response });
    const onError = (request: ClientRequest, error: Error) => {
      // A request already sent again on a new connection has nothing more to say.
      if (settled || request !== upstream) return;
      const code = (error as NodeJS.ErrnoException).code;
      // A time-out destroys the request, which surfaces as a reset: the elapsed time tells them apart.
      const timedOut = performance.now() - started >= timeoutMs - 1;
      const stale = request.reusedSocket && CLOSED_UNDER_REQUEST.has(code ?? '');
      if (stale && !timedOut && body !== undefined) return send({ fresh: true });
      const failure: AttemptFailure = timedOut ? 'timeout' : isConnectError(code) ? 'connect' : 'reset';
      settle({ kind: 'failure', failure, error });
    };
    const send = ({ fresh }: { fresh: boolean }) => {
      started = performance.now();
      // One literal shape, few members: Node copies a request's options into new objects twice.
      const request = destination.request({
        host: destination.host,
        port: destination.port,
        method: req.method,
        path: destination.path,
        headers: options.headers,
        // A connection of its own, closed after this one request.
        agent: fresh ? false : destination.agent,
      });
      upstream = request;
      // Each request's own handlers: a late event of the first never touches its resend.
      request.setTimeout(timeoutMs, () => request.destroy());
      request.on('error', (error) => onError(request, error));
      request.on('response', onResponse);
      if (body === undefined) req.pipe(request);
      else sendBody(request, body);
    };
    send({ fresh: false });
  });
}

/** How a request fails on a connection the upstream closed under it. */
const CLOSED_UNDER_REQUEST = new Set(['ECONNRESET', 'EPIPE']);

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
      agent: agentFor(url),
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
