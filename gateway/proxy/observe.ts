/**
 * Incremental readers for the streamed response body, for plugins' `onResponse` observers: the body
 * still flows to the client chunk by chunk; these only look.
 */
import type { ResponseObserver } from '../plugin.ts';

export const NEWLINE = 0x0a;

/**
 * Hands an event stream's bytes over in whole lines: at the end, or whenever more than `limit` bytes wait.
 * A reader that wants the stream's last events (usage) then looks once per stream, not at every chunk, and
 * decodes only what it must. A line (and so a character) is never cut in two: a newline byte never occurs
 * inside a multi-byte UTF-8 character. A single line longer than `limit` is skipped, so memory stays
 * bounded whatever the upstream sends.
 */
export function sseLinesObserver(
  options: { limit: number },
  onLines: (lines: Buffer) => void,
): ResponseObserver {
  let waiting: Buffer[] = [];
  let size = 0;
  /** Dropping the rest of an over-long line, up to its newline. */
  let skipping = false;
  const handOver = (final: boolean) => {
    const bytes = waiting.length === 1 ? waiting[0]! : Buffer.concat(waiting, size);
    const cut = final ? bytes.length : bytes.lastIndexOf(NEWLINE) + 1;
    skipping = cut === 0 && !final;
    waiting = cut > 0 && cut < bytes.length ? [bytes.subarray(cut)] : [];
    size = waiting.length === 0 ? 0 : bytes.length - cut;
    if (cut > 0) onLines(cut === bytes.length ? bytes : bytes.subarray(0, cut));
  };
  return {
    onData(chunk) {
      if (skipping) {
        const newline = chunk.indexOf(NEWLINE);
        if (newline === -1) return;
        skipping = false;
        chunk = chunk.subarray(newline + 1);
      }
      waiting.push(chunk);
      size += chunk.length;
      if (size > options.limit) handOver(false);
    },
    onEnd() {
      if (size > 0) handOver(true);
    },
  };
}
