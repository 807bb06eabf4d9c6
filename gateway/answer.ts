/** The gateway's own answers, as opposed to an upstream's: a plugin's early answer, and errors. */
import type { ServerResponse } from 'node:http';
import type { Context } from './context.ts';
import { errorBody, type ErrorFormat, type GatewayError } from './errors.ts';
import type { Answer } from './plugin.ts';
import { CLIENT_CLOSED } from './proxy/proxy.ts';

/** A plugin's answer, with the gateway's own response headers: objects as JSON, strings and bytes as they are. */
export function sendAnswer(ctx: Context, answer: Answer): void {
  const { res } = ctx;
  for (const [name, value] of Object.entries(ctx.responseHeaders)) res.setHeader(name, value);
  for (const [name, value] of Object.entries(answer.headers ?? {})) res.setHeader(name, value);
  res.statusCode = answer.status ?? 200;
  const { body } = answer;
  if (body === undefined || body === null) {
    res.end();
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    if (!res.hasHeader('content-type')) res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(body);
  } else {
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(body));
  }
}

/** An error in the route's format; with the context's response headers once a context exists. */
export function sendError(
  res: ServerResponse,
  error: GatewayError,
  format: ErrorFormat,
  ctx?: Context,
): void {
  if (ctx) for (const [name, value] of Object.entries(ctx.responseHeaders)) res.setHeader(name, value);
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  if (error.status === 413) res.setHeader('connection', 'close');
  res.statusCode = error.status === CLIENT_CLOSED ? 400 : error.status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(errorBody(error, format)));
}
