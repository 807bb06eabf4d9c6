/**
 * Every model a request body may be answered by: the one it names and those of OpenRouter's fallback list
 * (`models`), which answers with any of them when the first fails. A plugin that limits the models a request
 * may reach checks them all.
 */
function namedModels(body: { model?: unknown; models?: unknown }): unknown[] {
  const { model, models } = body;
  if (models === undefined || models === null) return [model];
  return [model, ...(Array.isArray(models) ? (models as unknown[]) : [models])];
}

/** The first model the body names that is no name or that `allows` refuses; undefined when there is none. */
export function modelOutside(
  body: { model?: unknown; models?: unknown },
  allows: (model: string) => boolean,
): { model: unknown } | undefined {
  const named = namedModels(body);
  const index = named.findIndex((model) => typeof model !== 'string' || !allows(model));
  return index === -1 ? undefined : { model: named[index] };
}
