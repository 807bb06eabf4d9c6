import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ConfigError, type LoadedConfig } from './load.ts';

const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

function compile(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/**
 * Validates `data` (in place: defaults are filled, scalars coerced) against `schema`; on failure throws a
 * ConfigError whose message names the file, the line and the YAML path of each problem.
 */
export function validateAt(
  schema: object,
  data: unknown,
  where: { config: LoadedConfig; path: readonly (string | number)[] },
): void {
  const validate = compile(schema);
  if (validate(data)) return;
  const problems = (validate.errors ?? []).map((error) => describe(error, where));
  throw new ConfigError(`invalid config:\n  ${[...new Set(problems)].join('\n  ')}`, where.config.file);
}

function describe(
  error: ErrorObject,
  where: { config: LoadedConfig; path: readonly (string | number)[] },
): string {
  const inner = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part.replaceAll('~1', '/').replaceAll('~0', '~')));
  const path = [...where.path, ...inner];
  let detail = error.message ?? 'is invalid';
  if (error.keyword === 'additionalProperties') {
    const key = String(error.params.additionalProperty);
    // Named at its own line: the parent's may be far above it.
    return `${where.config.locate([...path, key])} is an unknown key`;
  } else if (error.keyword === 'enum') {
    detail = `must be one of ${(error.params.allowedValues as unknown[]).join(', ')}`;
  }
  return `${where.config.locate(path)} ${detail}${fromEnvironment(where.config, path)}`;
}

/** Names the environment variables a wrong value came from: the text of the file looks right. */
export function fromEnvironment(config: LoadedConfig, path: readonly (string | number)[]): string {
  const names = config.variablesAt(path);
  return names.length === 0 ? '' : ` (its value comes from ${names.join(', ')})`;
}
