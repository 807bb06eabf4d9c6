/**
 * Incremental readers for the streamed response body, for plugins' `onResponse` observers: the body
 * still flows to the client chunk by chunk; these only look.
 */
import type { ResponseObserver } from '../plugin.ts';

/** Calls `onEvent` with the data of each `data:` line of a server-sent event stream, as lines complete. */
export function sseObserver(
  onEvent: (data: string) => void,
  onEnd?: (info: { complete: boolean }) => void,
): ResponseObserver {
  let partial = '';
  return {
    onData(chunk) {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('data:')) onEvent(line.slice(5).trim());
      }
    },
    onEnd(info) {
      if (partial.startsWith('data:')) onEvent(partial.slice(5).trim());
      partial = '';
      onEnd?.(info);
    },
  };
}

/** Collects a JSON body (up to `limit` bytes) and parses it once at the end; undefined when it is not JSON. */
export function jsonObserver(
  limit: number,
  onJson: (value: unknown, info: { complete: boolean }) => void,
): ResponseObserver {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    onData(chunk) {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    },
    onEnd(info) {
      let value: unknown;
      if (size <= limit) {
        try {
          value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          value = undefined;
        }
      }
      onJson(value, info);
    },
  };
}
