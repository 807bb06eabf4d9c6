/**
 * The plugin contract. A route is a chain of plugin instances run in YAML list order, phase by phase:
 *   onRequest  → may return an Answer, which ends the chain (the rest of onRequest and the proxy are skipped)
 *   onUpstream → choose and rewrite the upstream request (target, headers, body via ctx.json() and
 *                jsonChanged())
 *   onResponse → see the upstream status and headers, attach observers to the streamed body, or rewriters
 *                that change it on its way to the client; the request body is let go after this phase
 *   onFinish   → always exactly once per request, whatever happened: settle, refund, record
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Context } from './context.ts';
import type { GatewayError } from './errors.ts';
import type { RouteContract } from './input.ts';
import type { Metrics } from './metrics.ts';
import type { Resources } from './resources.ts';

/** An answer the gateway gives itself. Objects are sent as JSON; strings and buffers as they are. */
export interface Answer {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface UpstreamTarget {
  /** Name used in metrics and logs; never a secret. */
  name: string;
  /** Full URL of the upstream endpoint (the client path is not appended). */
  url: URL;
  /** Headers set on the upstream request (e.g. the server's own Authorization). */
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** An idle kept-alive connection to it is closed after this: keep it under the upstream's own idle time-out. */
  idleTimeoutMs?: number;
  /**
   * Members of the JSON body this target is sent over the request's own (one that knows the model by another
   * name), applied when the attempt is sent: after every plugin's change.
   */
  bodyFields?: Record<string, unknown>;
  /**
   * Error statuses of this upstream that would mean something else to the client, answered as the gateway's
   * own error with the upstream's words (OpenRouter's 403 refuses a request's content, not a license).
   */
  errorStatuses?: Readonly<Record<number, { status: number; code: string }>>;
}

/** The option every upstream plugin offers for `idleTimeoutMs`. */
export const idleTimeoutSchema = {
  type: 'integer',
  minimum: 1,
  default: 4000,
  description: "close an idle connection to the upstream after this; keep it under the upstream's own",
};

/**
 * Why an attempt failed: no connection, silence, a connection cut, an error status a retry is asked for,
 * the gateway's own key or account refused (`refused`), or a web page in place of an API (`web-page`).
 */
export type AttemptFailure = 'connect' | 'timeout' | 'reset' | 'status' | 'refused' | 'web-page';

export interface AttemptResult {
  target: UpstreamTarget;
  /** Upstream status when one arrived. */
  status?: number;
  failure?: AttemptFailure;
  durationMs: number;
}

export interface UpstreamRequest {
  target: UpstreamTarget | undefined;
  /** Header overrides for the upstream request; `undefined` removes a client header. */
  headers: Record<string, string | undefined>;
  /**
   * Asked after an attempt failed before any byte reached the client (connect error, a status in
   * `retryStatuses`, a refusal of the gateway's key, a web page): return another target to try, or nothing
   * to give up.
   */
  retry?: (failed: AttemptResult, attempt: number) => UpstreamTarget | undefined;
  retryStatuses?: ReadonlySet<number>;
  /** Told about every attempt (balancer statistics, health). */
  onAttempt?: (result: AttemptResult) => void;
  /** Told when an attempt starts (in-flight accounting). */
  onAttemptStart?: (target: UpstreamTarget) => void;
}

export interface ResponseObserver {
  onData(chunk: Buffer): void;
  /** `complete` is false when the upstream or the client went away before the body ended. */
  onEnd?(info: { complete: boolean }): void;
}

/**
 * Changes the body on its way to the client, chunk by chunk, in the order attached. It gets the bytes as the
 * upstream encoded them (see its content-encoding). Observers still see the upstream's own bytes. A rewritten
 * answer loses its content-length (it goes chunked).
 */
export interface ResponseRewriter {
  /** What to send for this chunk: the chunk itself when unchanged; an empty buffer to hold back or drop it. */
  onData(chunk: Buffer): Buffer;
  /** What is still held back when the upstream's body ends, if anything. */
  onEnd?(): Buffer | undefined;
}

export interface UpstreamResponse {
  status: number;
  /** The upstream's headers, as they will go to the client: a plugin may take one out. */
  headers: IncomingHttpHeaders;
  target: UpstreamTarget;
  observe(observer: ResponseObserver): void;
  rewrite(rewriter: ResponseRewriter): void;
}

export interface Outcome {
  /** Status the client received (0 when the client left before any status was sent). */
  status: number;
  result: 'answered' | 'proxied' | 'failed' | 'aborted';
  error?: GatewayError;
  /**
   * Set when an upstream response arrived. `complete` is true when its whole body reached the client;
   * `firstByteMs`, from the request's arrival until the answer's first body bytes went to the client.
   */
  upstream?: { status: number; target: string; complete: boolean; firstByteMs?: number };
  clientAborted: boolean;
  /** From the request's arrival until its answer was complete (the bookkeeping after it not counted). */
  durationMs: number;
}

type MaybePromise<T> = T | Promise<T>;

export interface PluginInstance {
  /** What the route takes, when this plugin answers it: checked before onRequest, and documented. */
  contract?: RouteContract;
  onRequest?(ctx: Context): MaybePromise<Answer | void>;
  onUpstream?(ctx: Context, upstream: UpstreamRequest): MaybePromise<void>;
  onResponse?(ctx: Context, response: UpstreamResponse): void;
  onFinish?(ctx: Context, outcome: Outcome): MaybePromise<void>;
  /** Called when a reload retired this instance and its in-flight requests have finished. */
  close?(): MaybePromise<void>;
}

export interface Clock {
  now(): number;
}

/** The config the gateway runs on and how its last reload went: what an operator checks after an edit. */
export interface ConfigStatus {
  file: string;
  /** The text of the config in force: the file as it was when it last loaded without error. */
  text: string;
  /** ISO 8601. */
  loadedAt: string;
  lastReload?: { at: string; ok: boolean; error?: string; restartNeeded?: string[] };
  /** The routes in force and the contracts their plugins declare. */
  routes: { methods: string[]; path: string; contracts: RouteContract[] }[];
}

export interface Services {
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  /** Long-lived shared things (stores, pools) that survive config reloads; closed on shutdown. */
  resources: Resources;
  env: NodeJS.ProcessEnv;
  /** Folder of the config file; relative paths in plugin options resolve against it. */
  configDir: string;
  configStatus(): ConfigStatus;
}

export interface PluginDefinition<Config> {
  /** The key used in YAML. */
  name: string;
  /** JSON Schema of the options; ajv validates (and fills defaults) at load and reload. */
  schema: object;
  // Method syntax on purpose: it lets a PluginDefinition<Specific> stand where PluginDefinition<unknown> is expected.
  create(config: Config, services: Services): MaybePromise<PluginInstance>;
  /**
   * Turns an error of the domain code this plugin calls (not a GatewayError) into the answer it means;
   * undefined for errors it does not know. Without one, such an error is an internal 500.
   */
  mapError?(error: unknown): GatewayError | undefined;
}

export function definePlugin<Config>(definition: PluginDefinition<Config>): PluginDefinition<Config> {
  return definition;
}
