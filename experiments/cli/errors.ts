/**
 * How an experiment script ends when something goes wrong: a usage mistake prints one line and the --help
 * hint and exits 2; a runtime error (no GPU, no checkpoint, a full disk, a locked run) prints one line and
 * exits 1; a Ctrl-C that stopped the run exits 130. The stack trace is shown only with --verbose or DEBUG=1.
 */
import { CliError } from '../report/cli.js';

export { CliError };

/** The run was stopped by Ctrl-C after saving its checkpoint; the message says what was (not) written. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

/** The exit code and the text printed for an error that reached the top of a script. */
export function describeError(prog: string, e: unknown, verbose: boolean): { code: number; text: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const stack = verbose && err.stack ? `\n${err.stack}` : '';
  if (err instanceof CliError) {
    const hint = /--help/.test(err.message) ? '' : `; run ${prog} --help to list the options`;
    return { code: 2, text: `${err.message}${hint}${stack}` };
  }
  if (err instanceof InterruptedError) return { code: 130, text: `${prog}: ${err.message}${stack}` };
  return { code: 1, text: `${prog}: error: ${err.message}${stack}` };
}

let installed = false;

/**
 * Route every uncaught error of this process through `describeError` and exit with its code. Scripts call
 * this (via parseExperimentArgs) before anything else, so even a failing import-time await is covered.
 *
 * @example
 * handleErrors('tsx experiments/main.ts');
 * throw new CliError('main: option --steps must be at least 1, got -3'); // one line on stderr, exit 2
 */
export function handleErrors(prog: string): void {
  if (installed) return;
  installed = true;
  const debug = process.env.DEBUG ?? '';
  const verbose = process.argv.includes('--verbose') || (debug !== '' && !/^(0|false|no)$/i.test(debug));
  const onError = (e: unknown) => {
    const { code, text } = describeError(prog, e, verbose);
    process.stderr.write(`${text}\n`);
    process.exit(code);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
}
