import { accessSync, constants, openSync, closeSync, statSync, writeSync } from 'node:fs';
import { fail } from '../store/errors.js';
import type { XsQuotas, XsStore } from '../store/index.js';
import { atoi } from './args.js';
import type { TraceLog } from './trace-log.js';

/** What one domain uses, as "quota <domid>" reports it. */
export interface DomainUsage {
  nodes: number;
  watches: number;
  transactions: number;
  outstanding: number;
  memory: number;
}

/** What XS_CONTROL reaches in the server around it. */
export interface ControlContext {
  readonly store: XsStore;
  /** The trace file, when the daemon has one (the CLI daemon always does, maybe closed). */
  readonly log: TraceLog | undefined;
  /** Append a line to the trace, if tracing. */
  trace(line: string): void;
  /** Usage of a domain C would know (dom0, introduced, or holding nodes); undefined otherwise. */
  domainUsage(domid: number): DomainUsage | undefined;
  /** A plain-text memory report (memreport). */
  memoryReport(): string;
}

type Command = (args: string[], ctx: ControlContext) => Buffer;

/**
 * XS_CONTROL (dom0 only): C xenstored 4.17's commands with its argument rules and replies.
 * live-update is answered as C answers outside a live-update session; starting one (-f with an
 * executable) is refused with a message, since this daemon cannot replace itself.
 */
export function controlCommand(args: string[], ctx: ControlContext): Buffer {
  const [cmd, ...rest] = args;
  const command = cmd === undefined ? undefined : COMMANDS.get(cmd);
  if (command === undefined) fail('EINVAL');
  return command(rest, ctx);
}

const OK = Buffer.from('OK\0', 'latin1');

function text(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}

const check: Command = (args) => {
  if (args.length !== 0) fail('EINVAL');
  return OK;
};

const log: Command = (args, ctx) => {
  if (args.length !== 1) fail('EINVAL');
  if (args[0] === 'on') ctx.log?.reopen();
  else if (args[0] === 'off') ctx.log?.close();
  else fail('EINVAL');
  return OK;
};

const logfile: Command = (args, ctx) => {
  if (args.length !== 1) fail('EINVAL');
  ctx.log?.setFile(args[0]!);
  return OK;
};

/** Appends the report to the given file, or to the trace file (EINVAL when neither opens, as C 4.17 answers). */
const memreport: Command = (args, ctx) => {
  if (args.length > 1) fail('EINVAL');
  const file = args[0] ?? ctx.log?.path;
  if (file === undefined || file === '') fail('EINVAL');
  let fd: number;
  try {
    fd = openSync(file, 'a', 0o600);
  } catch {
    fail('EINVAL');
  }
  try {
    writeSync(fd, ctx.memoryReport());
  } finally {
    closeSync(fd);
  }
  return OK;
};

const print: Command = (args, ctx) => {
  if (args.length !== 1) fail('EINVAL');
  ctx.trace(`control: ${args[0]}`);
  return OK;
};

/** The quotas "quota set" may change, in C's report order, with C's names and descriptions. */
const HARD_QUOTAS: [name: string, key: keyof XsQuotas, description: string][] = [
  ['nodes', 'nodesMax', 'Nodes per domain'],
  ['watches', 'watchesMax', 'Watches per domain'],
  ['transactions', 'transactionsMax', 'Transactions per domain'],
  ['outstanding', 'outstandingMax', 'Outstanding requests per domain'],
  ['transaction-nodes', 'transactionNodesMax', 'Max. number of accessed nodes per transaction'],
  ['memory', 'memoryBytesMax', 'Total Xenstore memory per domain (error level)'],
  ['node-size', 'nodeSizeBytesMax', 'Max. size of a node'],
  ['path-max', 'pathBytesMax', 'Max. length of a node path'],
  ['permissions', 'permsMax', 'Max. number of permissions per node'],
];
const SOFT_QUOTAS: typeof HARD_QUOTAS = [['memory', 'memoryBytesSoftMax', 'Total Xenstore memory per domain (warning level)']];

function settings(table: typeof HARD_QUOTAS, quotas: XsQuotas): string {
  let out = 'Quota settings:\n';
  for (const [name, key, description] of table) out += `${name.padEnd(17)}: ${String(quotas[key]).padStart(8)} ${description}\n`;
  return out;
}

