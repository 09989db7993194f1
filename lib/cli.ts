#!/usr/bin/env node
/**
 * hrseg command line. Each command lives in lib/cli/<name>.ts with its own help.
 * Exit codes: 0 done (and --help); 1 the work failed (the message names the HrsegError code);
 * 2 bad usage; 130 interrupted (Ctrl-C). Output files are written whole or not at all.
 */
import { HrsegError } from './errors.js';
import { UsageError, type Command } from './cli/args.js';
import { buildEnginesCommand } from './cli/build-engines.js';
import { convertCommand } from './cli/convert.js';
import { evalCommand } from './cli/eval.js';
import { exportTritonCommand } from './cli/export-triton.js';
import { infoCommand } from './cli/info.js';
import { segmentCommand } from './cli/segment.js';
import { serveCommand } from './cli/serve.js';

const COMMANDS: readonly Command[] = [segmentCommand, evalCommand, convertCommand, buildEnginesCommand, exportTritonCommand, serveCommand, infoCommand];

const USAGE = `usage: hrseg <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(15)}${c.summary}`).join('\n')}

'hrseg <command> --help' shows a command's options.
exit codes: 0 ok, 1 failed, 2 usage, 130 interrupted`;

const isHelp = (arg: string | undefined) => arg === '--help' || arg === '-h' || arg === 'help';

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  let command: Command | undefined;
  try {
    if (name === undefined || isHelp(name)) {
      // `hrseg help segment` is `hrseg segment --help`.
      const about = isHelp(name) ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
      console.log(about ? about.help : USAGE);
      return name === undefined ? 2 : 0;
    }
    command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command '${name}'`);
    if (rest.some((a) => a === '--help' || a === '-h')) {
      console.log(command.help);
      return 0;
    }
    await command.run(rest);
    return 0;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (error instanceof UsageError || code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      console.error(`hrseg: ${(error as Error).message}\n${command ? command.help : USAGE}`);
      return 2;
    }
    if (error instanceof HrsegError && error.code === 'ABORTED') {
      console.error('hrseg: interrupted');
      return 130;
    }
    if (error instanceof HrsegError) console.error(`hrseg: error [${error.code}]: ${error.message}`);
    else console.error(`hrseg: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
}

process.exitCode = await main();
