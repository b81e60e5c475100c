/**
 * Where an experiment may write: run names are one safe path segment (runs/<name>/ can never leave runs/),
 * and --out folders must resolve inside the current directory (symbolic links included).
 */
import { existsSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { CliError } from '../report/cli.js';

const SAFE_NAME = /^[A-Za-z0-9][\w.-]{0,99}$/;

/**
 * Throw a usage error unless `name` is one path segment of letters, digits, '.', '_' and '-' that starts
 * with a letter or digit (so never '..', never hidden, never a path).
 *
 * @example
 * checkRunName('main', 'backbone-lm'); // 'backbone-lm'
 * checkRunName('main', '../../x');     // throws CliError
 */
export function checkRunName(prog: string, name: string, flag = '--name'): string {
  if (!SAFE_NAME.test(name)) {
    throw new CliError(
      `${prog}: ${flag} '${name}' must be one folder name: letters, digits, '.', '_' or '-', starting with a letter or digit, at most 100 characters`,
    );
  }
  return name;
}

/** True when `inner` is `outer` or lies below it. */
function within(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Resolve `dir` and throw a usage error unless it lies strictly inside the current directory, following
 * symbolic links of the part that already exists. Returns it relative to the current directory.
 *
 * @example
 * resolveInsideCwd('main', 'findings/backbone', '--out'); // 'findings/backbone'
 * resolveInsideCwd('main', '/tmp/x', '--out');            // throws CliError
 */
export function resolveInsideCwd(prog: string, dir: string, flag: string): string {
  const cwd = process.cwd();
  const abs = path.resolve(dir);
  let existing = abs;
  while (!existsSync(existing)) existing = path.dirname(existing);
  const real = path.join(realpathSync(existing), path.relative(existing, abs));
  if (abs === cwd || !within(cwd, abs) || !within(realpathSync(cwd), real)) {
    throw new CliError(`${prog}: ${flag} '${dir}' must be a folder inside the current directory (${cwd})`);
  }
  return path.relative(cwd, abs);
}
