/**
 * Typed gateway errors. Plugins throw them; one central handler (server.ts) turns them into responses
 * in the route's error format, so no plugin writes an error response by hand.
 */
export interface GatewayErrorOptions {
  /** OpenAI-style error type, e.g. `invalid_request_error`; derived from the status when absent. */
  type?: string;
  headers?: Record<string, string>;
  /** Extra fields merged into the error body (e.g. `{ valid: false }`). */
  fields?: Record<string, unknown>;
  cause?: unknown;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly code: string;
  readonly type: string;
  readonly headers: Record<string, string>;
  readonly fields: Record<string, unknown>;

  constructor(status: number, code: string, message: string, options: GatewayErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.type = options.type ?? defaultType(status);
    this.headers = options.headers ?? {};
    this.fields = options.fields ?? {};
  }
}

function defaultType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 402) return 'insufficient_quota';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'upstream_error';
  return 'invalid_request_error';
}

export const badRequest = (message: string, code = 'BAD_REQUEST', options?: GatewayErrorOptions) =>
  new GatewayError(400, code, message, options);
export const notFound = (message: string, code = 'NOT_FOUND') => new GatewayError(404, code, message);
export const unavailable = (message: string, code = 'UNAVAILABLE', options?: GatewayErrorOptions) =>
  new GatewayError(503, code, message, options);

/** 429 for a limit's window that ends in `remainingMs`: Retry-After says when to come back. */
export function pastLimit(remainingMs: number): GatewayError {
  const retryAfter = String(Math.ceil(remainingMs / 1000));
  return new GatewayError(429, 'RATE_LIMITED', `too many requests; retry in ${retryAfter} s`, {
    headers: { 'retry-after': retryAfter },
  });
}

/** Turns a domain error into the answer it means, or says it does not know it (a plugin's `mapError`). */
export type ErrorMapper = (error: unknown) => GatewayError | undefined;

/**
 * Turns anything thrown into a GatewayError, through the plugins' mappers for their domain errors; unknown
 * errors become an opaque 500 (details go to the log only).
 */
export function toGatewayError(error: unknown, mappers: readonly ErrorMapper[] = []): GatewayError {
  if (error instanceof GatewayError) return error;
  for (const map of mappers) {
    const mapped = map(error);
    if (mapped) return mapped;
  }
  return new GatewayError(500, 'INTERNAL', 'internal gateway error', { cause: error });
}

export type ErrorFormat = 'openai' | 'cradle';

/** The body of an error answer: OpenAI's shape on proxy routes, the seed's `{success:false}` shape elsewhere. */
export function errorBody(error: GatewayError, format: ErrorFormat): Record<string, unknown> {
  if (format === 'openai') {
    return {
      error: { message: error.message, type: error.type, code: error.code.toLowerCase() },
      ...error.fields,
    };
  }
  return { success: false, error: error.message, code: error.code, ...error.fields };
}
