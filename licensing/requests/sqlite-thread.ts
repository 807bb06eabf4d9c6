/**
 * The embedded store's request log on a thread of its own (`sqlite-worker.ts`): SQLite's writes and the
 * console's queries take milliseconds, which on the gateway's event loop would hold up every request in
 * flight. This side forwards each call and hands back the thread's answer.
 */
import { startModuleWorker } from '../../gateway/worker.ts';
import type { RequestStore } from './log.ts';

export interface SqliteThreadOptions {
  dir: string;
  /** The statistics' time zone: the thread makes its own buckets from it. */
  timeZone: string;
  retentionMs: number;
}

export type SqliteCall = { id: number } & (
  | { method: 'write'; args: Parameters<RequestStore['write']> }
  | { method: 'query'; args: Parameters<RequestStore['query']> }
  | { method: 'stats'; args: Parameters<RequestStore['stats']> }
  | { method: 'close'; args: [] }
);
export type SqliteReply = { id: number; result?: unknown; error?: string };

interface Waiting {
  resolve: (result: unknown) => void;
  reject: (error: Error) => void;
}

export function sqliteThread(options: SqliteThreadOptions): RequestStore {
  const worker = startModuleWorker(new URL('./sqlite-worker.ts', import.meta.url), { workerData: options });
  // The gateway closes the log on shutdown; a process that forgets to must still be able to end.
  worker.unref();
  const waiting = new Map<number, Waiting>();
  let failure: Error | undefined;
  let nextId = 0;
  worker.on('message', (reply: SqliteReply) => {
    const call = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (reply.error === undefined) call?.resolve(reply.result);
    else call?.reject(new Error(reply.error));
  });
  const fail = (error: Error) => {
    failure ??= error;
    for (const call of waiting.values()) call.reject(failure);
    waiting.clear();
  };
  worker.on('error', fail);
  // A thread that ended without an error event (killed, or out of memory) answers nothing more.
  worker.on('exit', (code) => fail(new Error(`the request log's thread ended (exit code ${code})`)));
  const send = <T>(call: Omit<SqliteCall, 'id'>) =>
    new Promise<T>((resolve, reject) => {
      if (failure) return reject(failure);
      const id = nextId++;
      waiting.set(id, { resolve: resolve as (result: unknown) => void, reject });
      worker.postMessage({ ...call, id });
    });
  return {
    write: (...args) => send({ method: 'write', args }),
    query: (...args) => send({ method: 'query', args }),
    stats: (...args) => send({ method: 'stats', args }),
    async close() {
      if (!failure) await send({ method: 'close', args: [] });
      await worker.terminate();
    },
  };
}
