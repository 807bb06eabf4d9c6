/** Model-name globs in YAML: `*` matches any run of characters, `?` one; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${escaped}$`);
}

/** A matcher over several globs. */
export function globsMatcher(globs: readonly string[]): (value: string) => boolean {
  const patterns = globs.map(globToRegExp);
  return (value) => patterns.some((p) => p.test(value));
}
