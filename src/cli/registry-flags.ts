// Owns the registry flags every image command shares (credentials, transport, debug) and turns
// them into the library's registry options. Secrets never reach logs; a password on the command
// line is accepted with a warning, --password-stdin is the safe way.

import { Option, type Command } from 'commander';
import { createCredentialLookup, type Credential, type RepositoryOptions } from '../registry/index.js';
import { parsePlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import { log } from './io.js';

export interface RegistryFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
  plainHttp?: boolean;
  insecure?: boolean;
  debug?: boolean;
}

export function addRegistryFlags(cmd: Command): Command {
  return (
    cmd
      .option('-u, --username <name>', 'registry user name (default: docker config, credential helpers, auth.json)')
      .addOption(new Option('-p, --password <password>', 'registry password (prefer --password-stdin)').env('ZTOC_PASSWORD'))
      .option('--password-stdin', 'read the registry password or token from stdin')
      .option('--plain-http', 'use plain HTTP (default only for localhost, 127.0.0.1 and ::1)')
      .option('--insecure', 'use HTTPS without verifying the certificate')
      .option('--debug', 'print an HTTP trace to stderr (secrets redacted)')
      // Warn about a password typed on the command line, also when ZTOC_PASSWORD is set as well (the value
      // source says where the value came from; the environment variable alone is not a warning).
      .hook('preAction', (_self, action) => {
        if (action.getOptionValueSource('password') === 'cli') {
          log('ztoc: warning: a password on the command line can leak through shell history and process lists; use --password-stdin');
        }
      })
  );
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8').replace(/\r?\n$/, '');
}

export async function registryOptions(flags: RegistryFlags): Promise<RepositoryOptions> {
  let explicit: Credential | undefined;
  const password = flags.passwordStdin ? await readStdin() : flags.password;
  if (flags.username !== undefined || password !== undefined) {
    explicit = { ...(flags.username !== undefined ? { username: flags.username } : {}), ...(password !== undefined ? { password } : {}) };
  }
  const onDebug = flags.debug ? (line: string) => log(`debug: ${line}`) : undefined;
  return {
    credentials: createCredentialLookup({ ...(explicit ? { explicit } : {}), ...(onDebug ? { onDebug } : {}) }),
    ...(flags.plainHttp ? { plainHttp: true } : {}),
    ...(flags.insecure ? { insecure: true } : {}),
    ...(onDebug ? { onDebug } : {}),
  };
}

export function collectPlatform(value: string, previous: Platform[] | undefined): Platform[] {
  return [...(previous ?? []), parsePlatform(value)];
}
