/** The thread that owns the embedded request log's database: it answers the calls `sqlite-thread.ts` sends. */
import { parentPort, workerData } from 'node:worker_threads';
import { bucketsIn } from '../time.ts';
import type { SqliteCall, SqliteReply, SqliteThreadOptions } from './sqlite-thread.ts';
import { SqliteRequests } from './sqlite.ts';

const { dir, timeZone, retentionMs } = workerData as SqliteThreadOptions;
const store = new SqliteRequests({ dir, buckets: bucketsIn(timeZone), retentionMs });

async function answer(call: SqliteCall): Promise<unknown> {
  switch (call.method) {
    case 'write':
      return store.write(...call.args);
    case 'query':
      return store.query(...call.args);
    case 'stats':
      return store.stats(...call.args);
    case 'close':
      return store.close();
  }
}

parentPort!.on('message', (call: SqliteCall) => {
  answer(call).then(
    (result) => parentPort!.postMessage({ id: call.id, result } satisfies SqliteReply),
    (error: unknown) =>
      parentPort!.postMessage({
        id: call.id,
        error: error instanceof Error ? error.message : String(error),
      } satisfies SqliteReply),
  );
});
