/**
 * Worker threads on the gateway's own modules, whether it runs from its TypeScript under tsx (`npm start`,
 * the tests) or built to JavaScript (the benchmarks).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The module `name` beside `besides` (an `import.meta.url`), with the extension the caller runs from. */
export function siblingModule(besides: string, name: string): URL {
  return new URL(`./${name}${extname(fileURLToPath(besides))}`, besides);
}

export function startModuleWorker(file: URL, options: WorkerOptions): Worker {
  if (!file.pathname.endsWith('.ts')) return new Worker(file, options);
  // tsx's `--import` does not reach worker threads on Node 20, so the thread registers tsx itself.
  const tsx = import.meta.resolve('tsx/esm/api');
  const start = `import(${JSON.stringify(tsx)})
    .then((api) => api.register())
    .then(() => import(${JSON.stringify(file.href)}))`;
  return new Worker(start, { ...options, eval: true });
}
