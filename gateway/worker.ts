/** Worker threads on the gateway's own modules, which run from their TypeScript as the gateway does. */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** A worker running the TypeScript module `file`. */
export function startModuleWorker(file: URL, options: WorkerOptions): Worker {
  // Module hooks registered by `--import` do not reach worker threads on Node 20: the thread registers them.
  const hooks = new URL('./typescript.mjs', import.meta.url);
  const start = `import(${JSON.stringify(hooks.href)}).then(() => import(${JSON.stringify(file.href)}))`;
  return new Worker(start, { ...options, eval: true });
}
