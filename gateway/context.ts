import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { readBody, type BodyBudget } from './body.ts';
import type { ClientAddress } from './client-address.ts';
import { badRequest } from './errors.ts';

/** A JSON value that is an object with members: not null, not an array. */
export const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON text that is an object, parsed; `undefined` for any other text (an upstream's bytes are not trusted). */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isJsonObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Deeper bodies are refused: no chat request needs them, and code that walks a body recursively would overflow. */
const MAX_JSON_DEPTH = 64;

/** Walks without recursion, so a hostile body cannot overflow the stack here either. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [item, depth] = pending.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(item)) if (typeof child === 'object') pending.push([child, depth + 1]);
  }
  return false;
}

/** A typed slot in the per-request state; each plugin declares its own keys, so state is never an untyped bag. */
export class ContextKey<T> {
  declare readonly _type: T;
  /** Where a context keeps this key's value: keys are few and made once, so each gets its own index. */
  readonly slot = nextSlot++;
  constructor(readonly name: string) {}
}

let nextSlot = 0;

export interface ContextInit {
  id: string;
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: string;
  params: Record<string, string>;
  routeName: string;
  bodyLimit: number;
  /** The gateway's logger; the context derives a per-request child (with the request id) on first use. */
  log: Logger;
  client: ClientAddress;
  /** The process's bound on request bodies held in memory. */
  bodyBudget: BodyBudget;
}

/** The per-request object every plugin sees. */
export class Context {
  readonly id: string;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly path: string;
  readonly params: Record<string, string>;
  readonly routeName: string;
  readonly startedAt = performance.now();
  readonly clientIp: string;
  /** The client's address came from trusted proxies: their X-Forwarded-Proto and -Host may be believed too. */
  readonly viaTrustedProxy: boolean;
  private readonly baseLog: Logger;
  private requestLog: Logger | undefined;
  /**
   * Headers added to whatever answer the client gets: plugin answer, proxied response or error. Names in
   * lower case, as Node gives a response's: one here replaces the upstream's header of that name.
   */
  readonly responseHeaders: Record<string, string>;
  private aborted = false;
  private abortCallback: (() => void) | undefined;
  /** Values by key slot (each key knows its index). */
  private readonly state: unknown[] = [];
  private rawQuery: string;
  private parsedQuery: URLSearchParams | undefined;
  readonly bodyLimit: number;
  private readonly bodyBudget: BodyBudget;
  /** Bytes of the body taken from the budget, given back when the request is over. */
  private bodyBytes = 0;
  /** The body, once a plugin or the proxy asked for it. */
  private bodyRead: Promise<Buffer> | undefined;
  private readBytes: Buffer | undefined;
  private parsedJson: unknown;
  private jsonState: 'unparsed' | 'parsed' | 'changed' | 'released' = 'unparsed';

  constructor(init: ContextInit) {
    this.id = init.id;
    this.responseHeaders = { 'x-request-id': init.id };
    this.req = init.req;
    this.res = init.res;
    this.method = init.req.method ?? 'GET';
    this.path = init.path;
    this.rawQuery = init.query;
    this.params = init.params;
    this.routeName = init.routeName;
    this.bodyLimit = init.bodyLimit;
    this.baseLog = init.log;
    this.clientIp = init.client.address;
    this.viaTrustedProxy = init.client.viaProxy;
    this.bodyBudget = init.bodyBudget;
  }

  /**
   * The body is needed no more (its answer has begun, so nothing sends it again; or the request is over): its
   * bytes and parsed JSON are let go, and no longer count against the process's bound. A stream that runs for
   * minutes then holds nothing of a long conversation it was asked.
   */
  releaseBody(): void {
    this.bodyBudget.give(this.bodyBytes);
    this.bodyBytes = 0;
    this.bodyRead = undefined;
    this.readBytes = undefined;
    this.parsedJson = undefined;
    this.jsonState = 'released';
  }

  get clientAborted(): boolean {
    return this.aborted;
  }

  markClientAborted(): void {
    this.aborted = true;
    this.abortCallback?.();
  }

  /** Sets (or clears) what the proxy does if the client leaves while an attempt is on its way. */
  onClientAbort(callback: (() => void) | undefined): void {
    this.abortCallback = callback;
  }

  /** A logger whose lines carry this request's id. */
  get log(): Logger {
    this.requestLog ??= this.baseLog.child({ reqId: this.id });
    return this.requestLog;
  }

  get query(): URLSearchParams {
    this.parsedQuery ??= new URLSearchParams(this.rawQuery);
    return this.parsedQuery;
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  get<T>(key: ContextKey<T>): T | undefined {
    return this.state[key.slot] as T | undefined;
  }

  set<T>(key: ContextKey<T>, value: T): void {
    this.state[key.slot] = value;
  }

  /**
   * The request body, read from the client once, on first demand, and refused (413) past the size limit.
   * When nothing asks for it, the proxy streams it to the upstream without holding it.
   */
  body(): Promise<Buffer> {
    if (this.jsonState === 'released')
      return Promise.reject(new Error('the request body was let go when its answer began'));
    this.bodyRead ??= readBody(this.req, this.bodyLimit, (bytes) => {
      this.bodyBudget.take(bytes);
      this.bodyBytes += bytes;
    }).then((read) => (this.readBytes = read));
    return this.bodyRead;
  }

  /**
   * The body as it goes upstream: as read, or serialised again after `jsonChanged()`; undefined when it was
   * never read, and is then streamed through.
   */
  upstreamBody(): Buffer | undefined {
    if (this.jsonState === 'changed') {
      this.readBytes = Buffer.from(JSON.stringify(this.parsedJson));
      this.jsonState = 'parsed';
    }
    return this.readBytes;
  }

  /** The body as it goes upstream with some of its JSON members replaced (after `await ctx.json()`). */
  upstreamBodyWith(fields: Record<string, unknown>): Buffer {
    return Buffer.from(JSON.stringify({ ...(this.parsedJson as object), ...fields }));
  }

  /**
   * The body parsed as JSON, once, shared by every plugin. Throws 400 when it is not JSON, or not an object:
   * every body the gateway reads is one, so no plugin meets a null where it reads a member.
   */
  async json<T extends object = Record<string, unknown>>(): Promise<T> {
    const raw = await this.body();
    if (this.jsonState === 'unparsed') {
      if (raw.length === 0)
        throw badRequest('request body is empty; a JSON body is required', 'INVALID_BODY');
      try {
        this.parsedJson = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        throw badRequest(`request body is not valid JSON: ${(error as Error).message}`, 'INVALID_JSON');
      }
      if (nestedDeeperThan(this.parsedJson, MAX_JSON_DEPTH))
        throw badRequest(`request body nests deeper than ${MAX_JSON_DEPTH} levels`, 'INVALID_JSON');
      if (!isJsonObject(this.parsedJson))
        throw badRequest('request body must be a JSON object', 'INVALID_BODY');
      this.jsonState = 'parsed';
    }
    return this.parsedJson as T;
  }

  /**
   * The body parsed as JSON if a plugin asked for it, else undefined (it is never read for this); undefined
   * too once the answer has begun.
   */
  get jsonIfParsed(): unknown {
    return this.jsonState === 'unparsed' ? undefined : this.parsedJson;
  }

  /** Marks the parsed JSON as changed (after `await ctx.json()`); it is serialised once, when sent upstream. */
  jsonChanged(): void {
    this.jsonState = 'changed';
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}
