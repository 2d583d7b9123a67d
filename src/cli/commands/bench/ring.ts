import { ringFamily } from '../../../bench/ring.js';
import { benchVerb } from './common.js';

export const command = benchVerb('ring', 'the shared ring with a null disk, against a C reference', [ringFamily]);
