/**
 * Where a path of the config value is written in the YAML text, for error messages: the line of the key
 * that names it, and inside an alias (`*prices`) the line in the anchored node (`&prices`) it stands for,
 * since that is where the operator must mend it.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

type YamlPath = readonly (string | number)[];

interface Found {
  /** The deepest node of the path written in the text, and the key node that names it, when in a mapping. */
  node: Node | undefined;
  key: Node | undefined;
  /** The anchors the path went through, outermost first. */
  anchors: string[];
}

export function locate(doc: Document, lineCounter: LineCounter, file: string, path: YamlPath): string {
  const shown = formatPath(path);
  const { node, key, anchors } = walk(doc, path);
  const range = (key ?? node)?.range;
  if (!range) return `${file} at ${shown}`;
  const { line } = lineCounter.linePos(range[0]);
  const via = anchors.length > 0 ? ` (in the anchor &${anchors.at(-1)})` : '';
  return `${file}:${line} at ${shown}${via}`;
}

/** Follows the path node by node; generated list items ($numbered_env) end it at their nearest parent. */
function walk(doc: Document, path: YamlPath): Found {
  const found: Found = { node: doc.contents ?? undefined, key: undefined, anchors: [] };
  for (const part of path) {
    let current = found.node;
    if (isAlias(current)) {
      found.anchors.push(current.source);
      current = current.resolve(doc) ?? undefined;
    }
    if (isMap(current)) {
      const pair = current.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(part),
      );
      if (!pair) break;
      found.key = pair.key as Node;
      found.node = (pair.value as Node | null) ?? undefined;
    } else if (isSeq(current) && typeof part === 'number' && part < current.items.length) {
      found.key = undefined;
      found.node = current.items[part] as Node;
    } else {
      break;
    }
  }
  return found;
}

export function formatPath(path: YamlPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out || '(root)';
}
