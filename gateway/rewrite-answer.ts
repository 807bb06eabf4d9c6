/**
 * Changes an answer on its way to the client: a stream by whole events, a JSON answer whole at its end. What
 * is changed is the plugin's (a model's name, a member of the usage); how the answer is held is this.
 */
import { isEventStream } from './content-type.ts';
import type { ResponseRewriter, UpstreamResponse } from './plugin.ts';
import { WholeEvents } from './sse-events.ts';

/** A JSON answer larger than this is no chat completion: it passes as it came, unchanged. */
const WHOLE_ANSWER_LIMIT = 1024 * 1024;

/** Holds a JSON answer whole, then changes it at its end; one past the limit passes as it came. */
function wholeAnswer(change: (bytes: Buffer) => Buffer): ResponseRewriter {
  let held: Buffer[] | undefined = [];
  let size = 0;
  return {
    onData(chunk) {
      if (!held) return chunk;
      held.push(chunk);
      size += chunk.length;
      if (size <= WHOLE_ANSWER_LIMIT) return Buffer.alloc(0);
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

/**
 * `change.events` gets a stream's whole events, `change.whole` a JSON answer; each returns the bytes to send.
 * A compressed answer is passed on as it is: its bytes are not the text to change.
 */
export function rewriteAnswer(
  response: UpstreamResponse,
  change: { events: (events: Buffer) => Buffer; whole: (answer: Buffer) => Buffer },
): void {
  if (response.headers['content-encoding']) return;
  response.rewrite(
    isEventStream(response.headers['content-type'])
      ? new WholeEvents(change.events)
      : wholeAnswer(change.whole),
  );
}
