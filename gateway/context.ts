import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { badRequest } from './errors.ts';

/** A typed slot in the per-request state; each plugin declares its own keys, so state is never an untyped bag. */
export class ContextKey<T> {
  declare readonly _type: T;
  constructor(readonly name: string) {}
}

export interface ContextInit {
  id: string;
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  query: string;
  params: Record<string, string>;
  routeName: string;
  body: Buffer;
  log: Logger;
  clientIp: string;
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
  readonly log: Logger;
  /** Headers added to whatever answer the client gets: plugin answer, proxied response or error. */
  readonly responseHeaders: Record<string, string> = {};
  private readonly abortController = new AbortController();
  private readonly state = new Map<ContextKey<unknown>, unknown>();
  private rawQuery: string;
  private parsedQuery: URLSearchParams | undefined;
  private rawBody: Buffer;
  private parsedJson: unknown;
  private jsonState: 'unparsed' | 'parsed' | 'rewritten' = 'unparsed';

  constructor(init: ContextInit) {
    this.id = init.id;
    this.req = init.req;
    this.res = init.res;
    this.method = init.req.method ?? 'GET';
    this.path = init.path;
    this.rawQuery = init.query;
    this.params = init.params;
    this.routeName = init.routeName;
    this.rawBody = init.body;
    this.log = init.log;
    this.clientIp = init.clientIp;
  }

  /** Aborted when the client goes away before its answer is complete. */
  get signal(): AbortSignal {
    return this.abortController.signal;
  }

  get clientAborted(): boolean {
    return this.abortController.signal.aborted;
  }

  markClientAborted(): void {
    this.abortController.abort();
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
    return this.state.get(key) as T | undefined;
  }

  set<T>(key: ContextKey<T>, value: T): void {
    this.state.set(key, value);
  }

  /** The request body as read once from the client (or as rewritten by a plugin). */
  get body(): Buffer {
    if (this.jsonState === 'rewritten') {
      this.rawBody = Buffer.from(JSON.stringify(this.parsedJson));
      this.jsonState = 'parsed';
    }
    return this.rawBody;
  }

  /** The body parsed as JSON, once, shared by every plugin. Throws 400 when it is not JSON. */
  json<T = unknown>(): T {
    if (this.jsonState === 'unparsed') {
      if (this.rawBody.length === 0)
        throw badRequest('request body is empty; a JSON body is required', 'INVALID_BODY');
      try {
        this.parsedJson = JSON.parse(this.rawBody.toString('utf8'));
      } catch (error) {
        throw badRequest(`request body is not valid JSON: ${(error as Error).message}`, 'INVALID_JSON');
      }
      this.jsonState = 'parsed';
    }
    return this.parsedJson as T;
  }

  /** Marks the parsed JSON as changed; it is serialised once, when the body is next read. */
  jsonChanged(): void {
    this.jsonState = 'rewritten';
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}