/**
 * "quota set NAME VALUE": VALUE read as C 4.17 reads it, a base-10 strtol() (leading blanks and
 * a sign allowed, anything after the digits ignored), which must come to 1 .. INT_MAX ("0",
 * "x", "0x10" and "-3" are EINVAL; "1x" sets 1).
 */
function setQuota(table: typeof HARD_QUOTAS, quotas: XsQuotas, name: string, value: string): void {
  const entry = table.find(([n]) => n === name);
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(value);
  if (entry === undefined || m === null || m[1] === '-') fail('EINVAL');
  const n = Number(m[2]);
  if (n < 1 || n > 0x7fffffff) fail('EINVAL');
  quotas[entry[1]] = n;
}

const quota: Command = (args, ctx) => {
  const quotas = ctx.store.quotas;
  if (args.length === 0) return text(settings(HARD_QUOTAS, quotas));
  if (args[0] === 'set') {
    if (args.length !== 3) fail('EINVAL');
    setQuota(HARD_QUOTAS, quotas, args[1]!, args[2]!);
    return OK;
  }
  if (args.length !== 1) fail('EINVAL');
  // C reads the domain with atoi(): "quota x" means domain 0.
  const domid = atoi(args[0]!);
  const usage = domid < 0 ? undefined : ctx.domainUsage(domid);
  if (usage === undefined) fail('ENOENT');
  const rows: [string, number][] = [
    ['nodes', usage.nodes],
    ['watches', usage.watches],
    ['transactions', usage.transactions],
    ['outstanding', usage.outstanding],
    ['memory', usage.memory],
  ];
  return text(`Domain ${domid}:\n${rows.map(([name, n]) => `${name.padEnd(16)}: ${String(n).padStart(8)}\n`).join('')}`);
};

const quotaSoft: Command = (args, ctx) => {
  const quotas = ctx.store.quotas;
  if (args.length === 0) return text(settings(SOFT_QUOTAS, quotas));
  if (args.length === 3 && args[0] === 'set') {
    setQuota(SOFT_QUOTAS, quotas, args[1]!, args[2]!);
    return OK;
  }
  fail('EINVAL');
};

/**
 * do_control_lu(): -a, -c and -s behave as in C outside a session (there never is one here);
 * -f FILE checks the file as C does, then refuses, where C would begin a session.
 */
const liveUpdate: Command = (args) => {
  if (args.length < 1) fail('EINVAL');
  const [flag, ...more] = args as [string, ...string[]];
  switch (flag) {
    case '-a':
      if (more.length !== 0) fail('EINVAL');
      return text('No live-update session active.');
    case '-c':
      if (more.length !== 1) fail('EINVAL');
      return text('Not in live-update session.');
    case '-s':
      for (let i = 0; i < more.length; i++) {
        if (more[i] === '-F') continue;
        if (more[i] === '-t' && i < more.length - 1) {
          i++;
          continue;
        }
        fail('EINVAL');
      }
      return text('Not in live-update session.');
    case '-f':
      if (more.length !== 1) fail('EINVAL');
      return text(binaryCheck(more[0]!));
    default:
      fail('EINVAL');
  }
};

function binaryCheck(file: string): string {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return 'File not accessible.';
  }
  if ((mode & constants.S_IXUSR) === 0) return 'File not executable.';
  try {
    accessSync(file, constants.X_OK);
  } catch {
    return 'File not executable.';
  }
  return 'Live update is not supported by splitblk xenstored.';
}

/** C's help text, byte for byte. */
const HELP = [
  'check\t',
  'log\ton|off',
  'live-update\t[-c <cmdline>] [-F] [-t <timeout>] <file>\n    Default timeout is 60 seconds.',
  'logfile\t<file>',
  'memreport\t[<file>]',
  'print\t<string>',
  'quota\t[set <name> <val>|<domid>]',
  'quota-soft\t[set <name> <val>]',
  'help\t',
].map((line) => `${line}\n`).join('');

const help: Command = (args) => {
  if (args.length !== 0) fail('EINVAL');
  return text(HELP);
};

const COMMANDS = new Map<string, Command>([
  ['check', check],
  ['log', log],
  ['live-update', liveUpdate],
  ['logfile', logfile],
  ['memreport', memreport],
  ['print', print],
  ['quota', quota],
  ['quota-soft', quotaSoft],
  ['help', help],
]);
