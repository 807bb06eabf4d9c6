/**
 * A rewriter of an answer that is one document (a JSON answer): held whole, then changed at its end. One
 * larger than the limit passes as it came, unchanged: it is not the small document the change is for.
 */
import type { ResponseRewriter } from './plugin.ts';

export function wholeAnswer(change: (bytes: Buffer) => Buffer, options: { limit: number }): ResponseRewriter {
  let held: Buffer[] | undefined = [];
  let size = 0;
  return {
    onData(chunk) {
      if (!held) return chunk;
      held.push(chunk);
      size += chunk.length;
      if (size <= options.limit) return Buffer.alloc(0);
      const all = Buffer.concat(held);
      held = undefined;
      return all;
    },
    onEnd() {
      const all = held && Buffer.concat(held);
      held = undefined;
      return all && change(all);
    },
  };
}
