/**
 * The two things the library asks of its host, in a form that works in Node and in a browser: environment
 * variables (TSGRAD_DEVICE, TSGRAD_QUIET, ...) and a place for one-line notices. A browser has no `process`,
 * so there every variable is unset and notices go to the console.
 * @example
 * if (environmentVariable('TSGRAD_QUIET') !== '1') notice('tsgrad: device webasm — default on CPU');
 */

interface NodeProcessLike {
  env?: Record<string, string | undefined>;
  versions?: { node?: string };
  stderr?: { write(text: string): unknown };
}

function hostProcess(): NodeProcessLike | undefined {
  return (globalThis as { process?: NodeProcessLike }).process;
}

/** The value of an environment variable, or undefined (always undefined in a browser). */
export function environmentVariable(name: string): string | undefined {
  return hostProcess()?.env?.[name];
}

/** True in Node (where optional native packages such as `webgpu` may be imported). */
export function isNode(): boolean {
  return typeof hostProcess()?.versions?.node === 'string';
}

/** Print one line for the user: stderr in Node, console.info in a browser. */
export function notice(line: string): void {
  const stderr = hostProcess()?.stderr;
  if (stderr) stderr.write(`${line}\n`);
  else console.info(line);
}
