/**
 * `GET /admin/*`: the operator console. Its pages are static files (Preact, htm and uPlot as browser modules,
 * no build step) that call the admin API with the token the operator signs in with; nothing here needs a
 * credential. The files are read once, when the route is created: only what is listed here is ever served.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notFound } from '../../gateway/errors.ts';
import { definePlugin, type Answer } from '../../gateway/plugin.ts';

const WEB = fileURLToPath(new URL('./web/', import.meta.url));

/** The browser modules the pages import, by the name the import map gives them. */
const VENDOR: Record<string, string> = {
  'vendor/preact.mjs': 'preact',
  'vendor/hooks.mjs': 'preact/hooks',
  'vendor/htm.mjs': 'htm',
  'vendor/uplot.mjs': 'uplot/dist/uPlot.esm.js',
  'vendor/uplot.css': 'uplot/dist/uPlot.min.css',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface ServedFile {
  body: Buffer;
  type: string;
  /** A strong ETag: a browser that holds the file asks again with it and gets a 304, not the bytes. */
  etag: string;
}

function served(body: Buffer, type: string): ServedFile {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Whether an If-None-Match header names `etag` (or any): the client's copy is the one served. */
function holds(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed === etag || trimmed === `W/${etag}`;
  });
}

function webFiles(dir: string): [string, string][] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && TYPES[extname(entry.name)] && entry.name !== 'tsconfig.json')
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return [relative(dir, path).split('\\').join('/'), path];
    });
}

/** The inline import map's hash, so the page's policy can allow that script and no other inline one. */
function importMapHash(html: string): string {
  const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '';
  return `'sha256-${createHash('sha256').update(map).digest('base64')}'`;
}

function loadFiles(): Map<string, ServedFile> {
  const files = new Map<string, ServedFile>();
  for (const [name, path] of webFiles(WEB))
    files.set(name, served(readFileSync(path), TYPES[extname(path)]!));
  for (const [name, specifier] of Object.entries(VENDOR)) {
    const path = fileURLToPath(import.meta.resolve(specifier));
    files.set(name, served(readFileSync(path), TYPES[extname(name)]!));
  }
  return files;
}

export default definePlugin<Record<string, never>>({
  name: 'console',
  schema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    const files = loadFiles();
    const index = files.get('index.html')!;
    const policy = [
      "default-src 'self'",
      `script-src 'self' ${importMapHash(index.body.toString())}`,
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "frame-ancestors 'none'",
    ].join('; ');
    return {
      onRequest(ctx): Answer {
        const path = ctx.params['*'] ?? '';
        // Every page of the console is index.html; the page to show is in the URL's fragment.
        const file = files.get(path === '' ? 'index.html' : path);
        if (!file) throw notFound(`the console has no file ${path}`);
        const headers = {
          'content-type': file.type,
          // Asked again on every use, so a new version shows at once; unchanged, it costs a 304.
          'cache-control': 'no-cache',
          etag: file.etag,
          'content-security-policy': policy,
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
        };
        if (holds(ctx.header('if-none-match'), file.etag)) return { status: 304, headers };
        return { body: file.body, headers };
      },
    };
  },
});
