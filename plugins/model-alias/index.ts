/**
 * Model names clients like: `aliases` maps a name a client may send (`gpt-4o`) to the model the upstreams
 * know (`openai/gpt-4o`). The name is replaced in the request before anything later in the chain reads it
 * (routing, prices, allow-lists), and the answer names the model the client asked for. Put it before them.
 */
import { ContextKey } from '../../gateway/context.ts';
import { definePlugin } from '../../gateway/plugin.ts';
import { rewriteAnswer } from '../../gateway/rewrite-answer.ts';

const ASKED = new ContextKey<string>('model-alias.asked');

/**
 * Every `"model": "…"` member in these bytes named `name` instead. An unescaped `"model":"` cannot occur
 * inside a JSON string (its quotes would be escaped), so only members match.
 */
function renamer(name: string): (bytes: Buffer) => Buffer {
  const member = /"model"\s*:\s*"(?:[^"\\]|\\.)*"/g;
  const replacement = `"model":${JSON.stringify(name)}`;
  return (bytes) => {
    if (bytes.indexOf('"model"') === -1) return bytes;
    return Buffer.from(bytes.toString('utf8').replace(member, replacement));
  };
}

export default definePlugin<{ aliases: Record<string, string> }>({
  name: 'model-alias',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['aliases'],
    properties: {
      aliases: { type: 'object', additionalProperties: { type: 'string', minLength: 1 } },
    },
  },
  create(config) {
    const aliases = new Map(Object.entries(config.aliases));
    return {
      async onRequest(ctx) {
        const body = await ctx.json<{ model?: unknown }>();
        const target = typeof body.model === 'string' ? aliases.get(body.model) : undefined;
        if (target === undefined) return;
        ctx.set(ASKED, body.model as string);
        body.model = target;
        ctx.jsonChanged();
      },
      onResponse(ctx, response) {
        const asked = ctx.get(ASKED);
        if (asked === undefined) return;
        const rename = renamer(asked);
        rewriteAnswer(response, { events: rename, whole: rename });
      },
    };
  },
});
