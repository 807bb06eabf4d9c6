/**
 * Reads the YAML config: parse (keeping line numbers), interpolate `${VAR}` / `${VAR:-default}` in string
 * values (after parsing, so an env value can never inject YAML), and expand `$numbered_env` templates
 * (`HF_SPACE_URL_1..N`) into lists.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  file: string;
  dir: string;
  /** The interpolated plain value, not yet validated. */
  value: unknown;
  /** Where a YAML path is written, for error messages. */
  locate(path: readonly (string | number)[]): string;
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const NUMBERED = '$numbered_env';
const MAX_NUMBERED = 1000;

export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read config: ${(error as Error).message}`, path);
  }
  return parseConfigText(text, { file: path, env });
}

export function parseConfigText(
  text: string,
  options: { file: string; env: NodeJS.ProcessEnv },
): LoadedConfig {
  const { file, env } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const { line, col } = lineCounter.linePos(first.pos[0]);
    throw new ConfigError(`${file}:${line}:${col}: invalid YAML: ${first.message.split('\n')[0]}`, file);
  }
  const value = interpolate(doc.toJS({ maxAliasCount: 1000 }), env);
  return { file, dir: dirname(file), value, locate: (p) => locate(doc, lineCounter, file, p) };
}

function locate(
  doc: Document,
  lineCounter: LineCounter,
  file: string,
  path: readonly (string | number)[],
): string {
  const shown = formatPath(path);
  // Generated list items ($numbered_env) have no node of their own: fall back to the nearest written parent.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) {
      const { line } = lineCounter.linePos(node.range[0]);
      return `${file}:${line} at ${shown}`;
    }
  }
  return `${file} at ${shown}`;
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out || '(root)';
}

function interpolate(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') return substitute(value, env);
  if (Array.isArray(value)) return value.flatMap((item) => expandItem(item, env));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (isNumbered(item)) out[key] = expandNumbered(item[NUMBERED], env);
      else out[key] = interpolate(item, env);
    }
    return out;
  }
  return value;
}

function expandItem(item: unknown, env: NodeJS.ProcessEnv): unknown[] {
  return isNumbered(item) ? expandNumbered(item[NUMBERED], env) : [interpolate(item, env)];
}

function isNumbered(value: unknown): value is { [NUMBERED]: unknown } {
  return !!value && typeof value === 'object' && !Array.isArray(value) && NUMBERED in value;
}

/**
 * `{ $numbered_env: { url: "${HF_SPACE_URL_{n}}", password: "${HF_SPACE_PASSWORD_{n}}" } }` becomes one item
 * per n = 1, 2, … for as long as the first variable named in the template is set.
 */
function expandNumbered(template: unknown, env: NodeJS.ProcessEnv): unknown[] {
  const text = JSON.stringify(template);
  const leading = /\$\{([A-Za-z0-9_]*\{n\}[A-Za-z0-9_]*)/.exec(text)?.[1];
  if (!leading) return [];
  const items: unknown[] = [];
  for (let n = 1; n <= MAX_NUMBERED; n++) {
    if (!env[leading.replace('{n}', String(n))]) break;
    items.push(interpolate(JSON.parse(text.replaceAll('{n}', String(n))), env));
  }
  return items;
}

function substitute(text: string, env: NodeJS.ProcessEnv): string {
  if (!text.includes('${')) return text;
  return text.replace(VARIABLE, (_, name: string, fallback: string | undefined) => {
    const value = env[name];
    return value !== undefined && value !== '' ? value : (fallback ?? '');
  });
}
