// CLI entry point (bin/corral.js imports this). Runs the command, then exits
// with its exit code: 0 ok, 1 for failures (one line on stderr, no stack
// trace for expected errors), 2 for usage errors; `task run` exits with the
// task's code. Set CORRAL_DEBUG=1 to see stack traces of unexpected errors.
import { CommanderError } from 'commander';
import { buildProgram } from './program.ts';
import { describeError, isExpected, CliError } from './common.ts';

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has already printed the message (or the help/version text).
      return e.exitCode === 0 ? 0 : 2;
    }
    const message = describeError(e);
    process.stderr.write(`error: ${message}\n`);
    if (!isExpected(e) || process.env.CORRAL_DEBUG) {
      if (process.env.CORRAL_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
      else if (!isExpected(e)) process.stderr.write('(unexpected error; set CORRAL_DEBUG=1 for a stack trace)\n');
    }
    return e instanceof CliError ? e.exitCode : 1;
  }
}

const code = await main(process.argv);
// Client keep-alive sockets and the like must not keep a finished command alive.
process.exit(code);
