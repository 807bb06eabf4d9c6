/**
 * A rewriter of server-sent events that passes whole events only (a client acts on none before its blank
 * line anyway), holding back the unfinished one at a chunk's end, so an event split between chunks is
 * changed whole. `change` gets whole events and returns their bytes to send.
 */
import type { ResponseRewriter } from './plugin.ts';

/** A partial event held back longer than this is sent on as it is. */
const HOLD_LIMIT = 64 * 1024;

export class WholeEvents implements ResponseRewriter {
  private held: Buffer | undefined;

  constructor(private readonly change: (events: Buffer) => Buffer) {}

  onData(chunk: Buffer): Buffer {
    const data = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = undefined;
    const whole = wholeEventsEnd(data);
    if (data.length - whole > HOLD_LIMIT) return data;
    if (whole < data.length) this.held = data.subarray(whole);
    return this.change(data.subarray(0, whole));
  }

  /** An unfinished event at the end: the stream ended without its blank line. */
  onEnd(): Buffer | undefined {
    const held = this.held;
    this.held = undefined;
    return held && this.change(held);
  }
}

/** Where the last whole event ends (after its blank line); 0 when none is whole. */
function wholeEventsEnd(bytes: Buffer): number {
  const lf = bytes.lastIndexOf('\n\n');
  const crlf = bytes.lastIndexOf('\n\r\n');
  return Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 3);
}
