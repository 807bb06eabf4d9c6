/** Turns a loaded config into a runnable Runtime: validated options, plugin instances, compiled routes. */
import type { IncomingMessage } from 'node:http';
import { clientAddressReader, type ClientAddress } from '../client-address.ts';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Chain, type ChainLink } from '../chain.ts';
import type { ErrorFormat, ErrorMapper } from '../errors.ts';
import type { PluginDefinition, PluginInstance, Services } from '../plugin.ts';
import { Router } from '../router.ts';
import { ConfigError, type LoadedConfig } from './load.ts';
import { checkRoutes, methodsOf } from './routes.ts';
import { coreSchema, type GatewayConfig, type PluginEntry } from './schema.ts';
import { fromEnvironment, validateAt } from './validate.ts';

export interface CompiledRoute {
  name: string;
  methods: string[];
  path: string;
  chain: Chain;
  errorFormat: ErrorFormat;
  bodyLimit: number;
}

export interface Runtime {
  config: GatewayConfig;
  /** The client address of a request, as `server.trust_proxy` says to read it. */
  clientAddress: (req: IncomingMessage) => ClientAddress;
  /** The plugins' mappers of their domain errors to answers. */
  errorMappers: readonly ErrorMapper[];
  router: Router<CompiledRoute>;
  routes: CompiledRoute[];
  close(): Promise<void>;
}

export type PluginRegistry = ReadonlyMap<string, PluginDefinition<unknown>>;

export interface BuildOptions {
  plugins: PluginRegistry;
  services: Omit<Services, 'configDir'>;
}

export async function buildRuntime(loaded: LoadedConfig, options: BuildOptions): Promise<Runtime> {
  validateAt(coreSchema, loaded.value, { config: loaded, path: [] });
  const config = loaded.value as GatewayConfig;
  checkRoutes(config.routes, loaded);
  let clientAddress: Runtime['clientAddress'];
  try {
    clientAddress = clientAddressReader(config.server, (peer) =>
      options.services.log.warn(
        { peer },
        'requests come through a proxy (X-Forwarded-For) that server.trust_proxy does not name: every client ' +
          'behind it counts as that proxy for the rate limits; name it in TRUST_PROXY',
      ),
    );
  } catch (error) {
    const where = loaded.locate(['server', 'trust_proxy']);
    throw new ConfigError(`${where}: ${(error as Error).message}`, loaded.file);
  }
  const registry = new Map(options.plugins);
  for (const [name, modulePath] of Object.entries(config.plugins)) {
    registry.set(name, await importPlugin(name, resolve(loaded.dir, modulePath), loaded));
  }
  const services: Services = { ...options.services, configDir: loaded.dir };
  const routes: CompiledRoute[] = [];
  try {
    for (const [index, route] of config.routes.entries()) {
      const path = ['routes', index, 'plugins'];
      const entries = expandEntries(route.plugins, config.chains, loaded, path, []);
      const links: ChainLink[] = [];
      for (const entry of entries) {
        const definition = registry.get(entry.name);
        if (!definition) {
          const known = [...registry.keys()].sort().join(', ');
          throw new ConfigError(
            `${loaded.locate(entry.path)}: unknown plugin "${entry.name}" (known: ${known})`,
            loaded.file,
          );
        }
        const at = [...entry.path, entry.name];
        validateAt(definition.schema, entry.options, { config: loaded, path: at });
        links.push({
          name: entry.name,
          instance: await createPlugin(definition, entry.options, services, { config: loaded, path: at }),
        });
      }
      const methods = methodsOf(route);
      routes.push({
        name: route.name ?? `${methods.join(',')} ${route.path}`,
        methods,
        path: route.path,
        chain: new Chain(links),
        errorFormat: route.error_format,
        bodyLimit: route.body_limit_bytes ?? config.server.body_limit_bytes,
      });
    }
  } catch (error) {
    await Promise.all(routes.map((r) => r.chain.close()));
    throw error;
  }
  const router = new Router(
    config.routes.map((route, i) => ({
      methods: methodsOf(route),
      path: route.path,
      value: routes[i]!,
    })),
  );
  const errorMappers = [
    ...new Set([...registry.values()].flatMap((definition) => definition.mapError ?? [])),
  ];
  return {
    config,
    clientAddress,
    errorMappers,
    router,
    routes,
    close: async () => {
      await Promise.all(routes.map((r) => r.chain.close()));
    },
  };
}

/** A plugin that refuses its options while starting is reported where they are written. */
async function createPlugin(
  definition: PluginDefinition<unknown>,
  options: Record<string, unknown>,
  services: Services,
  where: { config: LoadedConfig; path: (string | number)[] },
): Promise<PluginInstance> {
  try {
    return await definition.create(options, services);
  } catch (error) {
    const { config, path } = where;
    const reason = (error as Error).message;
    // A refusal that names one option (`pricing.daily_charge must be …`) is reported at that option.
    const option = /^[\w-]+\.(\w+) /.exec(reason)?.[1];
    const at = option !== undefined && option in options ? [...path, option] : path;
    throw new ConfigError(`${config.locate(at)}: ${reason}${fromEnvironment(config, at)}`, config.file);
  }
}

interface ResolvedEntry {
  name: string;
  options: Record<string, unknown>;
  path: (string | number)[];
}

function expandEntries(
  entries: PluginEntry[],
  chains: Record<string, PluginEntry[]>,
  loaded: LoadedConfig,
  path: (string | number)[],
  using: string[],
): ResolvedEntry[] {
  return entries.flatMap((entry, index): ResolvedEntry[] => {
    const at = [...path, index];
    if (typeof entry === 'string') return [{ name: entry, options: {}, path: at }];
    const [name, options] = Object.entries(entry)[0]!;
    if (name === 'use') {
      const chainName = String(options);
      const chain = chains[chainName];
      if (!chain) throw new ConfigError(`${loaded.locate(at)}: no chain named "${chainName}"`, loaded.file);
      if (using.includes(chainName)) {
        throw new ConfigError(`${loaded.locate(at)}: chain "${chainName}" uses itself`, loaded.file);
      }
      return expandEntries(chain, chains, loaded, ['chains', chainName], [...using, chainName]);
    }
    const opts = options === null || options === undefined ? {} : options;
    if (typeof opts !== 'object' || Array.isArray(opts)) {
      throw new ConfigError(
        `${loaded.locate(at)}: options of plugin "${name}" must be a mapping`,
        loaded.file,
      );
    }
    // A copy: ajv fills defaults in place, and a chain used by several routes must not share one object.
    return [{ name, options: structuredClone(opts as Record<string, unknown>), path: at }];
  });
}

async function importPlugin(
  name: string,
  file: string,
  loaded: LoadedConfig,
): Promise<PluginDefinition<unknown>> {
  let module: { default?: unknown; plugin?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown; plugin?: unknown };
  } catch (error) {
    throw new ConfigError(
      `${loaded.locate(['plugins', name])}: cannot load plugin "${name}" from ${file}: ${(error as Error).message}`,
      loaded.file,
    );
  }
  const definition = (module.default ?? module.plugin) as Partial<PluginDefinition<unknown>> | undefined;
  if (!definition || typeof definition.create !== 'function' || typeof definition.schema !== 'object') {
    throw new ConfigError(
      `${loaded.locate(['plugins', name])}: ${file} must export default { name, schema, create }`,
      loaded.file,
    );
  }
  return { ...definition, name } as PluginDefinition<unknown>;
}
