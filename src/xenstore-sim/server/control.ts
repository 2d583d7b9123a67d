import { fail } from '../store/errors.js';
import type { XsStore } from '../store/index.js';

/**
 * XS_CONTROL (dom0 only): the subset of C xenstored's debug commands that makes sense here.
 * Live update, log files and memory reports belong to the C daemon's own machinery.
 */
export function controlCommand(args: string[], ctx: { store: XsStore; trace: ((line: string) => void) | undefined }): Buffer {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case 'check':
      return OK;
    case 'print':
      if (rest.length < 1) fail('EINVAL');
      ctx.trace?.(`control print: ${rest[0]}`);
      return OK;
    case 'log':
      return OK;
    case 'quota':
      return text(quotaReport(ctx.store));
    case 'help':
      return text(HELP);
    default:
      fail('EINVAL');
  }
}

const OK = Buffer.from('OK\0', 'latin1');

const HELP = 'check\t\nlog\ton|off\nprint\t<string>\nquota\t\nhelp\t\n';

function quotaReport(store: XsStore): string {
  const q = store.quotas;
  const rows: [string, number][] = [
    ['Nodes per domain', q.nodesMax],
    ['Entry size', q.nodeSizeBytesMax],
    ['Watches per domain', q.watchesMax],
    ['Transactions', q.transactionsMax],
    ['Permissions', q.permsMax],
    ['Path length', q.pathBytesMax],
  ];
  return rows.map(([name, value]) => `${name.padEnd(27)}: ${value}\n`).join('');
}

function text(s: string): Buffer {
  return Buffer.from(`${s}\0`, 'utf8');
}
