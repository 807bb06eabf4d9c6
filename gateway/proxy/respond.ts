/** The proxy path's passes 3 and 4 (see passes.ts): the upstream's answer to the client. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { ResponseObserver, ResponseRewriter } from '../plugin.ts';

const NOT_RETURNED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  // An upstream's cookies are for its own host: a browser would keep them for the gateway's.
  'set-cookie',
]);

/** Pass 3: status and headers to the client, minus hop-by-hop, plus the gateway's own response headers. */
export function writeHead(
  res: ServerResponse,
  response: IncomingMessage,
  options: {
    /** The gateway's own response headers. */
    extra: Record<string, string>;
    /** The body will be rewritten: its length is not the upstream's. */
    rewritten: boolean;
  },
): void {
  const { headers } = response;
  const { extra, rewritten } = options;
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (NOT_RETURNED.has(name) || name in extra || (rewritten && name === 'content-length')) continue;
    out[name] = headers[name];
  }
  Object.assign(out, extra);
  // No separate flush of the head, for event streams neither: head and first chunk leave in one write.
  res.writeHead(response.statusCode ?? 502, out);
}

/**
 * Pass 4: the body, chunk by chunk as it arrives (no buffering); rewriters change it on the way, observers see
 * each chunk as the upstream sent it. Resolves `complete: false` when either side went away before the end,
 * and when the first bytes went to the client.
 */
export function pipeBody(
  response: IncomingMessage,
  res: ServerResponse,
  options: { observers: readonly ResponseObserver[]; rewriters: readonly ResponseRewriter[] },
): Promise<{ complete: boolean; firstByteAt?: number }> {
  const { observers, rewriters } = options;
  return new Promise((resolve) => {
    let done = false;
    let firstByteAt: number | undefined;
    const finish = (complete: boolean) => {
      if (done) return;
      done = true;
      for (const observer of observers) observer.onEnd?.({ complete });
      resolve({ complete, ...(firstByteAt === undefined ? {} : { firstByteAt }) });
    };
    response.on('error', ignore);
    response.on('close', () => {
      if (!response.complete) {
        res.destroy();
        finish(false);
      }
    });
    res.on('close', () => {
      // A client that leaves stops the upstream's work (and what it would bill for): its connection goes.
      if (!res.writableFinished) response.destroy();
      finish(response.complete && res.writableFinished);
    });
    // An answer that came whole with its headers (a JSON answer, usually) is in memory already: one write,
    // without the machinery of a pipe. A streamed one flows through as it comes.
    if (response.complete) {
      const body = response.read() as Buffer | null;
      response.resume();
      if (body) firstByteAt = performance.now();
      if (rewriters.length === 0) res.end(body ?? undefined);
      else res.end(Buffer.concat([rewritten(rewriters, body ?? EMPTY), rewrittenEnd(rewriters)]));
      if (body) for (const observer of observers) observer.onData(body);
      return;
    }
    const seen = (chunk: Buffer) => {
      firstByteAt ??= performance.now();
      for (const observer of observers) observer.onData(chunk);
    };
    if (rewriters.length > 0) return rewriteInto(response, res, { rewriters, seen });
    response.pipe(res);
    // After the pipe: each chunk is on its way to the client before observers look at it.
    response.on('data', seen);
  });
}

const ignore = () => undefined;

const EMPTY = Buffer.alloc(0);

/** A streamed body through its rewriters: what `pipe` does, with the rewritten bytes written instead. */
function rewriteInto(
  response: IncomingMessage,
  res: ServerResponse,
  options: { rewriters: readonly ResponseRewriter[]; seen: (chunk: Buffer) => void },
): void {
  const { rewriters, seen } = options;
  response.on('data', (chunk: Buffer) => {
    const out = rewritten(rewriters, chunk);
    if (out.length > 0 && !res.destroyed && !res.write(out)) response.pause();
    seen(chunk);
  });
  res.on('drain', () => response.resume());
  response.on('end', () => {
    const tail = rewrittenEnd(rewriters);
    if (!res.destroyed) res.end(tail.length > 0 ? tail : undefined);
  });
}

/** A chunk through the rewriters from `first` on. */
function rewritten(rewriters: readonly ResponseRewriter[], chunk: Buffer, first = 0): Buffer {
  let out = chunk;
  for (let i = first; i < rewriters.length && out.length > 0; i++) out = rewriters[i]!.onData(out);
  return out;
}

/** What each rewriter still held at the end, through the rewriters after it. */
function rewrittenEnd(rewriters: readonly ResponseRewriter[]): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < rewriters.length; i++) {
    const held = rewriters[i]!.onEnd?.();
    if (held && held.length > 0) parts.push(rewritten(rewriters, held, i + 1));
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
