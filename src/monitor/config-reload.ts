// Reloading the configuration on request ($SYS.REQ.SERVER.<id>.RELOAD). The binary knows
// how its options were built (config file plus command-line flags on top) and can register
// that recipe; otherwise the config file alone is read again.
import type { Server } from "../server/server.js";
import type { ServerOptions } from "../config/options.js";
import { loadConfigFile, validateOptions } from "../config/load.js";

export type ConfigReloader = () => ServerOptions;

const reloaders = new WeakMap<Server, ConfigReloader>();

/** Register how to rebuild `server`'s options (e.g. the config file, then the same flags). */
export function setConfigReloader(server: Server, reloader: ConfigReloader): void {
  reloaders.set(server, reloader);
}

/** Rebuild the options and apply them; returns the settings that need a restart. */
export function reloadServerConfig(server: Server): string[] {
  const custom = reloaders.get(server);
  let next: ServerOptions;
  if (custom !== undefined) next = custom();
  else {
    const file = server.options.configFile;
    if (!file) throw new Error("can only reload config when a file is provided using -c or --config");
    next = loadConfigFile(file);
    next.configFile = file;
    validateOptions(next);
  }
  return server.reload(next);
}
