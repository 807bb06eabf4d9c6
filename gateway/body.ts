import type { IncomingMessage } from 'node:http';
import { GatewayError } from './errors.ts';

const EMPTY = Buffer.alloc(0);

/**
 * The bytes of request bodies held in memory, all requests together, against one bound: many slow clients
 * each sending a large body cannot take the process's memory. A request reserves what it reads and gives it
 * back when it is over.
 */
export class BodyBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Takes `bytes`, or throws 503 when the bound would be passed. */
  take(bytes: number): void {
    if (this.used + bytes > this.limit)
      throw new GatewayError(
        503,
        'SERVER_BUSY',
        'the gateway is holding too many request bodies; retry shortly',
        {
          headers: { 'retry-after': '1' },
        },
      );
    this.used += bytes;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }

  get inUse(): number {
    return this.used;
  }
}

/** Refuses (413) a request that declares a body over `limit` bytes, before anything reads it. */
export function checkDeclaredLength(req: IncomingMessage, limit: number): void {
  if (Number(req.headers['content-length']) > limit) throw tooLarge(limit);
}

/** True when the body has no declared length (chunked), so only reading it can enforce the limit. */
export function hasUndeclaredLength(req: IncomingMessage): boolean {
  return req.headers['content-length'] === undefined && req.headers['transfer-encoding'] !== undefined;
}

/** Reads the whole request body, refusing (413) past `limit` bytes without reading further. */
export function readBody(
  req: IncomingMessage,
  limit: number,
  take: (bytes: number) => void,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  if (declared === 0 || (Number.isNaN(declared) && !req.headers['transfer-encoding'])) {
    req.resume();
    return Promise.resolve(EMPTY);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // The request lives as long as its answer: listeners left on it would hold the body as long.
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const stop = (error: unknown) => {
      done();
      req.resume();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return stop(tooLarge(limit));
      try {
        take(chunk.length);
      } catch (error) {
        return stop(error);
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError(413, 'BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`);
}
