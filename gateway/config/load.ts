/**
 * Reads the YAML config: parse (keeping line numbers), interpolate `${VAR}` / `${VAR:-default}` in string
 * values (after parsing, so an env value can never inject YAML), and expand `$numbered_env` templates
 * (`HF_SPACE_URL_1..N`) into lists.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { formatPath, locate } from './locate.ts';

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
  /** The file's text as written. */
  text: string;
  /** The interpolated plain value, not yet validated. */
  value: unknown;
  /** Where a YAML path is written, for error messages. */
  locate(path: readonly (string | number)[]): string;
  /** The environment variables whose values were put at this path or beneath it. */
  variablesAt(path: readonly (string | number)[]): string[];
}

type YamlPath = readonly (string | number)[];
/** The variables each interpolated string used, by its path in the interpolated value. */
type UsedVariables = Map<string, string[]>;

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
  const used: UsedVariables = new Map();
  const value = interpolate(doc.toJS({ maxAliasCount: 1000 }), { env, at: [], used });
  return {
    file,
    dir: dirname(file),
    text,
    value,
    locate: (p) => locate(doc, lineCounter, file, p),
    variablesAt: (p) => variablesAt(used, p),
  };
}

function variablesAt(used: UsedVariables, path: YamlPath): string[] {
  const prefix = formatPath(path);
  const names = new Set<string>();
  for (const [at, variables] of used) {
    const beneath = at === prefix || at.startsWith(`${prefix}.`) || at.startsWith(`${prefix}[`);
    if (beneath || prefix === '(root)') for (const name of variables) names.add(name);
  }
  return [...names];
}

interface Interpolation {
  env: NodeJS.ProcessEnv;
  /** The path of the value in the interpolated result. */
  at: YamlPath;
  used: UsedVariables;
}

function interpolate(value: unknown, context: Interpolation): unknown {
  const { at } = context;
  if (typeof value === 'string') return substitute(value, context);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) {
      if (isNumbered(item)) out.push(...expandNumbered(item[NUMBERED], context, out.length));
      else out.push(interpolate(item, { ...context, at: [...at, out.length] }));
    }
    return out;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const next = { ...context, at: [...at, key] };
      out[key] = isNumbered(item) ? expandNumbered(item[NUMBERED], next, 0) : interpolate(item, next);
    }
    return out;
  }
  return value;
}

function isNumbered(value: unknown): value is { [NUMBERED]: unknown } {
  return !!value && typeof value === 'object' && !Array.isArray(value) && NUMBERED in value;
}

/**
 * `{ $numbered_env: { url: "${HF_SPACE_URL_{n}}", password: "${HF_SPACE_PASSWORD_{n}}" } }` becomes one item
 * per n = 1, 2, … for as long as the first variable named in the template is set.
 */
function expandNumbered(template: unknown, list: Interpolation, firstIndex: number): unknown[] {
  const text = JSON.stringify(template);
  const leading = /\$\{([A-Za-z0-9_]*\{n\}[A-Za-z0-9_]*)/.exec(text)?.[1];
  if (!leading) return [];
  const items: unknown[] = [];
  for (let n = 1; n <= MAX_NUMBERED; n++) {
    if (!list.env[leading.replace('{n}', String(n))]) break;
    const at = [...list.at, firstIndex + n - 1];
    items.push(interpolate(JSON.parse(text.replaceAll('{n}', String(n))), { ...list, at }));
  }
  return items;
}

function substitute(text: string, { env, at, used }: Interpolation): string {
  if (!text.includes('${')) return text;
  const names: string[] = [];
  const result = text.replace(VARIABLE, (_, name: string, fallback: string | undefined) => {
    names.push(name);
    const value = env[name];
    return value !== undefined && value !== '' ? value : (fallback ?? '');
  });
  if (names.length > 0) used.set(formatPath(at), names);
  return result;
}
