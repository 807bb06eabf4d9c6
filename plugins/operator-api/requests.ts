/** The request log and its statistics as the operator API answers them: filters, pages, CSV. */
import { csvAnswer } from '../../gateway/csv.ts';
import { badRequest, notFound, unavailable } from '../../gateway/errors.ts';
import type { Context } from '../../gateway/context.ts';
import { time, whole } from './params.ts';
import type { Answer, Services } from '../../gateway/plugin.ts';
import { maskLicenseKey } from '../../licensing/keys.ts';
import { toCredits } from '../../licensing/money.ts';
import { STAT_DIMENSIONS, type RequestFilter, type StatDimension } from '../../licensing/requests/log.ts';
import { REQUEST_FIELDS, requestView } from '../../licensing/requests/record.ts';
import { requestLog, requestLogSettings } from '../../licensing/requests/resource.ts';
import type { LicenseStore } from '../../licensing/types.ts';

const HOUR_MS = 60 * 60 * 1000;

/** The filter the query string asks for; `email` names the email's license. */
async function filterOf(ctx: Context, store: LicenseStore): Promise<RequestFilter> {
  const filter: RequestFilter = {};
  const email = ctx.query.get('email');
  if (email !== null) {
    const license = await store.findByEmail(email);
    if (!license) throw notFound('no license for this email');
    filter.license = license.key;
  }
  for (const name of ['license', 'model', 'upstream'] as const) {
    const value = ctx.query.get(name);
    if (value !== null) filter[name] = value;
  }
  const status = whole(ctx, 'status', { min: 0, max: 599 });
  const from = time(ctx, 'from');
  const to = time(ctx, 'to');
  return {
    ...filter,
    ...(status === undefined ? {} : { status }),
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
  };
}

export async function requestsAnswer(ctx: Context, services: Services, store: LicenseStore): Promise<Answer> {
  const filter = await filterOf(ctx, store);
  const limit = whole(ctx, 'limit', { min: 1, max: 1000 }) ?? 50;
  const before = whole(ctx, 'before', { min: 1, max: Number.MAX_SAFE_INTEGER });
  const page = await fromLog(
    requestLog(services).query(filter, {
      limit,
      ...(before === undefined ? {} : { before }),
    }),
  );
  const rows = page.records.map((record) => ({ id: record.id, ...requestView(record) }));
  if (ctx.query.get('format') === 'csv')
    return csvAnswer(['id', ...REQUEST_FIELDS.map((field) => field.api)], rows, page);
  return { body: { success: true, requests: rows, next: page.next } };
}

export async function statsAnswer(ctx: Context, services: Services): Promise<Answer> {
  const period = ctx.query.get('period') ?? 'hour';
  if (period !== 'hour' && period !== 'day') throw badRequest('period must be hour or day', 'INVALID_FIELD');
  const dimension = ctx.query.get('dimension') ?? 'all';
  if (!(STAT_DIMENSIONS as readonly string[]).includes(dimension))
    throw badRequest(`dimension must be one of ${STAT_DIMENSIONS.join(', ')}`, 'INVALID_FIELD');
  const { buckets } = requestLogSettings(services.env);
  const now = services.clock.now();
  const name = (ms: number) => (period === 'hour' ? buckets.hour(ms) : buckets.day(ms));
  const pattern = period === 'hour' ? /^\d{4}-\d{2}-\d{2}T\d{2}$/ : /^\d{4}-\d{2}-\d{2}$/;
  const bucket = (param: string, fallback: number) => {
    const text = ctx.query.get(param) ?? name(fallback);
    // A bucket names a real hour or day: 2026-02-30 would be read as a day of March.
    const instant = new Date(period === 'hour' ? `${text}:00:00Z` : `${text}T00:00:00Z`);
    if (!pattern.test(text) || Number.isNaN(instant.getTime()) || !instant.toISOString().startsWith(text))
      throw badRequest(
        `${param} must be ${period === 'hour' ? 'an hour, e.g. 2026-12-06T08' : 'a day, e.g. 2026-12-06'}`,
        'INVALID_FIELD',
      );
    return text;
  };
  const span = period === 'hour' ? 23 * HOUR_MS : 29 * 24 * HOUR_MS;
  const [from, to] = [bucket('from', now - span), bucket('to', now)];
  const rows = await fromLog(
    requestLog(services).stats({ period, dimension: dimension as StatDimension, from, to }),
  );
  const stats = rows.map((row) => ({
    bucket: row.bucket,
    key: dimension === 'license' ? maskLicenseKey(row.key) : row.key,
    requests: row.requests,
    errors: row.errors,
    prompt_tokens: row.promptTokens,
    completion_tokens: row.completionTokens,
    credits: toCredits(row.credits),
    latency_ms_avg: row.requests ? Math.round((row.latencyMsSum / row.requests) * 10) / 10 : 0,
  }));
  // `from` and `to` name the buckets asked for: those without requests are not listed.
  return { body: { success: true, period, dimension, from, to, stats } };
}

/** The log's answer; a log that cannot answer (its store down, its thread gone) is a 503, not a 500. */
async function fromLog<T>(answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (error) {
    throw unavailable(`the request log cannot answer now: ${(error as Error).message}`, 'LOG_UNAVAILABLE');
  }
}
