import { FAMILIES } from '../../../bench/run.js';
import { benchVerb } from './common.js';

export const command = benchVerb('', 'run every benchmark (ring, data path, VHD) side by side with its reference', FAMILIES);
