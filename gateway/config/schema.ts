/** The core config schema: server, logging, custom plugins, named chains and routes. */
import { trustSchema, type TrustSetting } from '../client-address.ts';
import type { ErrorFormat } from '../errors.ts';

/** One item of a plugin list: `name`, `{ name: options }`, or `{ use: chainName }` to splice a named chain. */
export type PluginEntry = string | Record<string, unknown>;

export interface RouteConfig {
  name?: string;
  method: string | string[];
  path: string;
  error_format: ErrorFormat;
  body_limit_bytes?: number;
  plugins: PluginEntry[];
}

export interface GatewayConfig {
  server: {
    host: string;
    port: number;
    body_limit_bytes: number;
    shutdown_timeout_ms: number;
    /** The proxies whose X-Forwarded-For is believed (see client-address.ts). */
    trust_proxy: TrustSetting;
    /** Believe CF-Connecting-IP from a trusted proxy: the gateway sits behind Cloudflare. */
    behind_cloudflare: boolean;
    /** A client must send a request's headers within this (from its connection or its last request). */
    headers_timeout_ms: number;
    /** ... and its whole body within this (408); the answer's stream is not limited by it. */
    body_timeout_ms: number;
    /** A client that takes none of its answer for this long is cut off (nginx's `send_timeout`). */
    send_timeout_ms: number;
    /** An idle kept-alive client connection is closed after this. */
    keep_alive_timeout_ms: number;
    /** Client connections open at once; more are refused until some close. */
    max_connections: number;
    /** Request bodies held in memory at once, all requests together; past it a request is refused (503). */
    max_buffered_body_bytes: number;
  };
  logging: { level: string; access_log: boolean };
  /** Operator plugins: name → module path (relative to the config file). */
  plugins: Record<string, string>;
  chains: Record<string, PluginEntry[]>;
  routes: RouteConfig[];
}

const pluginList = {
  type: 'array',
  items: {
    anyOf: [
      { type: 'string', minLength: 1 },
      { type: 'object', minProperties: 1, maxProperties: 1 },
    ],
  },
};

export const coreSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['routes'],
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '0.0.0.0' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
        body_limit_bytes: { type: 'integer', minimum: 1, default: 4 * 1024 * 1024 },
        shutdown_timeout_ms: { type: 'integer', minimum: 0, default: 30000 },
        trust_proxy: { ...trustSchema, default: false },
        behind_cloudflare: { type: 'boolean', default: false },
        headers_timeout_ms: { type: 'integer', minimum: 1, default: 10_000 },
        body_timeout_ms: { type: 'integer', minimum: 1, default: 30_000 },
        send_timeout_ms: { type: 'integer', minimum: 1, default: 60_000 },
        keep_alive_timeout_ms: { type: 'integer', minimum: 1, default: 65_000 },
        max_connections: { type: 'integer', minimum: 1, default: 4096 },
        max_buffered_body_bytes: { type: 'integer', minimum: 1, default: 256 * 1024 * 1024 },
      },
    },
    logging: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info' },
        access_log: { type: 'boolean', default: true },
      },
    },
    plugins: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
    chains: { type: 'object', additionalProperties: pluginList, default: {} },
    routes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'plugins'],
        properties: {
          name: { type: 'string' },
          method: {
            anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }],
            default: '*',
          },
          path: { type: 'string', pattern: '^/' },
          error_format: { enum: ['openai', 'cradle'], default: 'cradle' },
          /** This route's body size limit, when it must be smaller than the server's. */
          body_limit_bytes: { type: 'integer', minimum: 1 },
          plugins: pluginList,
        },
      },
    },
  },
} as const;
