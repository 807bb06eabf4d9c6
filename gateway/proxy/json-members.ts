/**
 * Top-level members of a JSON object body, read without parsing it: as a response streams by (a plugin's
 * observer), or from a body whole in memory.
 */
import type { ResponseObserver } from '../plugin.ts';
import { JsonMembersScan, oddBackslashesBefore, type JsonMembers } from './json-scan.ts';

export type { JsonMembers } from './json-scan.ts';

/**
 * Picks chosen top-level members out of a JSON object body as it streams by. An answer up to `limit` bytes is
 * held (its chunks, not copied) and read at its end by `jsonMembersFromEnd`; a longer one is scanned as it
 * comes, keeping only slices of the chunks that hold each wanted member's value (up to `limit` bytes each).
 * A key inside a nested object or a string never matches.
 */
export function jsonMembersObserver(
  names: readonly string[],
  options: { limit: number },
  onEnd: (members: JsonMembers, info: { complete: boolean }) => void,
): ResponseObserver {
  return new HeldJsonObserver(names, options.limit, onEnd);
}

const noEnd = () => undefined;

/** The chosen top-level members of a JSON object that is whole in memory, by one scan of all of it (no parse). */
export function jsonMembersOf(
  json: Buffer,
  names: readonly string[],
  options: { limit: number },
): JsonMembers {
  const scan = new JsonMembersScan(names, options.limit, noEnd);
  scan.onData(json);
  return scan.members();
}

/**
 * The chosen top-level members of a JSON object that is whole in memory, each looked for from the end: an
 * answer's `usage` is its last member, so only the bytes from its key on are scanned (~70 of a 300-byte
 * answer), not the choices before it. Falls back to scanning the whole object when the last such key is
 * not a member of the top-level object (a nested one, or a string value that spells it).
 */
export function jsonMembersFromEnd(
  json: Buffer,
  names: readonly string[],
  options: { limit: number },
): JsonMembers {
  return new MembersFromEnd(json, names, options.limit);
}

/** Holds an answer's chunks while they fit in `limit`; past it, scans them and the rest as they come. */
class HeldJsonObserver implements ResponseObserver {
  private held: Buffer[] = [];
  private size = 0;
  private scan: JsonMembersScan | undefined;

  constructor(
    private readonly names: readonly string[],
    private readonly limit: number,
    private readonly onEndRead: (members: JsonMembers, info: { complete: boolean }) => void,
  ) {}

  onData(chunk: Buffer): void {
    if (this.scan) return this.scan.onData(chunk);
    this.held.push(chunk);
    this.size += chunk.length;
    if (this.size <= this.limit) return;
    this.scan = new JsonMembersScan(this.names, this.limit, this.onEndRead);
    for (const part of this.held) this.scan.onData(part);
    this.held = [];
  }

  onEnd(info: { complete: boolean }): void {
    if (this.scan) return this.scan.onEnd(info);
    const { held } = this;
    const json = held.length === 1 ? held[0]! : Buffer.concat(held, this.size);
    this.onEndRead(jsonMembersFromEnd(json, this.names, { limit: this.limit }), info);
  }
}

/** `jsonMembersFromEnd`'s members: each found from the end on demand, the whole scan done once if needed. */
class MembersFromEnd implements JsonMembers {
  private scanned: JsonMembers | undefined;

  constructor(
    private readonly json: Buffer,
    private readonly names: readonly string[],
    private readonly limit: number,
  ) {}

  bytes(name: string): Buffer | undefined {
    const found = lastMember(this.json, name, this.limit);
    if (found !== UNSURE) return found;
    this.scanned ??= jsonMembersOf(this.json, this.names, { limit: this.limit });
    return this.scanned.bytes(name);
  }

  text(name: string): string | undefined {
    return this.bytes(name)?.toString('utf8');
  }
}

/** The last key `name` was not shown to be a top-level member: only a scan of the whole object can tell. */
const UNSURE = Symbol('unsure');

/** Wanted names as the raw bytes of their quoted keys. */
const quotedKeys = new Map<string, Buffer>();

/**
 * The top-level member `name` of a whole JSON object, from the last raw `"name"` in it: undefined when there
 * is none (a key is compared raw, as the scan does) or its value is over `limit`. A quote after an odd run of
 * backslashes is inside a string and is passed over. The key is a top-level member when a scan from it, taken
 * to be in the top-level object, ends that object exactly at the last byte of JSON.
 */
function lastMember(json: Buffer, name: string, limit: number): Buffer | undefined | typeof UNSURE {
  let key = quotedKeys.get(name);
  if (!key) quotedKeys.set(name, (key = Buffer.from(JSON.stringify(name))));
  let at = json.lastIndexOf(key);
  while (at > 0 && oddBackslashesBefore(json, 0, at)) at = json.lastIndexOf(key, at - 1);
  if (at === -1) return undefined;
  const scan = new JsonMembersScan([name], limit, noEnd);
  if (!scan.endsTopLevelObject(json, at)) return UNSURE;
  const members = scan.members();
  return scan.hasFound(name) ? members.bytes(name) : UNSURE;
}
