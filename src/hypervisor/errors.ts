import { SplitblkError, type ErrorFields } from '../util/errors.js';
import { HypervisorError, type DomId } from './api.js';

/** Constructors of the hypervisor's operating errors (codes in api.ts: HypervisorError). */
export const grantError = (message: string, fields: ErrorFields & { domid: DomId; ref: number }): SplitblkError =>
  new SplitblkError(HypervisorError.Grant, message, fields);

export const evtchnError = (message: string, fields: ErrorFields & { domid: DomId; port: number }): SplitblkError =>
  new SplitblkError(HypervisorError.Evtchn, message, fields);

export const noDomainError = (domid: DomId, cause?: unknown): SplitblkError =>
  new SplitblkError(HypervisorError.NoDomain, `domain ${domid} does not exist`, { domid }, { cause });

export const exhaustedError = (message: string, fields: ErrorFields & { domid: DomId }): SplitblkError =>
  new SplitblkError(HypervisorError.Exhausted, message, fields);

/** Whether `error` is a Node system error with errno name `code` (ENOENT, EEXIST, ...). */
export const isErrno = (error: unknown, code: string): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
