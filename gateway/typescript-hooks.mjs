// The module hook `typescript.mjs` registers: a .ts file is loaded as the JavaScript esbuild makes of it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

/** As `tsc` reads tsconfig.json: imports kept as written, class fields defined (ES2022). */
const OPTIONS = {
  loader: 'ts',
  format: 'esm',
  target: 'es2022',
  sourcemap: 'inline',
  tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } },
};

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { code } = await transform(await readFile(file, 'utf8'), { ...OPTIONS, sourcefile: file });
  return { format: 'module', source: code, shortCircuit: true };
}
