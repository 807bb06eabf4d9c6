/**
 * Lines of text gathered as UTF-8 bytes, off the JavaScript heap. A journal batch lingers ~50 ms for company:
 * kept as strings, every usage charge's text (a tree of concatenated pieces) lived through two or three
 * young-generation collections, was copied by each and then promoted, to die in the old generation. As
 * bytes, the text is garbage the moment it is added.
 */
export class LineBuffer {
  private buffer: Buffer;
  private used = 0;

  /** Starts small by default: most licenses have a ledger line or two in a batch. */
  constructor(initialBytes = 512) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.used;
  }

  /** Appends the line's text and a newline. */
  add(line: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8 (a surrogate pair, 4 bytes for 2 units).
    this.reserve(line.length * 3 + 1);
    this.used += this.buffer.write(line, this.used, 'utf8');
    this.buffer[this.used++] = NEWLINE;
  }

  /** Appends lines already encoded, newlines included. */
  addBytes(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.used);
    this.used += bytes.length;
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
