/**
 * Every model a request body may be answered by: the one it names and those of OpenRouter's fallback list
 * (`models`), which answers with any of them when the first fails. A plugin that limits the models a request
 * may reach checks them all.
 */
export function namedModels(body: { model?: unknown; models?: unknown }): unknown[] {
  const { model, models } = body;
  if (models === undefined || models === null) return [model];
  return [model, ...(Array.isArray(models) ? (models as unknown[]) : [models])];
}
