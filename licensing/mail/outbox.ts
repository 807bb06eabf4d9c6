/**
 * The mails of this data folder, each a JSON file in the folder of its state: `mail-queue` (waiting to go,
 * kept across restarts), `mail-sent` (kept a while, for the operator to look up), `mail-dead` (given up,
 * with the last error, until the operator retries it). A state change writes the new file before it removes
 * the old one, so a crash between the two leaves a mail twice, never lost.
 */
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** For logs and tests: license, credits, low_balance. */
  kind: string;
}

export const MAIL_STATES = ['pending', 'sent', 'dead'] as const;
export type MailState = (typeof MAIL_STATES)[number];

export interface MailRecord extends Mail {
  id: string;
  state: MailState;
  queuedAt: string;
  attempts: number;
  lastError?: string;
  sentAt?: string;
  deadAt?: string;
}

const FOLDERS: Record<MailState, string> = { pending: 'mail-queue', sent: 'mail-sent', dead: 'mail-dead' };
const ID = /^[\w-]{1,64}$/;

export class Outbox {
  constructor(private readonly dir: string) {}

  async open(): Promise<void> {
    for (const state of MAIL_STATES) await mkdir(this.folder(state), { recursive: true });
  }

  /** Writes a mail in its state's folder, and removes it from the folder of the state it left. */
  async save(record: MailRecord, from?: MailState): Promise<void> {
    const file = this.file(record.state, record.id);
    await writeFile(`${file}.tmp`, JSON.stringify(record));
    await rename(`${file}.tmp`, file);
    if (from && from !== record.state) await unlink(this.file(from, record.id)).catch(() => undefined);
  }

  /** Mails in a state, newest first. */
  async list(state: MailState, options: { limit?: number } = {}): Promise<MailRecord[]> {
    const records: MailRecord[] = [];
    for (const name of await readdir(this.folder(state)).catch(() => [])) {
      if (!name.endsWith('.json')) continue;
      const record = await this.read(state, name.slice(0, -'.json'.length));
      if (record) records.push(record);
    }
    records.sort((a, b) => b.queuedAt.localeCompare(a.queuedAt));
    return options.limit === undefined ? records : records.slice(0, options.limit);
  }

  /** A mail by id, in whichever state it is. */
  async find(id: string): Promise<MailRecord | undefined> {
    if (!ID.test(id)) return undefined;
    for (const state of MAIL_STATES) {
      const record = await this.read(state, id);
      if (record) return record;
    }
    return undefined;
  }

  /** Forgets sent mails older than `ms`: the record of a sent mail is for looking up, not for ever. */
  async pruneSent(olderThanMs: number, now: number): Promise<void> {
    for (const name of await readdir(this.folder('sent')).catch(() => [])) {
      const file = join(this.folder('sent'), name);
      const { mtimeMs } = await stat(file);
      if (now - mtimeMs > olderThanMs) await unlink(file).catch(() => undefined);
    }
  }

  private async read(state: MailState, id: string): Promise<MailRecord | undefined> {
    try {
      const saved = JSON.parse(await readFile(this.file(state, id), 'utf8')) as Partial<MailRecord>;
      // Mails queued before states were kept carry neither: they are pending, queued when first read.
      return { queuedAt: new Date().toISOString(), attempts: 0, ...saved, state } as MailRecord;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private folder(state: MailState): string {
    return join(this.dir, FOLDERS[state]);
  }

  private file(state: MailState, id: string): string {
    return join(this.folder(state), `${id}.json`);
  }
}
