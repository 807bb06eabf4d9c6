/**
 * Records each request of its route in the request log once it has finished: license, device, model,
 * upstream, status, latency, time to first token, tokens and what it was charged. Put it after `billing`:
 * the charge is settled by then. Recording never delays or fails the request.
 */
import { ContextKey, type Context } from '../../gateway/context.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { DEVICE_ID_MAX_LENGTH } from '../../licensing/credentials.ts';
import { creditsByModel, tokensByModel } from '../../licensing/metrics.ts';
import { settledCharge } from '../../licensing/request-charge.ts';
import type { RequestRecord } from '../../licensing/requests/record.ts';
import { requestLog } from '../../licensing/requests/resource.ts';
import { ANSWER_FAILED, LICENSE, USAGE } from '../keys.ts';

/** The model the client asked for, kept when its answer begins: the body is let go then. */
const MODEL_ASKED = new ContextKey<string>('request-log.modelAsked');

function modelAsked(ctx: Context): string | undefined {
  const body = ctx.jsonIfParsed as { model?: unknown } | undefined;
  return typeof body?.model === 'string' ? body.model : undefined;
}

export default definePlugin<Record<string, never>>({
  name: 'request-log',
  schema: { type: 'object', additionalProperties: false, properties: {} },
  create(_config, services) {
    const log = requestLog(services);
    const tokens = tokensByModel(services.metrics);
    const credits = creditsByModel(services.metrics);
    return {
      onResponse(ctx) {
        const model = modelAsked(ctx);
        if (model) ctx.set(MODEL_ASKED, model);
      },
      onFinish(ctx, outcome) {
        const charge = settledCharge(ctx);
        const charged = charge?.usage;
        const usage = ctx.get(USAGE);
        const model = usage?.model ?? ctx.get(MODEL_ASKED) ?? modelAsked(ctx);
        const record: RequestRecord = {
          time: services.clock.now(),
          requestId: ctx.id,
          route: ctx.routeName,
          status: outcome.status,
          latencyMs: Math.round(outcome.durationMs * 10) / 10,
          credits: -((charged?.amount ?? 0) + (charge?.daily?.amount ?? 0)),
        };
        // Absent fields stay absent: the stores leave them out.
        const license = ctx.get(LICENSE)?.key;
        const device = ctx.header('x-device-id');
        // The first token as the answer's reader saw it, else the first bytes (a comment may come first).
        const ttft =
          usage?.firstTokenAt !== undefined
            ? usage.firstTokenAt - ctx.startedAt
            : outcome.upstream?.firstByteMs;
        if (license) record.license = license;
        if (device) record.device = device.slice(0, DEVICE_ID_MAX_LENGTH);
        if (model) record.model = model.slice(0, 200);
        if (outcome.upstream) record.upstream = outcome.upstream.target;
        if (ttft !== undefined) record.ttftMs = Math.round(ttft * 10) / 10;
        if (usage) {
          record.promptTokens = usage.promptTokens;
          record.completionTokens = usage.completionTokens;
          record.estimated = usage.estimated;
        }
        if (outcome.error) record.errorCode = outcome.error.code;
        else if (ctx.get(ANSWER_FAILED) !== undefined) record.errorCode = 'UPSTREAM_ERROR';
        log.record(record);
        // Only a charged usage names a model in metrics: it had a price, so the labels stay few.
        if (usage && charged) {
          tokens.inc({ model: usage.model, kind: 'prompt' }, usage.promptTokens);
          tokens.inc({ model: usage.model, kind: 'completion' }, usage.completionTokens);
          credits.inc({ model: usage.model }, -charged.amount);
        }
      },
    };
  },
});
