/**
 * Outgoing mail that never blocks or fails the caller: each mail is first written to a queue folder
 * (so it survives a restart), then delivered in the background by SMTP (SMTP_URL) or, without SMTP, written
 * as an .eml file to DATA_DIR/outbox. A failed delivery is retried with growing delays until it goes.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** For logs and tests: license, credits, low_balance. */
  kind: string;
}

interface Queued extends Mail {
  id: string;
  attempts: number;
}

export interface MailerOptions {
  dir: string;
  smtpUrl?: string;
  from: string;
  log: Logger;
  /** First retry delay; doubles per attempt up to 5 minutes. */
  retryMs: number;
}

const MAX_DELAY_MS = 5 * 60 * 1000;

export class Mailer {
  private readonly queueDir: string;
  private readonly outboxDir: string;
  private readonly transport: Transporter;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private started: Promise<void> = Promise.resolve();

  constructor(private readonly options: MailerOptions) {
    this.queueDir = join(options.dir, 'mail-queue');
    this.outboxDir = join(options.dir, 'outbox');
    this.transport = options.smtpUrl
      ? nodemailer.createTransport(options.smtpUrl)
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  /** Loads mails a previous run left undelivered and sends them again. */
  start(): Promise<void> {
    this.started = this.load();
    return this.started;
  }

  private async load(): Promise<void> {
    await mkdir(this.queueDir, { recursive: true });
    await mkdir(this.outboxDir, { recursive: true });
    for (const name of await readdir(this.queueDir)) {
      if (!name.endsWith('.json')) continue;
      const queued = JSON.parse(await readFile(join(this.queueDir, name), 'utf8')) as Queued;
      void this.deliver(queued);
    }
  }

  /** Queues a mail and returns at once; delivery happens in the background. */
  send(mail: Mail): void {
    const queued: Queued = { ...mail, id: randomUUID(), attempts: 0 };
    this.started
      .then(() => writeFile(join(this.queueDir, `${queued.id}.json`), JSON.stringify(queued)))
      .then(() => this.deliver(queued))
      .catch((error: unknown) =>
        this.options.log.error({ err: error, kind: mail.kind }, 'mail could not be queued'),
      );
  }

  private async deliver(queued: Queued): Promise<void> {
    if (this.closed) return;
    try {
      const info = await this.transport.sendMail({
        from: this.options.from,
        to: queued.to,
        subject: queued.subject,
        text: queued.text,
      });
      if (!this.options.smtpUrl) {
        await writeFile(join(this.outboxDir, `${queued.id}.eml`), (info as { message: Buffer }).message);
      }
      await unlink(join(this.queueDir, `${queued.id}.json`)).catch(() => undefined);
      this.options.log.info({ kind: queued.kind, id: queued.id }, 'mail sent');
    } catch (error) {
      queued.attempts++;
      const delay = Math.min(this.options.retryMs * 2 ** (queued.attempts - 1), MAX_DELAY_MS);
      this.options.log.warn(
        { kind: queued.kind, attempts: queued.attempts, retryInMs: delay, error: (error as Error).message },
        'mail not sent; will retry',
      );
      await writeFile(join(this.queueDir, `${queued.id}.json`), JSON.stringify(queued)).catch(
        () => undefined,
      );
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void this.deliver(queued);
      }, delay);
      timer.unref();
      this.timers.add(timer);
    }
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.transport.close();
  }
}
