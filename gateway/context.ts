import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { bodyArrived, readBody, type BodyBudget, type OutgoingBody } from './body.ts';
import type { ClientAddress } from './client-address.ts';
import { badRequest } from './errors.ts';

const OPEN_BRACE = 0x7b;

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
  // Created only when a plugin asks for a signal: an AbortController per request is measurably costly.
  private abortController: AbortController | undefined;
  private abortCallback: (() => void) | undefined;
  /** Values by key slot: an array, as a map per request cost a hash table and a lookup per access. */
  private readonly state: unknown[] = [];
  private rawQuery: string;
  private parsedQuery: URLSearchParams | undefined;
  readonly bodyLimit: number;
  private readonly bodyBudget: BodyBudget;
  /** Bytes of the body taken from the budget, given back when the request is over. */
  private bodyBytes = 0;
  private bodyRead: Promise<Buffer> | undefined;
  private rawBody: Buffer | undefined;
  private parsedJson: unknown;
  private jsonState: 'unparsed' | 'parsed' | 'rewritten' = 'unparsed';
  /** Members added in front of the body as the client sent it (`addJsonMember`), as JSON text. */
  private membersInFront = '';
  /** The body with those members in front, in pieces, once it is taken to go upstream. */
  private spliced: readonly Buffer[] | undefined;

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

  /** The request is over: the body it read no longer counts against the process's bound. */
  releaseBody(): void {
    this.bodyBudget.give(this.bodyBytes);
    this.bodyBytes = 0;
  }

  /** Aborted when the client goes away before its answer is complete. */
  get signal(): AbortSignal {
    if (!this.abortController) {
      this.abortController = new AbortController();
      if (this.aborted) this.abortController.abort();
    }
    return this.abortController.signal;
  }

  get clientAborted(): boolean {
    return this.aborted;
  }

  markClientAborted(): void {
    this.aborted = true;
    this.abortController?.abort();
    this.abortCallback?.();
  }

  /** Sets (or clears) the one callback the proxy runs if the client leaves: cheaper than an event listener. */
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
   * When no plugin asks for it, the proxy streams it to the upstream without holding it.
   */
  readBody(): Promise<Buffer> {
    // Read a turn later: a body that came with the headers is parsed into the stream's buffer by then.
    this.bodyRead ??= Promise.resolve().then(() => {
      const body = readBody(this.req, this.bodyLimit, (bytes) => {
        this.bodyBudget.take(bytes);
        this.bodyBytes += bytes;
      });
      return Buffer.isBuffer(body) ? this.keepBody(body) : body.then((read) => this.keepBody(read));
    });
    return this.bodyRead;
  }

  private keepBody(body: Buffer): Buffer {
    this.rawBody = body;
    return body;
  }

  /** The body was read (a plugin asked for it): nothing to wait for before it is sent. */
  get bodyInMemory(): boolean {
    return this.rawBody !== undefined;
  }

  /**
   * The body if it came whole with the headers, so it is in memory already; undefined (left to be piped)
   * while it is still on its way. Looked at a turn later, once the parser has buffered what came.
   */
  async arrivedBody(): Promise<Buffer | undefined> {
    if (this.bodyRead) return this.bodyRead;
    await null;
    return this.bodyRead ?? (bodyArrived(this.req) ? this.readBody() : undefined);
  }

  /** The body as it must go upstream: undefined while unread (then the client stream is piped through). */
  get bufferedBody(): OutgoingBody | undefined {
    if (this.jsonState === 'rewritten') {
      this.rawBody = Buffer.from(JSON.stringify(this.parsedJson));
      this.jsonState = 'parsed';
      this.spliced = undefined;
    } else if (this.membersInFront !== '') {
      // The body parsed as an object with members: its first '{' opens it, whatever whitespace comes first.
      // Sent as two pieces, the client's bytes as a view: no copy of the whole body.
      const raw = this.rawBody!;
      const open = raw[0] === OPEN_BRACE ? 1 : raw.indexOf(OPEN_BRACE) + 1;
      const head = open === 1 ? '{' : raw.toString('latin1', 0, open);
      this.spliced = [Buffer.from(head + this.membersInFront), raw.subarray(open)];
    }
    this.membersInFront = '';
    return this.spliced ?? this.rawBody;
  }

  /** The body parsed as JSON, once, shared by every plugin. Throws 400 when it is not JSON. */
  async json<T = unknown>(): Promise<T> {
    if (this.jsonState === 'unparsed') {
      const raw = await this.readBody();
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
        this.jsonState = 'parsed';
      }
    }
    return this.parsedJson as T;
  }

  /** Marks the parsed JSON as changed (after `await ctx.json()`); it is serialised once, when sent upstream. */
  jsonChanged(): void {
    this.jsonState = 'rewritten';
  }

  /**
   * Adds a member that the JSON object body lacks (after `await ctx.json()`). Unless the body is rewritten
   * anyway, it goes upstream as the client sent it with the member in front: the rest is not serialised
   * again (for a long conversation, that is most of the work of a rewrite).
   */
  addJsonMember(name: string, value: unknown): void {
    const body = this.parsedJson;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Error('addJsonMember needs a JSON object body');
    if (Object.hasOwn(body, name)) throw new Error(`the body already has a member ${name}`);
    const hadMembers = Object.keys(body).length > 0;
    (body as Record<string, unknown>)[name] = value;
    if (this.jsonState === 'parsed' && hadMembers)
      this.membersInFront += `${JSON.stringify(name)}:${JSON.stringify(value)},`;
    else this.jsonState = 'rewritten';
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}
