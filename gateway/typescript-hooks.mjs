// The module hook `typescript.mjs` registers: a .ts file is loaded as the JavaScript esbuild makes of it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath, URL } from 'node:url';
import { transform } from 'esbuild';

// The project's tsconfig.json, as tsc reads it: its target, imports kept as written, class fields defined.
const tsconfig = await readFile(new URL('../tsconfig.json', import.meta.url), 'utf8');
const OPTIONS = {
  loader: 'ts',
  format: 'esm',
  target: JSON.parse(tsconfig).compilerOptions.target.toLowerCase(),
  sourcemap: 'inline',
  tsconfigRaw: tsconfig,
};

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { code } = await transform(await readFile(file, 'utf8'), { ...OPTIONS, sourcefile: file });
  return { format: 'module', source: code, shortCircuit: true };
}
