/**
 * Worker threads on the gateway's own modules, whether it runs from its TypeScript (through `typescript.mjs`)
 * or built to JavaScript.
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
  // Module hooks registered by `--import` do not reach worker threads on Node 20: the thread registers them.
  const hooks = new URL('./typescript.mjs', import.meta.url);
  const start = `import(${JSON.stringify(hooks.href)}).then(() => import(${JSON.stringify(file.href)}))`;
  return new Worker(start, { ...options, eval: true });
}
