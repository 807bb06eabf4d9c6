/**
 * The config's text with its secrets hidden: the value of every key whose name says it holds a secret (key,
 * token, secret, password) is masked, unless it only names environment variables without a default
 * (`${OPENROUTER_API_KEY:-}`, as the shipped config does): that tells the operator where the secret comes
 * from, and the environment's values are never shown.
 */
const SECRET_VALUE =
  /(\b[\w-]*(?:key|(?<!max_)tokens?|secret|password|passwd)[\w-]*\s*:[ \t]*)('(?:[^']|'')*'|"(?:[^"\\]|\\.)*"|[^\s,}#][^,}#\n]*)/gi;
/** Empty, a number or a yes/no (`max_tokens: 4096`) is not a secret. */
const NOT_SECRET = /^(''|""|-?\d+(\.\d+)?|true|false|null|~)$/;
/** `${NAME}`, `${NAME:-}` or, in a `$numbered_env` template, `${NAME_{n}}`. */
const ONLY_VARIABLES = /^(['"]?)(\s*\$\{[A-Za-z_][\w{}]*(?::-)?\}\s*,?)*\1$/;

export function maskSecrets(yaml: string): string {
  return yaml.replace(SECRET_VALUE, (whole, key: string, value: string) => {
    const plain = value.trimEnd();
    if (ONLY_VARIABLES.test(plain) || NOT_SECRET.test(plain)) return whole;
    return `${key}'********'${value.slice(plain.length)}`;
  });
}
