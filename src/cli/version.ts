/**
 * The package version for `--version`, read from package.json at build time (the CLIs are bundled), so the
 * installed binary reports the version it was published as.
 *
 * @module
 */
import packageJson from '../../package.json' with { type: 'json' };

/** The `version` field of package.json. */
export const VERSION: string = packageJson.version;
