/**
 * Outgoing mail that never blocks or fails the caller: each mail is first kept in the outbox (so it survives
 * a restart), then delivered in the background by SMTP (SMTP_URL) or, without SMTP, written as an .eml file
 * to DATA_DIR/outbox. A failed delivery is retried with growing delays for a bounded time, then kept as dead
 * with its last error, for the operator to see and retry.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Counter } from 'prom-client';
import type { Logger } from 'pino';
import type { Metrics } from '../../gateway/metrics.ts';
import type { Clock } from '../../gateway/plugin.ts';
import { Outbox, type Mail, type MailRecord } from './outbox.ts';

export type { Mail } from './outbox.ts';

export interface MailerOptions {
  dir: string;
  smtpUrl?: string;
  from: string;
  log: Logger;
  metrics: Metrics;
  clock: Clock;
  /** First retry delay; doubles per attempt up to 5 minutes. */
  retryMs: number;
  /** How long after it was queued a mail that still fails is given up. */
  giveUpMs: number;
}

const MAX_DELAY_MS = 5 * 60 * 1000;
const KEEP_SENT_MS = 30 * 24 * 60 * 60 * 1000;

export type RetryResult =
  { status: 'sent' } | { status: 'failed'; error: string } | { status: 'not_found' | 'not_dead' };

export class Mailer {
  readonly outbox: Outbox;
  private readonly transport: Transporter;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly results: Counter<'result'>;
  private closed = false;
  private started: Promise<void> = Promise.resolve();

  constructor(private readonly options: MailerOptions) {
    this.outbox = new Outbox(options.dir);
    this.transport = options.smtpUrl
      ? nodemailer.createTransport(options.smtpUrl)
      : nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
    this.results = options.metrics.counter(
      'cradle_mail_deliveries_total',
      'Mail delivery attempts by result: sent, failed (retried later) or dead (given up)',
      ['result'],
    );
  }

  /** Opens the outbox and sends again what a previous run left waiting: for the gateway's one mailer. */
  start(): Promise<void> {
    this.started = (async () => {
      await this.open();
      await this.outbox.pruneSent(KEEP_SENT_MS, this.options.clock.now());
      for (const record of await this.outbox.list('pending')) void this.deliver(record);
    })();
    return this.started;
  }

  /** Opens the outbox without sending what waits there (the gateway does): for the operator's tools. */
  open(): Promise<void> {
    this.started = (async () => {
      await this.outbox.open();
      await mkdir(join(this.options.dir, 'outbox'), { recursive: true });
    })();
    return this.started;
  }

  /** Queues a mail and returns at once; delivery happens in the background. */
  send(mail: Mail): void {
    const record: MailRecord = {
      ...mail,
      id: randomUUID(),
      state: 'pending',
      queuedAt: new Date(this.options.clock.now()).toISOString(),
      attempts: 0,
    };
    this.started
      .then(() => this.outbox.save(record))
      .then(() => this.deliver(record))
      .catch((error: unknown) =>
        this.options.log.error({ err: error, kind: mail.kind }, 'mail could not be queued'),
      );
  }

  /** Tries a dead mail once more, now: sent, or dead again with the new error. */
  async retry(id: string): Promise<RetryResult> {
    await this.started;
    const record = await this.outbox.find(id);
    if (!record) return { status: 'not_found' };
    if (record.state !== 'dead') return { status: 'not_dead' };
    const error = await this.attempt(record);
    if (error === undefined) return { status: 'sent' };
    await this.outbox.save({ ...record, attempts: record.attempts + 1, lastError: error }, 'dead');
    return { status: 'failed', error };
  }

  private async deliver(record: MailRecord): Promise<void> {
    if (this.closed) return;
    const error = await this.attempt(record);
    if (error === undefined) return;
    const { log, clock } = this.options;
    const failed = { ...record, attempts: record.attempts + 1, lastError: error };
    const queuedFor = clock.now() - Date.parse(record.queuedAt);
    if (queuedFor >= this.options.giveUpMs) {
      this.results.inc({ result: 'dead' });
      const dead: MailRecord = { ...failed, state: 'dead', deadAt: new Date(clock.now()).toISOString() };
      await this.outbox.save(dead, 'pending').catch(() => undefined);
      log.error({ kind: record.kind, id: record.id, attempts: failed.attempts, error }, 'mail given up');
      return;
    }
    this.results.inc({ result: 'failed' });
    const delay = Math.min(this.options.retryMs * 2 ** record.attempts, MAX_DELAY_MS);
    log.warn(
      { kind: record.kind, id: record.id, attempts: failed.attempts, retryInMs: delay, error },
      'mail not sent; will retry',
    );
    await this.outbox.save(failed).catch(() => undefined);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.deliver(failed);
    }, delay);
    timer.unref();
    this.timers.add(timer);
  }

  /** One delivery: on success the mail is kept as sent; on failure, the error's message. */
  private async attempt(record: MailRecord): Promise<string | undefined> {
    try {
      const { to, subject, text } = record;
      const info = await this.transport.sendMail({ from: this.options.from, to, subject, text });
      if (!this.options.smtpUrl) {
        await writeFile(
          join(this.options.dir, 'outbox', `${record.id}.eml`),
          (info as { message: Buffer }).message,
        );
      }
    } catch (error) {
      return (error as Error).message;
    }
    this.results.inc({ result: 'sent' });
    const sentAt = new Date(this.options.clock.now()).toISOString();
    await this.outbox.save({ ...record, state: 'sent', sentAt }, record.state).catch(() => undefined);
    this.options.log.info({ kind: record.kind, id: record.id }, 'mail sent');
    return undefined;
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.transport.close();
  }
}
