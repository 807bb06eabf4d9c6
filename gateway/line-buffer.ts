/**
 * Lines of text gathered as UTF-8 bytes, off the JavaScript heap, for a batched write (the store's journal
 * and ledger files, stdout's log). A journal batch lingers ~50 ms for company: kept as strings, every usage
 * charge's text (a tree of concatenated pieces) lived through two or three young-generation collections,
 * was copied by each and then promoted, to die in the old generation. As bytes, the text is garbage the
 * moment it is added.
 *
 * The buffers themselves are reused (`take`, `recycle`): a batch's buffer lives as long as its text would
 * have, so a new one per batch was promoted too, and under load the dead buffers and their off-heap bytes
 * brought a full collection every ~0.6 s (measured: 7–8 in 5 s, none when reused; the paid chain 2–10 %
 * more requests a second in interleaved runs).
 */
export class LineBuffer {
  private buffer: Buffer;
  private used = 0;
  private spare = false;

  /** A buffer its owner keeps; `take` gives one from the spares. */
  constructor(initialBytes = 512) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** A spare buffer if there is one, else a new one (small by default: most licenses have a line or two). */
  static take(initialBytes = 512): LineBuffer {
    const lines = spares.pop() ?? new LineBuffer(initialBytes);
    lines.spare = false;
    return lines;
  }

  /** Empties the buffer and keeps it for reuse: only once nothing reads its bytes any more (a write is done). */
  recycle(): void {
    if (this.spare || spares.length >= MAX_SPARES || this.buffer.length > MAX_SPARE_BYTES) return;
    this.clear();
    this.spare = true;
    spares.push(this);
  }

  get length(): number {
    return this.used;
  }

  /** Appends the line's text and a newline. */
  add(line: string): void {
    this.addText(line);
    this.reserve(1);
    this.buffer[this.used++] = NEWLINE;
  }

  /** Appends text as it is (lines that end in their own newline). */
  addText(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8 (a surrogate pair, 4 bytes for 2 units).
    this.reserve(text.length * 3);
    this.used += this.buffer.write(text, this.used, 'utf8');
  }

  /** Appends lines already encoded, newlines included. */
  addBytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** Empties the buffer, keeping its room. */
  clear(): void {
    this.used = 0;
  }

  /** The bytes gathered so far (a view, not a copy). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }

  private reserve(extra: number): void {
    if (this.used + extra <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.used + extra));
    this.buffer.copy(grown, 0, 0, this.used);
    this.buffer = grown;
  }
}

const NEWLINE = 0x0a;

/** At most this many spare buffers of at most this size (16 MiB in all), so a burst's memory goes back. */
const MAX_SPARES = 16;
const MAX_SPARE_BYTES = 1024 * 1024;
const spares: LineBuffer[] = [];
