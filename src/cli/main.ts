import { commands, type Group, type Loader } from './commands/index.js';
import { EXIT_FAILURE, EXIT_USAGE, UsageError, type CommandContext } from './command.js';
import { SplitblkError } from '../util/errors.js';
import { XsError } from '../xenstore-sim/client/api.js';

function isGroup(entry: Loader | Group): entry is Group {
  return typeof entry !== 'function';
}

async function help(ctx: CommandContext): Promise<number> {
  const lines = ['usage: splitblk <verb> [options]', '', 'verbs:'];
  for (const [name, entry] of Object.entries(commands)) {
    if (isGroup(entry)) {
      lines.push(`  ${name.padEnd(12)} ${entry.summary} (${Object.keys(entry.verbs).join(' | ')})`);
    } else {
      lines.push(`  ${name.padEnd(12)} ${(await entry()).summary}`);
    }
  }
  lines.push('', 'splitblk <verb> --help prints a verb\'s usage; docs/cli.md documents them all.');
  ctx.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** Resolve argv to a verb, run it, and turn errors into messages and exit codes. */
export async function main(argv: string[], ctx: CommandContext = defaultContext()): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') return help(ctx);
  const entry = commands[first];
  if (entry === undefined) {
    ctx.stderr.write(`splitblk: unknown verb '${first}' (try 'splitblk help')\n`);
    return EXIT_USAGE;
  }
  let loader: Loader;
  let args = rest;
  let name = first;
  if (isGroup(entry)) {
    const [sub, ...subRest] = rest;
    // A group with a default verb runs it when no sub-verb is given (`splitblk bench --quick`).
    const useDefault = entry.default !== undefined && (sub === undefined || sub.startsWith('-'));
    const subLoader = useDefault ? entry.default : sub === undefined ? undefined : entry.verbs[sub];
    if (subLoader === undefined) {
      const what = sub === undefined ? 'missing sub-verb' : `unknown sub-verb '${sub}'`;
      ctx.stderr.write(`splitblk ${first}: ${what}; one of: ${Object.keys(entry.verbs).join(', ')}\n`);
      return EXIT_USAGE;
    }
    loader = subLoader;
    args = useDefault ? rest : subRest;
    name = useDefault ? first : `${first} ${sub}`;
  } else {
    loader = entry;
  }
  const command = await loader();
  if (args.includes('--help') || args.includes('-h')) {
    ctx.stdout.write(command.usage.endsWith('\n') ? command.usage : command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(args, ctx);
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.stderr.write(`splitblk ${name}: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (isOperatingError(error)) {
      ctx.stderr.write(`splitblk ${name}: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  }
}

/**
 * Errors that are the world's fault, not a bug: ours (SplitblkError), a xenstore error reply
 * (XsError: ENOENT, EACCES, EEXIST ...) and Node's system errors (an errno `code` such as ENOENT).
 * They get one line and exit 1; anything else is a bug and keeps its stack.
 */
function isOperatingError(error: unknown): error is Error {
  if (error instanceof SplitblkError || error instanceof XsError) return true;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return error instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

function defaultContext(): CommandContext {
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    selfArgv: [process.execPath, new URL('../../../bin/splitblk.js', import.meta.url).pathname],
  };
}
