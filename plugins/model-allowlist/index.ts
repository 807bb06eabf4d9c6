/** Refuses (400) a model outside the list, naming the supported ones. */
import { badRequest } from '../../gateway/errors.ts';
import { definePlugin } from '../../gateway/plugin.ts';

export interface ModelAllowlistConfig {
  models: string[];
}

export default definePlugin<ModelAllowlistConfig>({
  name: 'model-allowlist',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['models'],
    properties: { models: { type: 'array', items: { type: 'string' }, minItems: 1 } },
  },
  create(config) {
    const allowed = new Set(config.models);
    const list = config.models.join(', ');
    return {
      async onRequest(ctx) {
        const { model } = await ctx.json<{ model?: unknown }>();
        if (typeof model !== 'string' || !allowed.has(model)) {
          throw badRequest(
            `model ${JSON.stringify(model ?? null)} is not supported here; supported models: ${list}`,
            'UNSUPPORTED_MODEL',
          );
        }
      },
    };
  },
});
